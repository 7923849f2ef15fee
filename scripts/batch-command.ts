// `everruns batch`: batches through the API with an API key, like `everruns run` (issue 15). `run`
// streams an items file (or stdin) to POST /api/batches as it reads it — never whole in memory —
// turning the convenience lines {"custom_id", "prompt"} into run inputs on the way; `follow` shows
// the batch's progress from its SSE stream until it ends; `results` copies the finished items'
// NDJSON to stdout, resuming after the last cursor when the connection drops.
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { pipeline, Transform } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { parseArgs } from "node:util";
import { z } from "zod";
import { sseMessages } from "../client/index.ts";
import { ConfigError, EverrunsError, NotFoundError } from "../db/errors.ts";
import type { Env } from "../db/env.ts";
import { MAX_RUN_PRIORITY, MIN_RUN_PRIORITY } from "../db/schemas.ts";
import { backoffMs, type BackoffPolicy } from "../lib/backoff.ts";
import { sleep } from "../lib/sleep.ts";
import { ApiRefusedError, streamRequest, type ApiClient } from "./cli/api.ts";
import { EXIT } from "./cli/errors.ts";
import { apiSubcommand, choiceFlag, decimalFlag, parseAnswer, textFlag, uuidArg, wholeFlag } from "./cli/flags.ts";
import { printJson, printRows } from "./cli/output.ts";

/** How `batch run --follow` and `batch follow` end: the batch's final status. */
export const BATCH_EXIT = {
  succeeded: EXIT.ok,
  /** the batch failed (stop_after, its deadline) — or the command itself failed, as for any command */
  failed: EXIT.error,
  cancelled: EXIT.cancelled,
  /** every item ran, some failed */
  completed_with_errors: 5,
} as const;

export const BATCH_USAGE = `Usage:
  everruns batch run <agent> <items.jsonl|-> [--parallel N] [--priority N] [--name S]
                 [--on-item-error continue|stop_after] [--stop-after-failures N] [--stop-after-ratio R]
                 [--deadline ISO] [--no-start] [-f|--follow] [--json]
                 create a batch of the agent (id or name) from a JSONL file (- : stdin), streamed as it
                 is read, and start it (--no-start: later, with everruns batch start <id>). Prints
                 the batch's id on stdout. One item per line:
                   {"custom_id": "doc-1", "input": {"messages": [{"role": "user", "content": "…"}]}}
                 or, for short: {"custom_id": "doc-1", "prompt": "…"} (custom_id defaults to the line's
                 item number). A bad line creates nothing: each prints as "line N: what is wrong".
                 --parallel (1-10000, default 10): items run at once. --priority (-1000..1000): the
                 items' runs' priority. --on-item-error stop_after with --stop-after-failures N and/or
                 --stop-after-ratio R (0-1]: the batch fails once that many items failed.
                 --deadline: when the batch fails with its unfinished items cancelled.
  everruns batch follow <id>      the progress until the batch ends: on a terminal one line redrawn
                 (a bar, done/total, failed, items/min, ETA, cost), otherwise a line every few seconds
                 and at each change of status. Ctrl-C stops following; the batch goes on.
  everruns batch status <id> [--json]        its status, counts by status, throughput, ETA, cost
  everruns batch list [--status S] [--json]  the workspace's batches, newest first
  everruns batch start|pause|resume|cancel <id>
                 start a batch created with --no-start; pause releases no new items (running ones
                 finish); cancel cancels its running items too
  everruns batch retry <id> [--custom-id ID ...] [--include-cancelled]
                 run its failed items again (only these custom ids; --include-cancelled: cancelled too)
  everruns batch parallel <id> <n>           change how many items run at once
  everruns batch results <id> [-f|--follow] [--after CURSOR]
                 the finished items as JSON lines on stdout, in the order they finished:
                 {custom_id, status, output, error, usage, run_id, attempts, finished_at, cursor};
                 --after: only those after that line's cursor; --follow: also those finishing
                 until the batch ends (everruns batch results <id> --follow > out.jsonl). Of an
                 ended batch: all of them; of a running one without --follow: those so far.

Exit codes of run --follow and follow: 0 the batch succeeded, 1 it failed (or an error, explained on
one line), 4 it was cancelled, 5 it completed with errors (some items failed); 2 usage.
Goes through the API with EVERRUNS_API_KEY, else the key everruns start keeps in .everruns/admin-key.`;

const STATUSES = ["queued", "running", "paused", "succeeded", "completed_with_errors", "failed", "cancelled"] as const;
const ENDED = new Set<string>(["succeeded", "completed_with_errors", "failed", "cancelled"]);

// What the API answers, checked at the edge: counters may come as numbers or numeric strings
const count = z.coerce.number();
const ProgressSchema = z.looseObject({
  total: count,
  queued: count,
  running: count,
  succeeded: count,
  failed: count,
  cancelled: count,
  input_tokens: count.nullish(),
  output_tokens: count.nullish(),
  cost_usd: count.nullish(),
  items_per_minute: count.nullish(),
  eta_seconds: count.nullish(),
});
type Progress = z.infer<typeof ProgressSchema>;
const BatchSchema = z.looseObject({
  id: z.string(),
  status: z.string(),
  name: z.string().nullish(),
  agent_id: z.string().nullish(),
  agent_version: count.nullish(),
  max_parallel: count.nullish(),
  priority: count.nullish(),
  error: z.unknown().optional(),
  created_at: z.string().nullish(),
  started_at: z.string().nullish(),
  finished_at: z.string().nullish(),
  progress: ProgressSchema.nullish(),
});
type Batch = z.infer<typeof BatchSchema>;
const CreatedSchema = z.looseObject({ id: z.string(), status: z.string(), items: count });
const ProgressEventSchema = z.object({
  type: z.literal("CUSTOM"),
  name: z.literal("everruns.batch_progress"),
  value: ProgressSchema.extend({ status: z.string() }),
});
const BadLinesSchema = z.array(z.object({ line: z.number(), message: z.string() }));
const ResultCursorSchema = z.looseObject({ cursor: z.string() });

// ---------------------------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------------------------

function batchIdArg(id: string | undefined, usage: string): string {
  if (id === undefined) throw new ConfigError(`usage: ${usage}`);
  return uuidArg("batch", "everruns batch list", id);
}

function ratioFlag(value: string | undefined): number | undefined {
  return decimalFlag("--stop-after-ratio", value, (n) => n > 0 && n <= 1, "a fraction above 0 and at most 1 (0.1 = 10%)");
}

function deadlineFlag(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const at = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(at)) {
    throw new ConfigError(`--deadline takes an ISO 8601 time (2030-01-31T18:00:00Z), got ${JSON.stringify(value)}`);
  }
  return new Date(at).toISOString();
}

/** The query of POST /api/batches from `batch run`'s flags. */
function createQuery(agent: string, values: Record<string, string | boolean | undefined>): URLSearchParams {
  const query = new URLSearchParams({ agent });
  const put = (name: string, value: string | number | undefined) => value !== undefined && query.set(name, String(value));
  put("max_parallel", wholeFlag("--parallel", values.parallel as string | undefined, 1, 10_000));
  put("priority", wholeFlag("--priority", values.priority as string | undefined, MIN_RUN_PRIORITY, MAX_RUN_PRIORITY));
  put("name", textFlag("--name", values.name as string | undefined, 200));
  const onItemError = choiceFlag("--on-item-error", values["on-item-error"] as string | undefined, ["continue", "stop_after"] as const);
  const failures = wholeFlag("--stop-after-failures", values["stop-after-failures"] as string | undefined, 1, 2_147_483_647);
  const ratio = ratioFlag(values["stop-after-ratio"] as string | undefined);
  if (onItemError === "stop_after" && failures === undefined && ratio === undefined) {
    throw new ConfigError("--on-item-error stop_after needs --stop-after-failures N or --stop-after-ratio R (or both)");
  }
  if (onItemError !== "stop_after" && (failures !== undefined || ratio !== undefined)) {
    throw new ConfigError("--stop-after-failures and --stop-after-ratio go with --on-item-error stop_after");
  }
  put("on_item_error", onItemError);
  put("stop_after_failures", failures);
  put("stop_after_ratio", ratio);
  put("deadline", deadlineFlag(values.deadline as string | undefined));
  query.set("start", values["no-start"] ? "false" : "true");
  return query;
}

// ---------------------------------------------------------------------------------------------
// Items: the file streamed as it is read
// ---------------------------------------------------------------------------------------------

/** The longest line the CLI holds while turning it into an item (a longer one is surely a mistake). */
const MAX_LINE_BYTES = 16 * 1024 * 1024;

/**
 * One items line as the API takes it: `{"custom_id", "prompt": "…"}` (and no input) becomes
 * `{"custom_id", "input": {"messages": [{"role": "user", "content": "…"}]}}`; any other line,
 * valid or not, goes as it is, for the API to accept or to report by its number.
 */
export function toItemLine(line: string): string {
  const text = line.endsWith("\r") ? line.slice(0, -1) : line;
  if (!text.includes('"prompt"')) return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return text;
  const { prompt, ...rest } = parsed as Record<string, unknown>;
  if (prompt === undefined || "input" in rest) return text;
  return JSON.stringify({ ...rest, input: { messages: [{ role: "user", content: prompt }] } });
}

/**
 * A Transform from the bytes of an items file to the JSONL the API takes, line by line: one line
 * out for each line in, so the API's line numbers are the file's.
 */
export function itemLines(): Transform {
  const decoder = new StringDecoder("utf8");
  let partial = "";
  let lineNo = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const lines = (partial + decoder.write(chunk)).split("\n");
      partial = lines.pop()!;
      if (partial.length > MAX_LINE_BYTES) {
        callback(
          new ConfigError(`line ${lineNo + lines.length + 1} of the items is longer than ${MAX_LINE_BYTES / 1024 / 1024} MiB: is it JSONL, one item per line?`),
        );
        return;
      }
      lineNo += lines.length;
      callback(null, lines.length > 0 ? `${lines.map(toItemLine).join("\n")}\n` : undefined);
    },
    flush(callback) {
      const last = partial + decoder.end();
      callback(null, last.length > 0 ? `${toItemLine(last)}\n` : undefined);
    },
  });
}

/** The items source: a file opened now (so a missing one is a clear error before any request), or stdin. */
async function openItems(file: string): Promise<Readable> {
  if (file === "-") {
    if (process.stdin.isTTY) console.error("reading the items from the terminal, one JSON object per line; end with Ctrl-D");
    return process.stdin;
  }
  const handle = await open(file, "r").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") throw new ConfigError(`no items file ${file}: give a JSONL file, or - to read the items from stdin`);
    throw new ConfigError(`cannot read the items file ${file}: ${error.message}`);
  });
  return handle.createReadStream({ highWaterMark: 256 * 1024 });
}

async function cmdRun(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      parallel: { type: "string" },
      priority: { type: "string" },
      name: { type: "string" },
      "on-item-error": { type: "string" },
      "stop-after-failures": { type: "string" },
      "stop-after-ratio": { type: "string" },
      deadline: { type: "string" },
      "no-start": { type: "boolean", default: false },
      follow: { type: "boolean", short: "f", default: false },
      json: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 2) throw new ConfigError("usage: everruns batch run <agent> <items.jsonl|-> [options] (everruns batch --help)");
  const [agent, file] = positionals as [string, string];
  if (values.follow && values["no-start"]) throw new ConfigError("--follow would wait forever on a batch not started (--no-start): give one of them");
  const query = createQuery(agent, values);
  const source = await openItems(file);
  const reading: { error: Error | null } = { error: null };
  const body = pipeline(source, itemLines(), (error) => {
    if (error) reading.error = error;
  });
  let created: z.infer<typeof CreatedSchema>;
  try {
    const response = await streamRequest(api, "POST", `/api/batches?${query.toString()}`, { body, contentType: "application/x-ndjson" });
    created = parseAnswer(CreatedSchema, await response.json(), "POST /api/batches");
  } catch (error) {
    if (reading.error) throw reading.error; // the file, not the API, is what went wrong
    if (error instanceof ApiRefusedError && error.code === "invalid_items") {
      const lines = BadLinesSchema.safeParse(error.body.lines);
      for (const bad of lines.success ? lines.data : []) console.error(`line ${bad.line}: ${bad.message}`);
      const where = file === "-" ? "stdin" : file;
      throw new EverrunsError("invalid_items", `the items of ${where} were refused, so no batch was created: fix the line(s) above and run it again`);
    }
    if (error instanceof NotFoundError) throw new NotFoundError(`the API refused the batch: ${error.message}`);
    throw error;
  }
  if (values.json) printJson(created);
  else console.log(created.id);
  console.error(`batch ${created.id}: ${created.items} item(s), ${created.status}`);
  if (!values.follow) return EXIT.ok;
  return followBatch(api, created.id);
}

// ---------------------------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------------------------

interface BatchState {
  status: string;
  progress: Progress | null;
}

/** How often a plain (not a terminal) follower prints a line while the counts change (EVERRUNS_BATCH_PROGRESS_MS overrides, for tests). */
function plainEveryMs(): number {
  const ms = Number(process.env.EVERRUNS_BATCH_PROGRESS_MS);
  return Number.isInteger(ms) && ms > 0 ? ms : 5_000;
}

/** "42s", "3m 05s", "5h 03m", "2d 04h". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86_400)}d ${String(Math.floor((s % 86_400) / 3600)).padStart(2, "0")}h`;
}

function done(p: Progress): number {
  return p.succeeded + p.failed + p.cancelled;
}

function cost(p: Progress): string {
  return `$${(p.cost_usd ?? 0).toFixed(4)}`;
}

function rate(p: Progress): string {
  return `${(p.items_per_minute ?? 0).toFixed(1)} items/min`;
}

function eta(status: string, p: Progress): string {
  if (ENDED.has(status)) return "";
  if (status === "paused") return "ETA - (paused)";
  return p.eta_seconds === null || p.eta_seconds === undefined ? "ETA -" : `ETA ${duration(p.eta_seconds)}`;
}

/** The redrawn line on a terminal: [#####.....]  45%  9/20  1 failed  12.3 items/min  ETA 1m 20s  $0.0123  running */
export function barLine(state: BatchState, width = 24): string {
  const p = state.progress;
  if (!p) return state.status;
  const fraction = p.total > 0 ? Math.min(1, done(p) / p.total) : 0;
  const filled = Math.round(fraction * width);
  const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
  const parts = [
    bar,
    `${String(Math.floor(fraction * 100)).padStart(3)}%`,
    `${done(p)}/${p.total}`,
    `${p.failed} failed`,
    rate(p),
    eta(state.status, p),
    cost(p),
    state.status,
  ];
  return parts.filter(Boolean).join("  ");
}

/** The plain line: batch 1b2c… running: 9/20 done (45%), 2 running, 1 failed, 0 cancelled, 12.3 items/min, ETA 1m 20s, $0.0123 */
export function plainLine(id: string, state: BatchState): string {
  const p = state.progress;
  if (!p) return `batch ${id} ${state.status}`;
  const percent = p.total > 0 ? Math.floor((done(p) / p.total) * 100) : 0;
  const parts = [
    `${done(p)}/${p.total} done (${percent}%)`,
    `${p.running} running`,
    `${p.failed} failed`,
    `${p.cancelled} cancelled`,
    rate(p),
    eta(state.status, p),
    cost(p),
  ];
  return `batch ${id} ${state.status}: ${parts.filter(Boolean).join(", ")}`;
}

/** Shows a batch's progress on stderr: redrawn in place on a terminal, plain lines otherwise. */
class ProgressDisplay {
  private readonly tty = Boolean(process.stderr.isTTY);
  private readonly every = plainEveryMs();
  private state: BatchState | null = null;
  private printedStatus: string | null = null;
  private printedLine: string | null = null;
  private drawn = false;
  private readonly timer: ReturnType<typeof setInterval> | null;
  private readonly id: string;

  constructor(id: string) {
    this.id = id;
    this.timer = this.tty ? null : setInterval(() => this.printPlain(), this.every);
  }

  update(state: BatchState): void {
    this.state = state;
    if (this.tty) {
      process.stderr.write(`\r\x1b[2K${barLine(state, 24)}`);
      this.drawn = true;
    } else if (state.status !== this.printedStatus) {
      this.printPlain(); // at once on a change of status
    }
  }

  /** A message of its own line (a reconnect), not lost under the redrawn one. */
  note(message: string): void {
    if (this.drawn) process.stderr.write("\n");
    this.drawn = false;
    console.error(message);
  }

  private printPlain(): void {
    if (!this.state) return;
    const line = plainLine(this.id, this.state);
    if (line === this.printedLine) return; // nothing new since the last line
    console.error(line);
    this.printedLine = line;
    this.printedStatus = this.state.status;
  }

  finish(state: BatchState): void {
    if (this.timer) clearInterval(this.timer);
    if (this.drawn) process.stderr.write(`\r\x1b[2K${barLine(state, 24)}\n`);
    this.drawn = false;
    const p = state.progress;
    const counts = p ? `: ${p.succeeded} succeeded, ${p.failed} failed, ${p.cancelled} cancelled of ${p.total}, ${cost(p)}` : "";
    console.error(`batch ${this.id} ${state.status.replaceAll("_", " ")}${counts}`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.drawn) process.stderr.write("\n");
  }
}

async function getBatch(api: ApiClient, id: string): Promise<Batch> {
  const body = await api.request<unknown>("GET", `/api/batches/${id}`).catch((error: unknown) => {
    if (error instanceof NotFoundError) throw new NotFoundError(`unknown batch ${id} (everruns batch list shows the workspace's batches)`);
    throw error;
  });
  return parseAnswer(BatchSchema, body, `GET /api/batches/${id}`);
}

const RECONNECT: BackoffPolicy = { initial_delay_ms: 250, max_delay_ms: 5_000, multiplier: 2 };
/** How long a follower keeps trying while the API cannot be reached. */
const GIVE_UP_AFTER_MS = 5 * 60_000;
/** A stream silent this long (not even a heartbeat) is reconnected. */
const STALL_MS = 45_000;

/** Whether a follower should try again after `error`: the API unreachable or the stream cut, not a refusal. */
function transient(error: unknown): boolean {
  if (error instanceof EverrunsError) return error.code === "api_unreachable";
  return error instanceof Error; // a dropped connection, a stall abort, a broken stream
}

/** Calls `attempt` until it returns, retrying transient failures with backoff for up to GIVE_UP_AFTER_MS. */
class Retrier {
  private failures = 0;
  private failingSince: number | null = null;
  private readonly onRetry: (message: string) => void;
  constructor(onRetry: (message: string) => void) {
    this.onRetry = onRetry;
  }

  succeeded(): void {
    this.failures = 0;
    this.failingSince = null;
  }

  /** After a failure: waits before the next try, or rethrows when it is not worth another. */
  async failed(error: unknown, what: string): Promise<void> {
    if (!transient(error)) throw error;
    this.failingSince ??= Date.now();
    if (Date.now() - this.failingSince > GIVE_UP_AFTER_MS) throw error;
    this.failures++;
    this.onRetry(`  (lost ${what}: ${(error as Error).message}; reconnecting, attempt ${this.failures})`);
    await sleep(backoffMs(RECONNECT, this.failures));
  }
}

function exitCodeOf(status: string): number {
  return (BATCH_EXIT as Record<string, number>)[status] ?? EXIT.error;
}

/** Follows batch `id`'s progress (SSE) until it ends; returns its exit code. */
async function followBatch(api: ApiClient, id: string): Promise<number> {
  const display = new ProgressDisplay(id);
  console.error(`following batch ${id} (Ctrl-C stops following; the batch goes on)`);
  let final: BatchState;
  try {
    final = await watchBatch(api, id, display);
  } catch (error) {
    display.stop();
    throw error;
  }
  display.finish(final);
  return exitCodeOf(final.status);
}

/** Shows batch `id`'s progress on `display` until it ends, reconnecting as needed; returns its last state. */
async function watchBatch(api: ApiClient, id: string, display: ProgressDisplay): Promise<BatchState> {
  const retrier = new Retrier((message) => display.note(message));
  let progress: Progress | null = null;
  for (;;) {
    // the batch as it is now: after a reconnect, an end the stream did not deliver is seen here
    let batch: Batch;
    try {
      batch = await getBatch(api, id);
      retrier.succeeded();
    } catch (error) {
      await retrier.failed(error, "the API");
      continue;
    }
    progress = batch.progress ?? progress;
    display.update({ status: batch.status, progress });
    if (ENDED.has(batch.status)) return { status: batch.status, progress };
    const stall = new AbortController();
    let stallTimer: ReturnType<typeof setTimeout> | undefined;
    const armStall = () => {
      clearTimeout(stallTimer);
      stallTimer = setTimeout(() => stall.abort(new Error(`no data for ${STALL_MS / 1000} s`)), STALL_MS);
    };
    try {
      armStall();
      const response = await streamRequest(api, "GET", `/api/batches/${id}/progress`, { accept: "text/event-stream", signal: stall.signal });
      retrier.succeeded();
      for await (const message of sseMessages(response.body!, { onBytes: armStall })) {
        const event = ProgressEventSchema.safeParse(JSON.parse(message.data));
        if (!event.success) continue; // another kind of event: not progress
        const { status, ...counts } = event.data.value;
        progress = counts;
        display.update({ status, progress });
        if (ENDED.has(status)) return { status, progress };
      }
      // the stream ended before the batch: read the batch again, then reconnect (not in a tight loop)
      await sleep(250);
    } catch (error) {
      await retrier.failed(stall.signal.aborted ? stall.signal.reason : error, "the progress stream");
    } finally {
      clearTimeout(stallTimer);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/** Writes `text` to stdout, waiting while the reader is behind (a pipe, a slow disk). */
async function writeOut(text: string): Promise<void> {
  if (process.stdout.write(text)) return;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => {
      process.stdout.off("drain", onDrain);
      reject(error);
    };
    const onDrain = () => {
      process.stdout.off("error", onError);
      resolve();
    };
    process.stdout.once("drain", onDrain);
    process.stdout.once("error", onError);
  });
}

/**
 * Copies the results NDJSON after `after` to stdout, keeping the last cursor written and the lines
 * written in `progress`, so that after a cut connection (a throw) the next call goes on from there.
 */
async function copyResults(
  api: ApiClient,
  id: string,
  after: string | null,
  follow: boolean,
  progress: { cursor: string | null; lines: number },
): Promise<void> {
  const query = new URLSearchParams();
  if (after) query.set("after", after);
  if (follow) query.set("follow", "1");
  const response = await streamRequest(api, "GET", `/api/batches/${id}/results${query.size > 0 ? `?${query.toString()}` : ""}`, {
    accept: "application/x-ndjson",
  });
  const decoder = new TextDecoder();
  let partial = "";
  const emit = async (line: string) => {
    if (line.trim() === "") return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      throw new EverrunsError("bad_answer", `the API sent a results line that is not JSON: ${line.slice(0, 120)}`);
    }
    const parsed = ResultCursorSchema.safeParse(json);
    await writeOut(`${line}\n`);
    progress.lines++;
    if (parsed.success) progress.cursor = parsed.data.cursor;
  };
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
    partial = lines.pop()!;
    for (const line of lines) await emit(line);
  }
  // a last line without its newline is whole only if the stream ended cleanly (it did: no throw)
  await emit(partial + decoder.decode());
}

async function cmdResults(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { follow: { type: "boolean", short: "f", default: false }, after: { type: "string" } },
  });
  const id = batchIdArg(positionals[0], "everruns batch results <id> [--follow] [--after CURSOR]");
  if (positionals.length > 1) throw new ConfigError("usage: everruns batch results <id> [--follow] [--after CURSOR]");
  // an unknown batch: one clear line, before any output. An ended batch's results are read as a
  // follower reads them: the API hands out a result only once no older transaction of the database
  // is open, and a follower waits for the last ones where a plain read would end without them.
  const follow = values.follow || ENDED.has((await getBatch(api, id)).status);
  // the reader went away (| head): stop quietly, as other tools do
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(EXIT.ok);
  });
  const progress = { cursor: values.after ?? null, lines: 0 };
  const retrier = new Retrier((message) => console.error(message));
  for (;;) {
    const before = progress.lines;
    try {
      await copyResults(api, id, progress.cursor, follow, progress);
      retrier.succeeded();
    } catch (error) {
      await retrier.failed(error, "the results stream");
      continue; // after the last cursor written: nothing twice, nothing missed
    }
    if (!follow) return EXIT.ok;
    // the stream ended: the batch ended too, unless the connection was closed early
    const batch = await getBatch(api, id);
    if (ENDED.has(batch.status)) return EXIT.ok;
    if (progress.lines === before) await sleep(1000);
  }
}

// ---------------------------------------------------------------------------------------------
// Status, list and the controls
// ---------------------------------------------------------------------------------------------

function statusRows(batch: Batch): Record<string, unknown>[] {
  const p = batch.progress;
  const rows: Array<[string, unknown]> = [
    ["batch", batch.id],
    ["name", batch.name],
    ["status", batch.status],
    ["agent", batch.agent_id ? `${batch.agent_id}${batch.agent_version ? ` (version ${batch.agent_version})` : ""}` : null],
    ["max parallel", batch.max_parallel],
    ["priority", batch.priority],
  ];
  if (p) {
    const percent = p.total > 0 ? Math.floor((done(p) / p.total) * 100) : 0;
    rows.push(
      ["done", `${done(p)}/${p.total} (${percent}%)`],
      ["by status", `${p.queued} queued, ${p.running} running, ${p.succeeded} succeeded, ${p.failed} failed, ${p.cancelled} cancelled`],
      ["throughput", rate(p)],
      ["ETA", eta(batch.status, p) || "-"],
      ["tokens", `${p.input_tokens ?? 0} in, ${p.output_tokens ?? 0} out`],
      ["cost", cost(p)],
    );
  }
  rows.push(["created", batch.created_at], ["started", batch.started_at], ["finished", batch.finished_at]);
  if (batch.error) rows.push(["error", batch.error]);
  return rows.map(([field, value]) => ({ field, value }));
}

async function cmdStatus(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: "boolean", default: false } } });
  const id = batchIdArg(positionals[0], "everruns batch status <id> [--json]");
  const batch = await getBatch(api, id);
  if (values.json) printJson(batch);
  else printRows(statusRows(batch), false, "");
  return EXIT.ok;
}

async function cmdList(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { status: { type: "string" }, json: { type: "boolean", default: false } },
  });
  if (positionals.length > 0) throw new ConfigError("usage: everruns batch list [--status S] [--json]");
  const status = choiceFlag("--status", values.status, STATUSES);
  const body = await api.request<unknown>("GET", `/api/batches${status ? `?status=${status}` : ""}`);
  const { batches } = parseAnswer(z.looseObject({ batches: z.array(BatchSchema) }), body, "GET /api/batches");
  if (values.json) {
    printJson(batches);
    return EXIT.ok;
  }
  const rows = batches.map((b) => ({
    id: b.id,
    name: b.name,
    status: b.status,
    done: b.progress ? `${done(b.progress)}/${b.progress.total}` : "-",
    failed: b.progress ? b.progress.failed : "-",
    parallel: b.max_parallel,
    created: b.created_at,
  }));
  printRows(rows, false, status ? `no ${status} batches` : "no batches yet (everruns batch run <agent> items.jsonl starts one)");
  return EXIT.ok;
}

/** POSTs a control of batch `id`; a 404 names the batch. */
async function control(api: ApiClient, id: string, action: string, body?: unknown): Promise<unknown> {
  return api.request<unknown>("POST", `/api/batches/${id}/${action}`, body).catch((error: unknown) => {
    if (error instanceof NotFoundError) throw new NotFoundError(`unknown batch ${id} (everruns batch list shows the workspace's batches)`);
    throw error;
  });
}

async function cmdControl(api: ApiClient, action: "start" | "pause" | "resume" | "cancel", args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const id = batchIdArg(positionals[0], `everruns batch ${action} <id>`);
  const answer = await control(api, id, action);
  const past = { start: "started", pause: "paused", resume: "resumed", cancel: "cancelled" }[action];
  const { status } = parseAnswer(BatchSchema, answer, `POST /api/batches/${id}/${action}`);
  console.log(`${past} batch ${id} (now ${status.replaceAll("_", " ")})`);
  return EXIT.ok;
}

async function cmdRetry(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { "custom-id": { type: "string", multiple: true }, "include-cancelled": { type: "boolean", default: false } },
  });
  const id = batchIdArg(positionals[0], "everruns batch retry <id> [--custom-id ID ...] [--include-cancelled]");
  const customIds = values["custom-id"];
  const answer = await control(api, id, "retry_failed", {
    ...(customIds ? { custom_ids: customIds } : {}),
    ...(values["include-cancelled"] ? { include_cancelled: true } : {}),
  });
  const { retried } = parseAnswer(z.looseObject({ retried: count }), answer, `POST /api/batches/${id}/retry_failed`);
  console.log(`re-queued ${retried} item(s) of batch ${id}`);
  return EXIT.ok;
}

async function cmdParallel(api: ApiClient, args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const usage = "everruns batch parallel <id> <n>";
  const id = batchIdArg(positionals[0], usage);
  const n = wholeFlag("<n>", positionals[1], 1, 10_000);
  if (n === undefined || positionals.length > 2) throw new ConfigError(`usage: ${usage}`);
  await control(api, id, "parallel", { max_parallel: n });
  console.log(`batch ${id} now runs up to ${n} item(s) at once`);
  return EXIT.ok;
}

async function cmdFollow(api: ApiClient, args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const id = batchIdArg(positionals[0], "everruns batch follow <id>");
  return followBatch(api, id);
}

export async function batchCommand(args: string[], env: Env): Promise<number> {
  return apiSubcommand(args, env, "batch", BATCH_USAGE, {
    run: cmdRun,
    follow: cmdFollow,
    status: cmdStatus,
    list: cmdList,
    start: (api, a) => cmdControl(api, "start", a),
    pause: (api, a) => cmdControl(api, "pause", a),
    resume: (api, a) => cmdControl(api, "resume", a),
    cancel: (api, a) => cmdControl(api, "cancel", a),
    retry: cmdRetry,
    parallel: cmdParallel,
    results: cmdResults,
  });
}
