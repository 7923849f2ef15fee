// `everruns bench --only compaction` (issue 18, context compaction): a long tool loop against a
// model with a small context window, through the real OpenAI SDK (chat completions) and this
// file's own model server on loopback (scripts import no test): what compaction costs and that a
// long run stays within its budget, and resume latency after kill -9 at the start and at the end.
//
// The model works through --compaction-turns turns (default 2,000), one echo call a turn with a
// ~500-character note (every tenth 12,000 characters: its result is sent as a stub), reads a
// stubbed result with read_result every tenth turn, then answers; a summary call gets a short
// summary. The server counts each request as its JSON body's characters / 4 and refuses one over
// the window (16,000 tokens) as a real model does; the agent's budget is 80 % of it.
//
// 1. One worker process runs the whole run: wall time, steps, compactions, per compaction the
//    summary call's tokens (input + output) and its step's time, the history's size (rows, MB),
//    the largest request next to the budget (none may be over it).
// 2. The same conversation again (it compacts at the same steps), its worker killed with kill -9
//    during the first compaction step and during the last one: from each kill to the redone
//    compaction's commit by a fresh worker process (resume latency at the start and at the end
//    of the run), and one compaction committed at each step, the run finished.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { createPool, type Pool } from "../../db/pool.ts";
import { benchCompactionSteps, type BenchCompactionStep } from "../../db/sql/benchCompactionSteps.ts";
import { threadHistory, threadHistorySinceSummary } from "../../db/sql/threadHistory.ts";
import { EGRESS_ALLOW_ENV } from "../../lib/egress/config.ts";
import type { Flags, FlagSpec } from "../harness/args.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { spawnWorkerProcess, stopAll, type WorkerProcess } from "../harness/processes.ts";
import { createAgent, insertRuns, waitForRuns } from "../harness/runs.ts";
import { until } from "../harness/wait.ts";

export const COMPACTION_FLAGS = {
  "compaction-turns": { type: "int", default: 2000, min: 50, max: 20_000 },
  "compaction-timeout-s": { type: "int", default: 900, min: 1, max: 86_400 },
} as const satisfies Record<string, FlagSpec>;

export const COMPACTION_USAGE = `  compaction  a --compaction-turns (2000) turn tool loop of an openai agent (the SDK, chat completions)
            against a model server on loopback with a 16,000-token window (budget 80 %): compactions,
            tokens and time per compaction, history size, the largest request; then the same run
            with kill -9 during its first and its last compaction: resume latency at the start and
            at the end, one compaction committed at each; gives up after --compaction-timeout-s`;

const WINDOW = 16_000;
const BUDGET = Math.floor(WINDOW * 0.8);
const BIG_NOTE_CHARS = 12_000;
const STUB_PREFIX = "[This tool result is";
const KEY = "everruns-bench-key";

export interface CompactionOptions {
  serverUrl: string;
  turns: number;
  timeoutMs: number;
  log: (line: string) => void;
}

export function compactionOptionsFromFlags(serverUrl: string, flags: Flags<typeof COMPACTION_FLAGS>, log: (line: string) => void): CompactionOptions {
  return { serverUrl, turns: flags["compaction-turns"], timeoutMs: flags["compaction-timeout-s"] * 1000, log };
}

interface ChatMessage {
  role: string;
  content?: string | null;
  tool_call_id?: string;
}

interface Reply {
  text: string;
  call?: { name: string; arguments: Record<string, unknown> };
}

/** The model server: one OpenAI chat-completions endpoint answering a scripted conversation. */
class ModelServer {
  /** every request's estimated tokens (JSON body characters / 4), in order */
  readonly requests: number[] = [];
  summaries = 0;
  turns = 0;
  refused = 0;
  url = "";
  private calls = 0;
  private readonly server = createServer((req, res) => void this.handle(req, res).catch(() => res.destroy()));

  private readonly lastTurn: number;

  constructor(lastTurn: number) {
    this.lastTurn = lastTurn;
  }

  async start(): Promise<this> {
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The model's next reply to `messages` (deterministic: the same conversation gives the same sizes). */
  private reply(messages: ChatMessage[]): Reply {
    if (String(messages[0]?.content ?? "").startsWith("You compact the working memory")) {
      this.summaries++;
      return { text: `Summary ${this.summaries}: echoed findings 1 to ${this.turns}; ${"kept facts ".repeat(60)}` };
    }
    const turn = ++this.turns;
    if (turn > this.lastTurn) return { text: "All findings recorded." };
    if (turn % 10 === 5) {
      const stub = [...messages].reverse().find((m) => m.role === "tool" && String(m.content).startsWith(STUB_PREFIX));
      if (stub?.tool_call_id)
        return { text: `Turn ${turn}: reading.`, call: { name: "read_result", arguments: { tool_call_id: stub.tool_call_id, offset: 500, limit: 1000 } } };
    }
    const note = turn % 10 === 0 ? `finding ${turn}: ${"z".repeat(BIG_NOTE_CHARS)}` : `finding ${turn}: ${"the quick brown fox ".repeat(25)}`;
    return { text: `Turn ${turn}.`, call: { name: "echo", arguments: { note } } };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const tokens = Math.ceil(text.length / 4);
    this.requests.push(tokens);
    if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "not found", type: "invalid_request_error" } }));
      return;
    }
    if (tokens > WINDOW) {
      this.refused++;
      const message = `This model's maximum context length is ${WINDOW} tokens. However, your messages resulted in ${tokens} tokens.`;
      res
        .writeHead(400, { "content-type": "application/json" })
        .end(JSON.stringify({ error: { message, type: "invalid_request_error", code: "context_length_exceeded" } }));
      return;
    }
    const body = JSON.parse(text) as { model: string; messages: ChatMessage[] };
    const reply = this.reply(body.messages);
    const id = `chatcmpl-${String(++this.calls).padStart(8, "0")}`;
    const frame = (choices: unknown[], usage: unknown = null) =>
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: 0, model: body.model, system_fingerprint: null, choices, usage })}\n\n`;
    const delta = (d: Record<string, unknown>, finish: string | null = null) => frame([{ index: 0, delta: d, logprobs: null, finish_reason: finish }]);
    const frames = [delta({ role: "assistant", content: "" }), delta({ content: reply.text })];
    if (reply.call) {
      const callId = `call_${String(this.calls).padStart(8, "0")}`;
      frames.push(
        delta({
          tool_calls: [{ index: 0, id: callId, type: "function", function: { name: reply.call.name, arguments: JSON.stringify(reply.call.arguments) } }],
        }),
      );
    }
    frames.push(delta({}, reply.call ? "tool_calls" : "stop"));
    const output = Math.ceil((reply.text.length + (reply.call ? JSON.stringify(reply.call.arguments).length : 0)) / 4);
    frames.push(frame([], { prompt_tokens: tokens, completion_tokens: output, total_tokens: tokens + output }), "data: [DONE]\n\n");
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.end(frames.join(""));
  }
}

function agentConfig(baseUrl: string, turns: number): Record<string, unknown> {
  return {
    provider: "openai",
    api: "chat_completions",
    model: "bench-small",
    base_url: baseUrl,
    system_prompt: "You record findings, one echo call each.",
    tools: ["echo"],
    max_steps: 3 * turns + 1000,
    model_info: { context_window: WINDOW },
    context: { tool_result_max_chars: 4000 },
  };
}

const workerEnv = (extra: Record<string, string> = {}) => ({ OPENAI_API_KEY: KEY, [EGRESS_ALLOW_ENV]: "127.0.0.1", ...extra });

async function committed(pool: Pool, runId: string, seq: number, timeoutMs: number): Promise<void> {
  await until(`step ${seq} committed`, async () => (await benchCompactionSteps(pool, runId, seq)).some((s) => s.seq === seq), timeoutMs, 20);
}

export interface CompactionBenchResult {
  turns: number;
  steps: number;
  compactions: number;
  wallSeconds: number;
  tokensPerCompaction: number;
  msPerCompaction: number;
  historyMb: number;
  largestRequest: number;
  historyFetchMs: number;
  resumeAtStartMs: number;
  resumeAtEndMs: number;
  problems: string[];
}

export async function runCompactionBench(opts: CompactionOptions): Promise<CompactionBenchResult> {
  const log = opts.log;
  log(
    `compaction: ${opts.turns} turns of an openai agent (SDK, chat completions), a ${WINDOW}-token window, budget ${BUDGET}; one worker process; then kill -9 at the first and the last compaction`,
  );
  return withScratchDatabase(opts.serverUrl, "everruns_bench_compaction", async (url) => {
    const pool = createPool(url, "everruns-bench", 2, { timeouts: { statementMs: 0 } });
    const workers: WorkerProcess[] = [];
    const problems: string[] = [];
    try {
      // 1. the whole run, one worker
      const first = await new ModelServer(opts.turns).start();
      let steps: BenchCompactionStep[];
      let wallSeconds: number;
      let historyFetchMs = NaN;
      let sinceSummaryFetchMs = NaN;
      try {
        const agent = await createAgent(pool, "compaction", agentConfig(first.url, opts.turns));
        const worker = await spawnWorkerProcess(url, 4, { env: workerEnv() });
        workers.push(worker);
        const t0 = performance.now();
        const [runId] = await insertRuns(pool, agent, 1, "Record the findings.");
        const counts = await waitForRuns(pool, [runId!], ["succeeded", "failed"], opts.timeoutMs, problems, "the long run");
        wallSeconds = (performance.now() - t0) / 1000;
        if (counts.succeeded !== 1) problems.push(`the long run did not succeed: ${JSON.stringify(counts)}`);
        steps = await benchCompactionSteps(pool, runId!);
        await stopAll([worker]);
        // what a fresh worker reads before its first LLM or compaction step of the run: the thread
        // from the latest summary on, next to the whole thread (what it read before 000031)
        const median = async (read: () => Promise<unknown>) => {
          const times: number[] = [];
          for (let i = 0; i < 3; i++) {
            const t = performance.now();
            await read();
            times.push(performance.now() - t);
          }
          return times.sort((a, b) => a - b)[1]!;
        };
        historyFetchMs = await median(() => threadHistory(pool, runId!));
        sinceSummaryFetchMs = await median(() => threadHistorySinceSummary(pool, runId!));
      } finally {
        await first.close();
      }
      const compactions = steps.filter((s) => s.kind === "compaction");
      const tokens = compactions.map((s) => (s.usage?.input_tokens ?? 0) + (s.usage?.output_tokens ?? 0));
      const largestRequest = Math.max(...first.requests);
      if (largestRequest > BUDGET) problems.push(`a request of ${largestRequest} tokens, over the budget of ${BUDGET}`);
      if (first.refused > 0) problems.push(`${first.refused} request(s) refused for the window`);
      if (compactions.length !== first.summaries) problems.push(`${compactions.length} compactions committed for ${first.summaries} summary calls`);
      const result: CompactionBenchResult = {
        turns: opts.turns,
        steps: steps.length,
        compactions: compactions.length,
        wallSeconds,
        tokensPerCompaction: tokens.reduce((a, b) => a + b, 0) / Math.max(1, tokens.length),
        msPerCompaction: compactions.reduce((a, s) => a + s.duration_ms, 0) / Math.max(1, compactions.length),
        historyMb: steps.reduce((a, s) => a + s.bytes, 0) / 1e6,
        largestRequest,
        historyFetchMs,
        resumeAtStartMs: NaN,
        resumeAtEndMs: NaN,
        problems,
      };
      log(
        `  ${result.turns} turns: ${result.steps} steps, ${result.compactions} compactions, ${result.wallSeconds.toFixed(1)} s; per compaction ${Math.round(result.tokensPerCompaction)} tokens ` +
          `(summary call input + output), ${result.msPerCompaction.toFixed(1)} ms; history ${result.historyMb.toFixed(2)} MB in ${result.steps} step rows; ` +
          `largest request ${result.largestRequest} tokens (budget ${BUDGET}); a fresh worker reads the thread since the latest summary in ${Math.round(sinceSummaryFetchMs)} ms (the whole thread: ${Math.round(historyFetchMs)} ms)`,
      );

      // 2. the same conversation, kill -9 during the first and the last compaction
      const points = [compactions[0]?.seq, compactions[compactions.length - 1]?.seq];
      if (points[0] === undefined || points[1] === undefined || points[0] === points[1]) {
        problems.push("fewer than two compactions: no kill -9 phase");
        return result;
      }
      const again = await new ModelServer(opts.turns).start();
      try {
        const agent = await createAgent(pool, "compaction-kill", agentConfig(again.url, opts.turns));
        const [runId] = await insertRuns(pool, agent, 1, "Record the findings.");
        const resume: number[] = [];
        let next = await spawnWorkerProcess(url, 4, { env: workerEnv({ EVERRUNS_CRASH_AT: `before_commit:${points[0]}` }) });
        workers.push(next);
        for (const [i, seq] of points.entries()) {
          const { signal } = await next.exited;
          if (signal !== "SIGKILL") problems.push(`the worker meant to crash at step ${seq} ended with ${signal ?? "an exit"}`);
          const killedAt = performance.now();
          const crashAt = points[i + 1];
          next = await spawnWorkerProcess(url, 4, { env: workerEnv(crashAt === undefined ? {} : { EVERRUNS_CRASH_AT: `before_commit:${crashAt}` }) });
          workers.push(next);
          await committed(pool, runId!, seq!, opts.timeoutMs);
          resume.push(performance.now() - killedAt);
        }
        const counts = await waitForRuns(pool, [runId!], ["succeeded", "failed"], opts.timeoutMs, problems, "the killed run");
        if (counts.succeeded !== 1) problems.push(`the killed run did not succeed: ${JSON.stringify(counts)}`);
        const killedSteps = await benchCompactionSteps(pool, runId!);
        const seqs = killedSteps.filter((s) => s.kind === "compaction").map((s) => s.seq);
        if (JSON.stringify(seqs) !== JSON.stringify(compactions.map((s) => s.seq))) problems.push("the killed run compacted at other steps than the first");
        for (const seq of points) {
          const step = killedSteps.find((s) => s.seq === seq);
          if (step?.kind !== "compaction" || step.attempt < 2)
            problems.push(`step ${seq}: ${step?.kind ?? "missing"}, attempt ${step?.attempt ?? "-"} (a redone compaction expected)`);
        }
        result.resumeAtStartMs = resume[0]!;
        result.resumeAtEndMs = resume[1]!;
        log(
          `  kill -9 during compaction step ${points[0]} (the first) → committed by a fresh worker ${Math.round(result.resumeAtStartMs)} ms after; ` +
            `during step ${points[1]} (the last, ${opts.turns} turns in) → ${Math.round(result.resumeAtEndMs)} ms; one compaction committed at each`,
        );
      } finally {
        await again.close();
      }
      for (const p of problems) log(`  PROBLEM: ${p}`);
      return result;
    } finally {
      await stopAll(workers.filter((w) => w.alive()));
      await pool.end();
    }
  });
}
