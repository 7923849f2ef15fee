// `everruns bench --only mcp` (issue 17, MCP client tools): what calling a tool of an MCP server
// costs next to a built-in tool, and what the tool-list cache (000027, tool_list_ttl_s) saves.
// One in-process worker of --concurrency slots on a scratch database and an MCP server in this
// process on loopback (the SDK's McpServer over Streamable HTTP with sessions, as most servers
// are); the egress guard is told to allow 127.0.0.1 for the part's duration.
//
// 1. Per-call overhead: --mcp-runs runs (inserted at once) of one agent whose scripted model
//    makes --mcp-calls tool calls a run, one a turn (so each is its own tool step), alternating
//    the built-in `echo` and the server's `echo` (`fx__echo`), same arguments. The baseline is the
//    built-in's tool steps of the same runs: tool step begin → commit p50/p99 of each kind, the
//    difference and the ratio MCP ÷ built-in, and the whole run (first step's begin → last
//    step's commit) divided by its tool calls. A warm-up run of the agent goes first (the server's
//    session, the cached list, the plans), outside the figures.
// 2. Tool-list caching: --mcp-list-runs runs of an agent with tool_list_ttl_s 300 and as many of
//    one with tool_list_ttl_s 0, a one-turn script and no tool call (its first step's cost beyond
//    the model is the tool list), alternating, one at a time (each run's first step measured
//    alone): the first step's begin → commit p50/p99 with the cache and without, the ratio, the
//    listings each side made (everruns.mcp_tool_lists rows: 1 next to --mcp-list-runs) and the
//    server's tools/list requests.
//
// Invariants, checked and printed (the times are only compared, never gated): every run
// succeeded; every tool step committed without an error result; every MCP call recorded as
// dispatched exactly once (everruns.tool_dispatches: one row per call, dispatches = 1) and none
// for the built-in; the server saw each call's idempotency key (`<run id>:<tool call id>`) exactly
// once and no other; the cached side listed once, the other once a run, each listing one
// tools/list request, and every run pinned a list.
//
// The server is this file's own (not worker/test/fixtures/mcp-test-server.ts: scripts import no
// test): one tool, one page of tools/list, and it counts the JSON-RPC methods it receives.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";
import { createPool, type Pool } from "../../db/pool.ts";
import { benchMcpDispatches } from "../../db/sql/benchMcpDispatches.ts";
import { benchMcpListings, type BenchListings } from "../../db/sql/benchMcpListings.ts";
import { benchMcpRunSpans } from "../../db/sql/benchMcpRunSpans.ts";
import { benchMcpToolSteps } from "../../db/sql/benchMcpToolSteps.ts";
import { runStatusCounts } from "../../db/sql/runStatusCounts.ts";
import { seedRuns } from "../../db/sql/seedRuns.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { EGRESS_ALLOW_ENV } from "../../lib/egress/config.ts";
import type { Flags, FlagSpec } from "../harness/args.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { countIn, createAgent, FINISHED, RunUpdates, waitForRuns } from "../harness/runs.ts";
import { percentile } from "../harness/stats.ts";
import { until } from "../harness/wait.ts";

export const MCP_FLAGS = {
  "mcp-runs": { type: "int", default: 20, min: 1, max: 10_000 },
  // a script has at most 1000 turns (MAX_SCRIPT_TURNS): the calls and the final answer
  "mcp-calls": { type: "int", default: 20, min: 2, max: 998 },
  "mcp-list-runs": { type: "int", default: 50, min: 1, max: 10_000 },
  "mcp-timeout-s": { type: "int", default: 600, min: 1, max: 86_400 },
} as const satisfies Record<string, FlagSpec>;

export const MCP_USAGE = `  mcp       MCP server tools (issue 17), an MCP server in this process on loopback, one in-process worker
            of --concurrency slots. Per-call overhead: --mcp-runs (20) runs at once of an agent whose
            script makes --mcp-calls (20) tool calls, one a turn, alternating the built-in echo and the
            server's (fx__echo): tool step p50/p99 of each, MCP − built-in, MCP ÷ built-in, and the whole
            run per tool call. Tool-list caching: --mcp-list-runs (50) one-turn runs of an agent with
            tool_list_ttl_s 300 and as many with 0, one at a time: first step p50/p99 with and without
            the cache, the ratio, listings (mcp_tool_lists rows) and the server's tools/list requests.
            Checked: every run succeeded, every MCP call dispatched once (tool_dispatches) and its
            idempotency key seen once by the server, 1 listing with the cache and one a run without.
            Gives up after --mcp-timeout-s (600) a phase and reports what it reached.`;

export interface McpBenchOptions {
  serverUrl: string;
  /** runs of the per-call agent (R) */
  runs: number;
  /** tool calls a run of it makes (T), half built-in echo, half fx__echo */
  calls: number;
  /** runs of each tool-list agent (K) */
  listRuns: number;
  /** slots of the in-process worker (--concurrency, as the other benches) */
  concurrency: number;
  timeoutMs: number;
  log: (line: string) => void;
}

/** McpBenchOptions from the parsed MCP_FLAGS (and --concurrency). */
export function mcpOptionsFromFlags(serverUrl: string, flags: Flags<typeof MCP_FLAGS> & { concurrency: number }, log: (line: string) => void): McpBenchOptions {
  return {
    serverUrl,
    runs: flags["mcp-runs"],
    calls: flags["mcp-calls"],
    listRuns: flags["mcp-list-runs"],
    concurrency: flags.concurrency,
    timeoutMs: flags["mcp-timeout-s"] * 1000,
    log,
  };
}

/** Durations, ms. */
export interface Spread {
  p50: number;
  p99: number;
  max: number;
  n: number;
}

export interface PerCallFigures {
  runs: number;
  callsPerRun: number;
  succeeded: number;
  /** tool step begin → commit of the built-in echo and of fx__echo */
  builtin: Spread;
  mcp: Spread;
  /** MCP − built-in, ms, at p50 and p99 */
  diffP50: number;
  diffP99: number;
  /** MCP ÷ built-in at p50 and p99 */
  ratioP50: number;
  ratioP99: number;
  /** per run: its first step's begin → its last step's commit, divided by its tool calls */
  runPerCall: Spread;
  /** MCP tool steps committed, everruns.tool_dispatches rows of the runs, rows with dispatches = 1 */
  mcpCalls: number;
  dispatchRows: number;
  dispatchedOnce: number;
  /** idempotency keys of these runs the server saw, and those seen exactly once */
  serverKeys: number;
  keysSeenOnce: number;
  /** listings of the agent (the warm-up's included) */
  listings: number;
}

export interface CachingFigures {
  /** runs of each side */
  runs: number;
  succeeded: number;
  /** first step begin → commit, with tool_list_ttl_s 300 and with 0 */
  cached: Spread;
  uncached: Spread;
  /** without ÷ with the cache at p50 and p99 */
  ratioP50: number;
  ratioP99: number;
  /** everruns.mcp_tool_lists rows of each side's agent */
  cachedListings: number;
  uncachedListings: number;
  /** tools/list requests the server received during each side's runs */
  cachedListRequests: number;
  uncachedListRequests: number;
}

export interface McpBenchResult {
  perCall: PerCallFigures;
  caching: CachingFigures;
  /** initialize requests the server received in all (the worker's sessions: it pools them) */
  serverInitializes: number;
  /** every invariant that did not hold, said in a sentence; empty: all held */
  problems: string[];
  /** wall time of the whole part, s */
  wallSeconds: number;
}

const SERVER = "fx";
const MCP_ECHO = `${SERVER}__echo`;
const IDEMPOTENCY_KEY = "io.everruns/idempotency-key";
const ARGUMENTS = { text: "bench" };

const fmt = (n: number | null | undefined, digits = 0) => (n === null || n === undefined || !Number.isFinite(n) ? "n/a" : n.toFixed(digits));
const spread = (values: number[]): Spread => ({
  p50: percentile(values, 50),
  p99: percentile(values, 99),
  max: values.length ? Math.max(...values) : NaN,
  n: values.length,
});
const ms = (s: Spread, digits = 1) => `p50 ${fmt(s.p50, digits)} ms, p99 ${fmt(s.p99, digits)} ms (n=${s.n})`;

// --- the MCP server ----------------------------------------------------------------------------

interface BenchMcpServer {
  url: string;
  /** JSON-RPC requests and notifications received, by method */
  methods: Map<string, number>;
  /** tools/call idempotency keys received, with how many times each */
  keys: Map<string, number>;
  /** tools/call requests without an idempotency key */
  unkeyed: number;
  close(): Promise<void>;
}

/**
 * An MCP server on 127.0.0.1 with one tool, `echo {text}` (readOnlyHint): Streamable HTTP with a
 * session per initialize (an unknown session is a 404). It counts every JSON-RPC method it is
 * sent and every call's idempotency key. The SDK is imported here, not when the bench loads.
 */
async function startBenchMcpServer(): Promise<BenchMcpServer> {
  const { McpServer: Server } = await import("@modelcontextprotocol/sdk/server/mcp.js");
  const { StreamableHTTPServerTransport: Transport } = await import("@modelcontextprotocol/sdk/server/streamableHttp.js");
  const state = { methods: new Map<string, number>(), keys: new Map<string, number>(), unkeyed: 0 };
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const servers = new Set<McpServer>();

  const makeServer = (): McpServer => {
    const server = new Server({ name: "everruns-bench-mcp", version: "1.0.0" }, { capabilities: { tools: {} } });
    server.registerTool("echo", { description: "Echoes its text.", inputSchema: { text: z.string() }, annotations: { readOnlyHint: true } }, (args, extra) => {
      const key = extra._meta?.[IDEMPOTENCY_KEY];
      if (typeof key === "string") state.keys.set(key, (state.keys.get(key) ?? 0) + 1);
      else state.unkeyed++;
      return { content: [{ type: "text", text: args.text }] };
    });
    servers.add(server);
    server.server.onclose = () => servers.delete(server);
    return server;
  };

  const reply = (res: ServerResponse, status: number, code: number, message: string) =>
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: unknown;
    if (req.method === "POST") {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        reply(res, 400, -32700, "the body is not JSON");
        return;
      }
      for (const message of Array.isArray(body) ? body : [body]) {
        const method = (message as { method?: unknown } | null)?.method;
        if (typeof method === "string") state.methods.set(method, (state.methods.get(method) ?? 0) + 1);
      }
    }
    const sessionId = req.headers["mcp-session-id"];
    if (typeof sessionId === "string") {
      const transport = sessions.get(sessionId);
      if (!transport) reply(res, 404, -32001, "Session not found");
      else await transport.handleRequest(req, res, body);
      return;
    }
    if (req.method !== "POST") {
      reply(res, 400, -32000, "no session");
      return;
    }
    const server = makeServer();
    const transport: StreamableHTTPServerTransport = new Transport({
      sessionIdGenerator: randomUUID,
      onsessioninitialized: (id) => void sessions.set(id, transport),
      onsessionclosed: (id) => void sessions.delete(id),
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  }

  const http = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(error));
    });
  });
  http.listen(0, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    http.once("listening", resolve);
    http.once("error", reject);
  });
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    methods: state.methods,
    keys: state.keys,
    get unkeyed() {
      return state.unkeyed;
    },
    async close() {
      for (const transport of sessions.values()) await transport.close().catch(() => undefined);
      for (const server of servers) await server.close().catch(() => undefined);
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

// --- the phases --------------------------------------------------------------------------------

const mcpSpec = (url: string, ttl: number) => ({ type: "mcp", name: SERVER, url, tool_list_ttl_s: ttl });

/** Call k of a run (0-based): the built-in echo at even k, the server's at odd k. */
const toolOf = (k: number) => (k % 2 === 0 ? "echo" : MCP_ECHO);

/** Figure 1: the per-call agent's runs; appends the problems it finds. */
async function perCallPhase(opts: McpBenchOptions, pool: Pool, server: BenchMcpServer, problems: string[]): Promise<PerCallFigures> {
  const T = opts.calls;
  const agentId = await createAgent(pool, "bench-mcp-calls", {
    provider: "scripted",
    max_steps: 2 * T + 10,
    tools: ["echo", mcpSpec(server.url, 300)],
    script: [...Array.from({ length: T }, (_, k) => ({ text: "", tool_calls: [{ name: toolOf(k), arguments: ARGUMENTS }] })), { text: "done" }],
  });
  // warm-up: the server's session, the agent's cached list, the statements' plans
  const warm = await seedRuns(pool, agentId, 1, "warm-up");
  await waitForRuns(pool, warm, FINISHED, opts.timeoutMs, problems, "the per-call warm-up run");

  const ids = await seedRuns(pool, agentId, opts.runs, "call");
  const counts = await waitForRuns(pool, ids, FINISHED, opts.timeoutMs, problems, "the per-call runs");
  const spans = await benchMcpRunSpans(pool, ids);
  const steps = await benchMcpToolSteps(pool, ids);
  const dispatches = await benchMcpDispatches(pool, ids);
  const listings = await benchMcpListings(pool, agentId, [...warm, ...ids]);

  const succeeded = counts.succeeded ?? 0;
  if (succeeded !== ids.length) problems.push(`${succeeded} of the ${ids.length} per-call runs succeeded (${JSON.stringify(counts)})`);
  const builtinSteps = steps.filter((s) => s.name === "echo");
  const mcpSteps = steps.filter((s) => s.name === MCP_ECHO);
  const expectMcp = ids.length * Math.floor(T / 2);
  const expectBuiltin = ids.length * Math.ceil(T / 2);
  if (builtinSteps.length !== expectBuiltin || mcpSteps.length !== expectMcp || steps.length !== expectBuiltin + expectMcp) {
    problems.push(
      `the per-call runs committed ${builtinSteps.length} echo and ${mcpSteps.length} ${MCP_ECHO} tool steps ` +
        `(${steps.length} in all), expected ${expectBuiltin} and ${expectMcp}`,
    );
  }
  const bad = steps.filter((s) => s.status !== "succeeded" || s.is_error !== false);
  if (bad.length > 0) problems.push(`${bad.length} tool steps failed or answered an error, first: ${bad[0]!.name} of run ${bad[0]!.run_id} #${bad[0]!.seq}`);

  // each MCP call dispatched exactly once, and nothing else recorded
  const dispatchOf = new Map(dispatches.map((d) => [`${d.run_id}:${d.tool_call_id}`, d]));
  const callKeys = mcpSteps.map((s) => `${s.run_id}:${s.tool_call_id}`);
  const undispatched = callKeys.filter((k) => !dispatchOf.has(k)).length;
  const dispatchedOnce = dispatches.filter((d) => d.dispatches === 1).length;
  if (undispatched > 0) problems.push(`${undispatched} of ${callKeys.length} MCP calls have no tool_dispatches row`);
  if (dispatches.length !== callKeys.length) problems.push(`${dispatches.length} tool_dispatches rows for ${callKeys.length} MCP calls (one a call expected)`);
  if (dispatchedOnce !== dispatches.length) problems.push(`${dispatches.length - dispatchedOnce} MCP calls were dispatched more than once`);
  const strays = dispatches.filter((d) => d.tool_name !== MCP_ECHO);
  if (strays.length > 0) problems.push(`${strays.length} tool_dispatches rows name ${strays[0]!.tool_name}, not ${MCP_ECHO}`);

  // the server saw each call's key once, and no key of these runs it should not have
  const runSet = new Set(ids);
  const seen = [...server.keys].filter(([key]) => runSet.has(key.slice(0, key.indexOf(":"))));
  const keysSeenOnce = callKeys.filter((k) => server.keys.get(k) === 1).length;
  if (keysSeenOnce !== callKeys.length) problems.push(`the server saw ${keysSeenOnce} of the ${callKeys.length} calls' idempotency keys exactly once`);
  if (seen.length !== callKeys.length) problems.push(`the server saw ${seen.length} idempotency keys of the per-call runs, for ${callKeys.length} calls`);
  if (server.unkeyed > 0) problems.push(`the server received ${server.unkeyed} tool calls without an idempotency key`);

  const builtin = spread(builtinSteps.map((s) => s.duration_ms));
  const mcp = spread(mcpSteps.map((s) => s.duration_ms));
  return {
    runs: ids.length,
    callsPerRun: T,
    succeeded,
    builtin,
    mcp,
    diffP50: mcp.p50 - builtin.p50,
    diffP99: mcp.p99 - builtin.p99,
    ratioP50: mcp.p50 / builtin.p50,
    ratioP99: mcp.p99 / builtin.p99,
    runPerCall: spread(spans.filter((s) => s.span_ms !== null).map((s) => s.span_ms! / T)),
    mcpCalls: callKeys.length,
    dispatchRows: dispatches.length,
    dispatchedOnce,
    serverKeys: seen.length,
    keysSeenOnce,
    listings: listings.lists,
  };
}

/** Figure 2: one-turn runs with and without the cached tool list, alternating, one at a time. */
async function cachingPhase(opts: McpBenchOptions, url: string, pool: Pool, server: BenchMcpServer, problems: string[]): Promise<CachingFigures> {
  const K = opts.listRuns;
  const config = (ttl: number) => ({ provider: "scripted", tools: [mcpSpec(server.url, ttl)], script: [{ text: "hi" }] });
  const sides = [
    { label: "cached", agentId: await createAgent(pool, "bench-mcp-cached", config(300)), ids: [] as string[], listRequests: 0 },
    { label: "uncached", agentId: await createAgent(pool, "bench-mcp-uncached", config(0)), ids: [] as string[], listRequests: 0 },
  ];
  const lists = () => server.methods.get("tools/list") ?? 0;
  const updates = await RunUpdates.listen(url);
  const deadline = performance.now() + opts.timeoutMs;
  let timedOut = false;
  try {
    for (let i = 0; i < K && !timedOut; i++) {
      for (const side of sides) {
        const before = lists();
        const [id] = await seedRuns(pool, side.agentId, 1, `list ${i + 1}`);
        side.ids.push(id!);
        try {
          await until(
            `run ${id} of the ${side.label} agent`,
            async () => countIn(await runStatusCounts(pool, [id!]), FINISHED) === 1,
            Math.max(0, deadline - performance.now()),
            () => updates.next(50),
          );
        } catch {
          problems.push(`the tool-list runs did not finish within ${opts.timeoutMs / 1000} s: ${i} of ${K} rounds done`);
          timedOut = true;
          break;
        }
        side.listRequests += lists() - before;
      }
    }
  } finally {
    await updates.close();
  }

  const figures = [] as Array<{ spread: Spread; listings: BenchListings; succeeded: number }>;
  for (const side of sides) {
    const spans = await benchMcpRunSpans(pool, side.ids);
    const listings = await benchMcpListings(pool, side.agentId, side.ids);
    const succeeded = spans.filter((s) => s.status === "succeeded").length;
    if (succeeded !== K) problems.push(`${succeeded} of the ${side.label} agent's ${K} runs succeeded`);
    if (listings.failed > 0) problems.push(`the ${side.label} agent's server failed to list ${listings.failed} times`);
    if (listings.pinned_runs !== side.ids.length)
      problems.push(`${listings.pinned_runs} of the ${side.label} agent's ${side.ids.length} runs pinned a tool list`);
    if (listings.lists !== side.listRequests) {
      problems.push(`the ${side.label} agent made ${listings.lists} listings but the server received ${side.listRequests} tools/list requests`);
    }
    figures.push({ spread: spread(spans.filter((s) => s.first_ms !== null).map((s) => s.first_ms!)), listings, succeeded });
  }
  const [cached, uncached] = figures as [(typeof figures)[0], (typeof figures)[0]];
  if (cached.listings.lists !== 1)
    problems.push(`the agent with tool_list_ttl_s 300 listed its server ${cached.listings.lists} times in ${K} runs, expected once`);
  if (uncached.listings.lists !== sides[1]!.ids.length) {
    problems.push(`the agent with tool_list_ttl_s 0 listed its server ${uncached.listings.lists} times in ${sides[1]!.ids.length} runs, expected once a run`);
  }
  return {
    runs: K,
    succeeded: cached.succeeded + uncached.succeeded,
    cached: cached.spread,
    uncached: uncached.spread,
    ratioP50: uncached.spread.p50 / cached.spread.p50,
    ratioP99: uncached.spread.p99 / cached.spread.p99,
    cachedListings: cached.listings.lists,
    uncachedListings: uncached.listings.lists,
    cachedListRequests: sides[0]!.listRequests,
    uncachedListRequests: sides[1]!.listRequests,
  };
}

// --- all of it ---------------------------------------------------------------------------------

/** The mcp part on a fresh database of opts.serverUrl: prints its figures and invariants, returns them. */
export async function runMcpBench(opts: McpBenchOptions): Promise<McpBenchResult> {
  const wall0 = performance.now();
  opts.log(
    `mcp: an MCP server in this process on loopback (Streamable HTTP, sessions), one in-process worker × ${opts.concurrency} slots; ` +
      `${opts.runs} runs × ${opts.calls} tool calls (echo and ${MCP_ECHO} alternating, one a turn), then ${opts.listRuns} one-turn runs ` +
      `with tool_list_ttl_s 300 and ${opts.listRuns} with 0, alternating, one at a time`,
  );
  const server = await startBenchMcpServer();
  // the server is on loopback, which the egress guard refuses unless the operator lists it
  const previousAllow = process.env[EGRESS_ALLOW_ENV];
  process.env[EGRESS_ALLOW_ENV] = previousAllow?.trim() ? `${previousAllow},127.0.0.1` : "127.0.0.1";
  try {
    return await withScratchDatabase(opts.serverUrl, "everruns_bench_mcp", async (url) => {
      const pool = createPool(url, "everruns-bench", 2, { timeouts: { statementMs: 0 } });
      const { startWorker } = await import("../../worker/main.ts");
      const worker = await startWorker({
        databaseUrl: url,
        concurrency: opts.concurrency,
        shutdownTimeoutMs: 5000,
        scheduler: false,
        log: consoleLogger("[mcp bench worker]", "warn"),
      });
      try {
        const problems: string[] = [];
        const perCall = await perCallPhase(opts, pool, server, problems);
        const caching = await cachingPhase(opts, url, pool, server, problems);
        const serverInitializes = server.methods.get("initialize") ?? 0;
        const result: McpBenchResult = { perCall, caching, serverInitializes, problems, wallSeconds: (performance.now() - wall0) / 1000 };
        printResult(opts, result);
        return result;
      } finally {
        await worker.stop();
        await pool.end();
      }
    });
  } finally {
    if (previousAllow === undefined) delete process.env[EGRESS_ALLOW_ENV];
    else process.env[EGRESS_ALLOW_ENV] = previousAllow;
    await server.close();
  }
}

function printResult(opts: McpBenchOptions, r: McpBenchResult): void {
  const { perCall: p, caching: c } = r;
  const log = opts.log;
  const signed = (n: number) => `${n >= 0 ? "+" : ""}${fmt(n, 1)}`;
  log(`  per-call: ${p.succeeded} of ${p.runs} runs succeeded, ${p.callsPerRun} tool calls each (one a turn, its own tool step)`);
  log(`  tool step, built-in echo: ${ms(p.builtin)}; MCP ${MCP_ECHO}: ${ms(p.mcp)}`);
  log(
    `  MCP − built-in: ${signed(p.diffP50)} ms at p50, ${signed(p.diffP99)} ms at p99; MCP ÷ built-in: ${fmt(p.ratioP50, 2)}× at p50, ${fmt(p.ratioP99, 2)}× at p99`,
  );
  log(`  whole run (first step's begin → last step's commit) per tool call: ${ms(p.runPerCall)}`);
  log(
    `  dispatches: ${p.mcpCalls} MCP calls, ${p.dispatchRows} tool_dispatches rows, ${p.dispatchedOnce} dispatched exactly once; ` +
      `the server saw ${p.serverKeys} idempotency keys, ${p.keysSeenOnce} of the calls' exactly once; ${p.listings} listing(s) of the agent`,
  );
  log(
    `  tool-list caching: ${c.succeeded} of ${2 * c.runs} one-turn runs succeeded; first step with the cache (ttl 300 s) ${ms(c.cached)}; ` +
      `without (ttl 0) ${ms(c.uncached)}; without ÷ with ${fmt(c.ratioP50, 2)}× at p50, ${fmt(c.ratioP99, 2)}× at p99`,
  );
  log(
    `  listings: with the cache ${c.cachedListings} (mcp_tool_lists rows), ${c.cachedListRequests} tools/list requests; ` +
      `without ${c.uncachedListings}, ${c.uncachedListRequests} requests; the server was initialized ${r.serverInitializes} time(s) in all (sessions pooled)`,
  );
  log(
    r.problems.length === 0
      ? `  invariants: all hold (${fmt(r.wallSeconds, 1)} s wall)`
      : `  invariants: ${r.problems.length} FAILED: ${r.problems.join("; ")}`,
  );
}
