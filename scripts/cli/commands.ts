// The short commands: on the database as its administrator (migrate, runs, cancel, events), on
// the API with a key (run, approve, reject, outcome, signal, resume), and on this machine (status,
// stop). approve/reject answer approvals and outcome answers unknown-outcome questions (a tool
// call a crash left in doubt); a run's open interrupts are answered all at once, so each refuses,
// naming the command that can, when the run also asks something it cannot answer.
import { jsonFlag } from "./flags.ts";
import { ConfigError, EverrunsError, NotFoundError } from "../../db/errors.ts";
import type { Env } from "../../db/env.ts";
import { migrate } from "../../db/migrate.ts";
import { createPool, isUuid, type Pool, type PoolOptions } from "../../db/pool.ts";
import { cancelRun } from "../../db/sql/cancelRun.ts";
import { getRun } from "../../db/sql/getRun.ts";
import { listRuns } from "../../db/sql/listRuns.ts";
import { readRunEvents } from "../../db/sql/readRunEvents.ts";
import { historyExpiredMessage, runHistoryExpiry } from "../../db/sql/runHistoryExpiry.ts";
import { validTraceparent } from "../../lib/tracing/ids.ts";
import { validTracestate } from "../../lib/tracing/tracestate.ts";
import { resolveDatabase } from "../database.ts";
import { apiClient, type ApiClient } from "./api.ts";
import { EXIT, noteDatabaseUrl } from "./errors.ts";
import { followRun, interruptKind, interruptLabel, openInterrupts, resumeCommand, type Interrupt } from "./follow.ts";
import { embeddedPostgresRunning, everrunsAlive, listRecords, processAlive, signalAndWait } from "./instance.ts";
import { printJson, printRows } from "./output.ts";
import { createHash } from "node:crypto";
import path from "node:path";
import { rm } from "node:fs/promises";
import { PROJECT_ROOT } from "../database.ts";

export async function withDatabase<T>(env: Env, fn: (pool: Pool, url: string) => Promise<T>, poolOptions: PoolOptions = {}): Promise<T> {
  const db = await resolveDatabase(env, () => {});
  // Behind a transaction-mode pooler the CLI's few short connections go to the server itself:
  // migrations hold a session lock, and the engine's timeouts travel as startup options.
  const url = env.DATABASE_DIRECT_URL ?? db.url;
  noteDatabaseUrl(url);
  const pool = createPool(url, "everruns-cli", 2, poolOptions);
  try {
    return await fn(pool, url);
  } finally {
    await pool.end();
  }
}

function runIdArg(runId: string): string {
  if (!isUuid(runId)) throw new ConfigError(`a run id is a UUID, got "${runId}"`);
  return runId;
}

export async function cmdMigrate(env: Env): Promise<void> {
  await withDatabase(
    env,
    async (pool) => {
      const n = await migrate(pool, (line) => console.log(line));
      console.log(n === 0 ? "database is up to date" : `applied ${n} migration(s)`);
    },
    { migrations: true },
  );
}

export async function cmdRuns(env: Env, opts: { limit: string; json?: boolean }): Promise<void> {
  const limit = Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ConfigError("--limit must be a whole number from 1 to 1000");
  const rows = await withDatabase(env, (pool) => listRuns(pool, limit));
  printRows(rows as unknown as Record<string, unknown>[], Boolean(opts.json), 'no runs yet (everruns run demo "hello" starts one)');
}

export async function cmdCancel(env: Env, runId: string): Promise<void> {
  runIdArg(runId);
  await withDatabase(env, async (pool) => {
    if (!(await getRun(pool, runId))) throw new NotFoundError(`unknown run ${runId}`);
    const cancelled = await cancelRun(pool, runId);
    console.log(cancelled ? `cancelled run ${runId}` : `run ${runId} had already finished`);
  });
}

export async function cmdEvents(env: Env, runId: string, opts: { json?: boolean }): Promise<void> {
  runIdArg(runId);
  await withDatabase(env, async (pool) => {
    const run = await getRun(pool, runId);
    if (!run) throw new NotFoundError(`unknown run ${runId}`);
    // retention removed its events (000038): say so, as the API's 410 does, instead of printing nothing
    const expiry = run.history_expired_at ? await runHistoryExpiry(pool, runId) : null;
    if (expiry) throw new EverrunsError("history_expired", historyExpiredMessage(runId, expiry));
    for (let after = 0; ;) {
      const rows = await readRunEvents(pool, runId, after, 1000);
      // one line per event either way: "seq<TAB>event", or --json: {"seq", "event"} (JSON lines)
      for (const row of rows) console.log(opts.json ? JSON.stringify({ seq: row.seq, event: row.event }) : `${row.seq}\t${JSON.stringify(row.event)}`);
      if (rows.length < 1000) break;
      after = rows.at(-1)!.seq;
    }
  });
}

export async function cmdRun(env: Env, agent: string, prompt: string, opts: { follow?: boolean; traceparent?: string; tracestate?: string }): Promise<number> {
  const api = apiClient(env);
  // --traceparent, else TRACEPARENT (a caller's trace context, as other CLI tools take it; an
  // invalid TRACEPARENT is ignored, an invalid --traceparent is an error): the run continues that trace
  let traceparent = validTraceparent(process.env.TRACEPARENT);
  if (opts.traceparent !== undefined) {
    traceparent = validTraceparent(opts.traceparent);
    if (traceparent === null)
      throw new ConfigError(
        `--traceparent must be a W3C traceparent (00-<32 hex trace id>-<16 hex span id>-<2 hex flags>), got ${JSON.stringify(opts.traceparent)}`,
      );
  }
  // --tracestate, else TRACESTATE with the TRACEPARENT it goes with (W3C: a tracestate belongs to
  // its traceparent; an invalid TRACESTATE is ignored, an invalid --tracestate is an error)
  let tracestate = opts.traceparent === undefined && traceparent ? validTracestate(process.env.TRACESTATE) : null;
  if (opts.tracestate !== undefined) {
    tracestate = validTracestate(opts.tracestate);
    if (tracestate === null)
      throw new ConfigError(
        `--tracestate must be a W3C tracestate (key=value members joined by ",", lowercase keys, no key twice; a list over 32 members or 512 characters is truncated), got ${JSON.stringify(opts.tracestate)}`,
      );
    if (traceparent === null) throw new ConfigError("--tracestate goes with a traceparent: give --traceparent too (or set TRACEPARENT)");
  }
  // through the API (POST /api/runs → db/sql/startRun.ts), so --follow streams from the same place
  const body = await api
    .request<{ id?: string }>(
      "POST",
      "/api/runs",
      { agent, input: { messages: [{ role: "user", content: prompt }] } },
      traceparent ? { traceparent, ...(tracestate && { tracestate }) } : undefined,
    )
    .catch((error: unknown) => {
      if (error instanceof EverrunsError && !["unauthenticated", "forbidden", "api_unreachable"].includes(error.code)) {
        throw new EverrunsError("rejected", `the API refused the run: ${error.message.replace(/^the API refused it \(HTTP \d+\): /, "")}`);
      }
      throw error;
    });
  if (!body.id) throw new EverrunsError("rejected", "the API answered without a run id");
  if (!opts.follow) {
    console.log(body.id);
    return EXIT.ok;
  }
  return followRun(api, body.id);
}

/** A run's status through the API (404: unknown run, in the key's workspace). */
async function runStatus(api: ApiClient, runId: string): Promise<string> {
  const run = await api.request<{ status: string }>("GET", `/api/runs/${runId}`).catch((error: unknown) => {
    if (error instanceof NotFoundError) throw new NotFoundError(`unknown run ${runId}`);
    throw error;
  });
  return run.status;
}

/** The open interrupts of run `runId`, which must be interrupted with at least one. */
async function openQuestions(api: ApiClient, runId: string): Promise<Interrupt[]> {
  const status = await runStatus(api, runId);
  if (status !== "interrupted") throw new EverrunsError("not_interrupted", `run ${runId} is not waiting for an answer (status ${status})`);
  const interrupts = (await openInterrupts(api, runId)) ?? [];
  if (interrupts.length === 0) {
    throw new EverrunsError("not_interrupted", `run ${runId} has no open question (client tool calls are answered by the client's tool messages)`);
  }
  return interrupts;
}

const OUTCOME_COMMAND = (runId: string) => `everruns outcome ${runId} --retry | --skip | --result "…"`;

/**
 * The interrupts of `kind` that this command answers (all of them, or the one --tool-call names),
 * refusing when the run has open interrupts it cannot answer: resume_run takes every answer at
 * once, so the message names them and the command that answers them.
 */
function chooseInterrupts(runId: string, interrupts: Interrupt[], kind: "approval" | "outcome", command: string, toolCall: string | undefined): Interrupt[] {
  const mine = interrupts.filter((i) => interruptKind(i) === kind);
  const others = interrupts.filter((i) => interruptKind(i) !== kind);
  const noun = kind === "approval" ? "approval" : "unknown-outcome question";
  const describe = (list: Interrupt[]) => list.map((i) => `${i.id ?? "?"}: ${interruptLabel(i)}`).join("; ");
  if (mine.length === 0) {
    const what = others.every((i) => interruptKind(i) === "outcome")
      ? `it asks what to do with tool calls whose outcome is unknown (${describe(others)}): answer with ${OUTCOME_COMMAND(runId)}`
      : others.every((i) => interruptKind(i) === "approval")
        ? `it asks for approvals (${describe(others)}): answer with everruns approve ${runId} or everruns reject ${runId}`
        : `its open interrupts (${describe(others)}) are answered with ${resumeCommand(runId, others)}`;
    throw new ConfigError(`run ${runId} has no open ${noun}: ${what}`);
  }
  if (others.length > 0) {
    throw new ConfigError(
      `run ${runId} also has open interrupts everruns ${command} does not answer (${describe(others)}), and a run's open interrupts are answered all at once: ` +
        `answer every one with ${resumeCommand(runId, interrupts)} (edit each payload: {"approved": true | false} for an approval, ` +
        `{"action": "retry" | "skip" | "result", "result": "…"} for an unknown outcome)`,
    );
  }
  const chosen = toolCall ? mine.filter((i) => i.toolCallId === toolCall || i.id === toolCall) : mine;
  if (chosen.length === 0) {
    throw new ConfigError(`run ${runId} has no open ${noun} for tool call ${toolCall}; its open ones: ${mine.map((i) => i.toolCallId ?? i.id).join(", ")}`);
  }
  if (chosen.length < mine.length) {
    const rest = mine.filter((i) => !chosen.includes(i)).map((i) => i.toolCallId ?? i.id);
    throw new ConfigError(
      `run ${runId} has other open ${noun}s (${rest.join(", ")}): every one is answered at once. ` +
        `Answer all with everruns ${command} ${runId} without --tool-call, or each its own way with ${resumeCommand(runId, mine)}`,
    );
  }
  return chosen;
}

async function answer(
  env: Env,
  runId: string,
  approved: boolean,
  opts: { toolCall?: string; reason?: string; arguments?: string; follow?: boolean },
): Promise<number> {
  runIdArg(runId);
  let args: unknown;
  if (opts.arguments !== undefined) {
    if (!approved) throw new ConfigError("--arguments is only for approve (the edited arguments the tool runs with)");
    args = jsonFlag("--arguments", opts.arguments);
    if (!args || typeof args !== "object" || Array.isArray(args)) throw new ConfigError("--arguments must be a JSON object");
  }
  const api = apiClient(env);
  const interrupts = await openQuestions(api, runId);
  const chosen = chooseInterrupts(runId, interrupts, "approval", approved ? "approve" : "reject", opts.toolCall);
  const resume = chosen.map((i) => ({
    interruptId: i.id,
    status: "resolved",
    payload: { approved, ...(opts.reason ? { reason: opts.reason } : {}), ...(args ? { arguments: args } : {}) },
  }));
  return postResume(
    api,
    runId,
    resume,
    Boolean(opts.follow),
    `${approved ? "approved" : "rejected"} ${chosen.map((i) => i.metadata?.toolName ?? i.id).join(", ")}`,
  );
}

async function postResume(api: ApiClient, runId: string, resume: unknown, follow: boolean, what: string): Promise<number> {
  const continuation = await api.request<{ id: string }>("POST", `/api/runs/${runId}/resume`, { resume });
  if (!follow) {
    console.error(`${what}; the run continues as run ${continuation.id}`);
    console.log(continuation.id);
    return EXIT.ok;
  }
  console.error(`${what}; following the continuation`);
  return followRun(api, continuation.id);
}

export function cmdApprove(env: Env, runId: string, opts: { toolCall?: string; reason?: string; arguments?: string; follow?: boolean }): Promise<number> {
  return answer(env, runId, true, opts);
}

export function cmdReject(env: Env, runId: string, opts: { toolCall?: string; reason?: string; follow?: boolean }): Promise<number> {
  return answer(env, runId, false, opts);
}

export interface OutcomeOptions {
  /** call the tool again */
  retry?: boolean;
  /** do not call it again: the model is told it was skipped */
  skip?: boolean;
  /** the tool's result, entered by a person: the model sees it as the tool's answer */
  result?: string;
  toolCall?: string;
  follow?: boolean;
}

/**
 * everruns outcome: answers a run's unknown-outcome interrupts (`outcome-<tool_call_id>`, reason
 * tool_outcome_unknown: a step calling a tool ended before its result was recorded) with
 * {"action": "retry" | "skip" | "result", "result"?: text}, through POST /api/runs/:id/resume.
 */
export async function cmdOutcome(env: Env, runId: string, opts: OutcomeOptions): Promise<number> {
  runIdArg(runId);
  const given = [opts.retry && "--retry", opts.skip && "--skip", opts.result !== undefined && "--result"].filter(Boolean);
  if (given.length !== 1) {
    throw new ConfigError(
      given.length === 0
        ? 'say what to do with the tool call: --retry (call it again), --skip (do not), or --result "…" (its result, entered by you)'
        : `give one of --retry, --skip or --result, not ${given.join(" and ")}`,
    );
  }
  const action = opts.retry ? "retry" : opts.skip ? "skip" : "result";
  const api = apiClient(env);
  const interrupts = await openQuestions(api, runId);
  const chosen = chooseInterrupts(runId, interrupts, "outcome", "outcome", opts.toolCall);
  const resume = chosen.map((i) => ({
    interruptId: i.id,
    status: "resolved",
    payload: { action, ...(action === "result" ? { result: opts.result } : {}) },
  }));
  const tools = chosen.map((i) => i.metadata?.toolName ?? i.toolCallId ?? i.id).join(", ");
  const what = action === "retry" ? `calling ${tools} again` : action === "skip" ? `skipped ${tools}` : `entered the result of ${tools}`;
  return postResume(api, runId, resume, Boolean(opts.follow), what);
}

export async function cmdResume(env: Env, runId: string, opts: { json: string; follow?: boolean }): Promise<number> {
  runIdArg(runId);
  const resume = jsonFlag("--json", opts.json);
  if (!Array.isArray(resume))
    throw new ConfigError(`--json must be a JSON array of answers: [{"interruptId": "…", "status": "resolved", "payload": {"approved": true}}]`);
  const api = apiClient(env);
  await runStatus(api, runId);
  return postResume(api, runId, resume, Boolean(opts.follow), `answered ${resume.length} interrupt(s)`);
}

export async function cmdSignal(env: Env, runId: string, name: string, opts: { payload?: string; json?: boolean }): Promise<void> {
  runIdArg(runId);
  const payload = opts.payload === undefined ? undefined : jsonFlag("--payload", opts.payload);
  const api = apiClient(env);
  await runStatus(api, runId);
  const sent = await api.request<{ woke: boolean }>("POST", `/api/runs/${runId}/signals`, { name, ...(payload === undefined ? {} : { payload }) });
  if (opts.json) printJson({ run: runId, name, woke: sent.woke });
  else
    console.log(sent.woke ? `sent "${name}" to run ${runId}: it woke the run` : `sent "${name}" to run ${runId}: kept for the run's next wait for "${name}"`);
}

/** An event for the workflow runs waiting for its name and correlation key (POST /api/events). */
export async function cmdEvent(env: Env, name: string, opts: { key: string; payload?: string; json?: boolean }): Promise<void> {
  const payload = opts.payload === undefined ? undefined : jsonFlag("--payload", opts.payload);
  const sent = await apiClient(env).request<{ delivered: number }>("POST", "/api/events", {
    name,
    correlation_key: opts.key,
    ...(payload === undefined ? {} : { payload }),
  });
  if (opts.json) printJson({ name, correlation_key: opts.key, delivered: sent.delivered });
  else if (sent.delivered > 0) console.log(`sent "${name}" for ${opts.key}: delivered to ${sent.delivered} waiting run(s)`);
  else console.log(`sent "${name}" for ${opts.key}: no run waits for it; kept for the first workflow run that waits for "${name}" with that key`);
}

/** A failed workflow run again from a state (POST /api/runs/:id/redrive): prints the new run's id. */
export async function cmdRedrive(env: Env, runId: string, opts: { from?: string; json?: boolean }): Promise<void> {
  runIdArg(runId);
  const run = await apiClient(env).request<{ id: string; status: string }>("POST", `/api/runs/${runId}/redrive`, opts.from ? { from_state: opts.from } : {});
  if (opts.json) printJson({ run: run.id, redrive_of: runId, from_state: opts.from ?? null });
  else console.log(`redriving run ${runId}${opts.from ? ` from state ${opts.from}` : " from the state it failed in"}: run ${run.id}`);
}

interface StatusReport {
  instances: Array<{
    pid: number;
    alive: boolean;
    state: string;
    api: string | null;
    console: string | null;
    database: string | null;
    apiHealth: string | null;
    embeddedPostgres: { dataDir: string; port: number; pid: number | null } | null;
    startedAt: string;
  }>;
  /** embedded Postgres servers running with no live everruns start (left behind by a kill -9) */
  leftBehind: Array<{ dataDir: string; port: number; pid: number }>;
}

async function apiHealth(url: string | null): Promise<string | null> {
  if (!url) return null;
  try {
    const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(3000) });
    return response.ok ? "ok" : `HTTP ${response.status}`;
  } catch (error) {
    return `unreachable (${(error as Error).message})`;
  }
}

/**
 * Where the embedded Postgres of this environment may be: EVERRUNS_DATA_DIR (or its default), and,
 * as root, the /var/tmp directory embedded-postgres.ts moves it to when the postgres user cannot
 * reach the configured one.
 */
function defaultDataDirs(env: Env): string[] {
  const configured = path.resolve(env.EVERRUNS_DATA_DIR ?? path.join(PROJECT_ROOT, ".everruns", "pg"));
  return [configured, path.join("/var/tmp", `everruns-${createHash("sha1").update(configured).digest("hex").slice(0, 12)}`)];
}

async function statusReport(env: Env): Promise<StatusReport> {
  const records = await listRecords();
  const report: StatusReport = { instances: [], leftBehind: [] };
  const dataDirs = new Set<string>(defaultDataDirs(env));
  for (const r of records) {
    if (r.embedded) dataDirs.add(r.embedded.dataDir);
    const pg = r.embedded ? await embeddedPostgresRunning(r.embedded.dataDir) : null;
    report.instances.push({
      pid: r.pid,
      alive: r.alive,
      state: r.alive ? r.state : "gone (killed?)",
      api: r.apiUrl,
      console: r.webUrl,
      database: r.database,
      apiHealth: r.alive ? await apiHealth(r.apiUrl) : null,
      embeddedPostgres: r.embedded ? { ...r.embedded, port: pg?.port ?? r.embedded.port, pid: pg?.pid ?? null } : null,
      startedAt: r.startedAt,
    });
  }
  const usedByLive = new Set(records.filter((r) => r.alive && r.embedded).map((r) => r.embedded!.dataDir));
  for (const dir of dataDirs) {
    if (usedByLive.has(dir)) continue;
    const pg = await embeddedPostgresRunning(dir);
    if (pg) report.leftBehind.push({ dataDir: dir, ...pg });
  }
  return report;
}

export async function cmdStatus(env: Env, opts: { json?: boolean }): Promise<void> {
  const report = await statusReport(env);
  if (opts.json) return printJson(report);
  const live = report.instances.filter((i) => i.alive);
  if (live.length === 0) console.log("everruns is not running here (no everruns start in this checkout)");
  for (const i of report.instances) {
    if (!i.alive) {
      console.log(`a stopped everruns start (pid ${i.pid}, API ${i.api ?? "-"}) did not stop cleanly (kill -9?); everruns stop tidies up`);
      continue;
    }
    const pg = i.embeddedPostgres;
    console.log(
      [
        `everruns start  pid ${i.pid}, ${i.state} since ${i.startedAt}`,
        `  API         ${i.api ?? "(starting)"}  health: ${i.apiHealth ?? "-"}`,
        `  console     ${i.console ?? "(starting)"}`,
        `  database    ${i.database ?? "-"}`,
        ...(pg ? [`  embedded Postgres  port ${pg.port}, pid ${pg.pid ?? "not running"}, data in ${pg.dataDir}`] : []),
      ].join("\n"),
    );
  }
  for (const pg of report.leftBehind) {
    console.log(`embedded Postgres left running: pid ${pg.pid}, port ${pg.port}, data in ${pg.dataDir} (no everruns start uses it; everruns stop stops it)`);
  }
}

export async function cmdStop(env: Env, opts: { json?: boolean }): Promise<void> {
  const records = await listRecords();
  const stopped: string[] = [];
  // a start stops its parts in order itself (console, API, worker, embedded Postgres): ask it,
  // and give it the worker's shutdown timeout and more
  const waitMs = env.WORKER_SHUTDOWN_TIMEOUT_MS + 60_000;
  for (const r of records) {
    if (r.alive) {
      const gone = await signalAndWait(r.pid, "SIGTERM", waitMs, everrunsAlive);
      if (!gone)
        throw new EverrunsError("stop_timeout", `everruns start (pid ${r.pid}) did not stop within ${waitMs / 1000} s: kill -9 ${r.pid}, then everruns stop`);
      stopped.push(`stopped everruns start (pid ${r.pid}, API ${r.apiUrl ?? `:${r.apiPort}`})`);
    }
    await rm(r.file, { force: true });
  }
  // what a kill -9 leaves: the embedded Postgres (pg_ctl runs it detached). SIGINT is its fast shutdown.
  const dataDirs = new Set<string>([...defaultDataDirs(env), ...records.filter((r) => r.embedded).map((r) => r.embedded!.dataDir)]);
  for (const dir of dataDirs) {
    const pg = await embeddedPostgresRunning(dir);
    if (!pg) continue;
    const gone = await signalAndWait(pg.pid, "SIGINT", 60_000, processAlive);
    if (!gone) throw new EverrunsError("stop_timeout", `the embedded Postgres (pid ${pg.pid}) did not stop within 60 s`);
    stopped.push(`stopped the embedded Postgres (pid ${pg.pid}, port ${pg.port}, data in ${dir})`);
  }
  if (opts.json) printJson({ stopped });
  else console.log(stopped.length ? stopped.join("\n") : "nothing to stop: no everruns start and no embedded Postgres runs here");
}
