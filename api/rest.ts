// REST under /api: start, read, cancel, resume, rerun and redrive runs, send them events (by run or by correlation key), and follow a
// run's events over SSE. Cancel, resume, signals and rerun take an optional `reason` (at most 500
// characters) that the audit log keeps with the action (000015). Every route acts for the request's API key (api/auth.ts): reads need any
// role, changes `operator`; the queries run under the key's workspace (row-level security), so
// another workspace's run is an unknown run.
import { Router, type Request } from "express";
import { z } from "zod";
import { NotFoundError, ValidationError } from "../db/errors.ts";
import { isUuid, type Pool } from "../db/pool.ts";
import { RunPrioritySchema } from "../db/schemas.ts";
import { cancelRun } from "../db/sql/cancelRun.ts";
import { getRun } from "../db/sql/getRun.ts";
import { historyExpiredMessage, runHistoryExpiry, type HistoryExpiry } from "../db/sql/runHistoryExpiry.ts";
import { rerunRun } from "../db/sql/rerunRun.ts";
import { redriveRun, sendEventByKey } from "../db/sql/workflowEvents.ts";
import { resumeRun } from "../db/sql/resumeRun.ts";
import { sendEvent } from "../db/sql/sendEvent.ts";
import { MAX_REASON_CHARS, setAuditReason } from "../db/sql/setAuditReason.ts";
import { startRun } from "../db/sql/startRun.ts";
import { traceContextOf, withTraceContext } from "./trace-header.ts";
import type { Logger } from "../lib/logger.ts";
import { authOf, requireRole, withWorkspace } from "./auth.ts";
import { batchesRouter } from "./batches.ts";
import type { EventsHub } from "./events-hub.ts";
import { carriesBody, HttpStatusError, parseBody } from "./http-errors.ts";
import { pipeRunEvents, type SseStreams } from "./sse.ts";

export interface RestDeps {
  pool: Pool;
  hub: EventsHub;
  sse: SseStreams;
  log: Logger;
}

/**
 * The request's shape. The run input itself is judged by the runs trigger, through startRun
 * (db/sql/startRun.ts), as for every other way of starting a run: same rules, same
 * `invalid_run_input` errors.
 */
export const StartRunBodySchema = z.strictObject({
  agent: z.string().min(1, "must name an agent (its id or name)"),
  input: z.unknown().optional(), // absent: the trigger says what an input must be
  thread_id: z.uuid("must be a UUID").nullish(),
  // higher first within the workspace (000023); absent or 0: the agent's config.priority, else 0
  priority: RunPrioritySchema.nullish(),
});

/** Why an operator acts: kept in the audit log with the action (details.reason). */
const ReasonSchema = z.string().max(MAX_REASON_CHARS, `must be at most ${MAX_REASON_CHARS} characters`).nullish();

export const ResumeBodySchema = z.strictObject({
  resume: z.array(z.unknown()).min(1, "must answer at least one interrupt"),
  reason: ReasonSchema,
});

export const SendEventBodySchema = z.strictObject({
  name: z.string().min(1, "must name the event").max(200, "must be at most 200 characters"),
  payload: z.unknown().optional(),
  reason: ReasonSchema,
});

/** An event for the workflow runs waiting for its name and correlation key (everruns.send_event_by_key). */
export const SendEventByKeyBodySchema = z.strictObject({
  name: z.string().min(1, "must name the event").max(200, "must be at most 200 characters"),
  correlation_key: z.string().min(1, "must give the correlation key the workflow waits for").max(200, "must be at most 200 characters"),
  payload: z.unknown().optional(),
  reason: ReasonSchema,
});

/** Redrive: a body is optional ({"reason", "from_state"}); from_state: the state to start again from (default: the one it failed in). */
export const RedriveBodySchema = z.strictObject({
  reason: ReasonSchema,
  from_state: z.string().min(1).max(80, "must be a state name of at most 80 characters").nullish(),
});

/** Cancel and rerun: a body is optional ({"reason": "..."}). */
export const ReasonBodySchema = z.strictObject({ reason: ReasonSchema });

/** Rerun: a body is optional ({"reason", "from_step"}); from_step: continue from that committed step of the run. */
export const RerunBodySchema = z.strictObject({
  reason: ReasonSchema,
  from_step: z.number().int("must be a whole step number").min(0, "must be a step number (0 or more)").max(2_147_483_647).nullish(),
});

/**
 * The optional body of cancel and rerun: no body at all means no reason. A body express.json did
 * not parse (another Content-Type: text/plain, a form) still goes to parseBody, which answers 415
 * saying what to send: the caller's reason must not be dropped without a word. (Malformed JSON
 * sent as application/json never gets here: express.json fails it, 400 invalid_json.)
 */
function optionalBody<T>(req: Request, schema: z.ZodType<T>, what: string): T | null {
  if (req.body === undefined && !carriesBody(req)) return null;
  return parseBody(req, schema, what);
}

/** A path parameter that must be a run id. */
export function runIdParam(req: Request): string {
  const id = String(req.params.id ?? "");
  if (!isUuid(id)) throw new ValidationError(`run id must be a UUID, got "${id}"`);
  return id.toLowerCase();
}

/** Which cursor a stream request resumes with: the Last-Event-ID header wins over ?after=. */
export function resumeCursorName(req: Request): "Last-Event-ID" | "after" {
  const header = req.get("last-event-id");
  return header !== undefined && header !== "" ? "Last-Event-ID" : "after";
}

/**
 * Where to resume a stream: the Last-Event-ID header, else ?after=, else the start. (Whether the
 * run has that seq is the events hub's to check, once it watches the run: subscribeRunEvents.)
 */
export function resumeCursor(req: Request): number {
  const name = resumeCursorName(req);
  const raw = name === "Last-Event-ID" ? req.get("last-event-id") : req.query.after;
  if (raw === undefined || raw === "") return 0;
  // a repeated or nested parameter (?after=1&after=2, ?after[x]=1) is shown as JSON, not "[object Object]"
  const text = typeof raw === "string" ? raw : JSON.stringify(raw);
  if (!/^\d{1,9}$/.test(text)) {
    throw new ValidationError(`${name} must be an event seq (a whole number ≥ 0), got "${text}"`);
  }
  return Number(text);
}

/**
 * 410 history_expired: retention removed the run's events and steps (000038); its summary is
 * GET /api/runs/:id. Only a run of the key's workspace gets it (another's is a 404 first).
 */
export function historyExpiredError(runId: string, expiry: HistoryExpiry): HttpStatusError {
  return new HttpStatusError(410, "history_expired", historyExpiredMessage(runId, expiry));
}

export function restRouter({ pool, hub, sse, log }: RestDeps): Router {
  const router = Router();
  router.use(batchesRouter({ pool, hub, sse, log })); // /api/batches (issue 15)

  router.get("/api/whoami", (req, res) => {
    const auth = authOf(req);
    res.json({ workspace: { id: auth.workspaceId, name: auth.workspaceName }, role: auth.role, key_id: auth.keyId });
  });

  router.post("/api/runs", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "operator", "starting a run");
    const body = parseBody(req, StartRunBodySchema, "run request");
    // a W3C traceparent header (and its tracestate): the run's trace continues the caller's (api/trace-header.ts)
    const trace = traceContextOf(req.headers);
    const run = await withWorkspace(pool, auth, (db) =>
      withTraceContext(db, trace, () =>
        startRun(db, { agent: body.agent, input: body.input, threadId: body.thread_id ?? null, priority: body.priority ?? null }),
      ),
    );
    res.status(201).location(`/api/runs/${run.id}`).json({ id: run.id, status: run.status, thread_id: run.thread_id });
  });

  router.get("/api/runs/:id", async (req, res) => {
    const runId = runIdParam(req);
    const run = await withWorkspace(pool, authOf(req), (db) => getRun(db, runId));
    if (!run) throw new NotFoundError(`unknown run ${runId}`);
    res.json(run);
  });

  router.post("/api/runs/:id/cancel", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "operator", "cancelling a run");
    const runId = runIdParam(req);
    const reason = optionalBody(req, ReasonBodySchema, "cancel request")?.reason ?? null;
    const { cancelled, run } = await withWorkspace(pool, auth, async (db) => {
      await setAuditReason(db, reason);
      return { cancelled: await cancelRun(db, runId), run: await getRun(db, runId) };
    });
    res.json({ id: runId, cancelled, status: run?.status ?? "cancelled" });
  });

  // A failed or cancelled run again: a new run on its thread with the same agent version and
  // input (everruns.rerun_run), replacing it in the thread's history, audited as run.rerun on
  // the original; with from_step, continuing from that committed step of the run (000016).
  router.post("/api/runs/:id/rerun", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "operator", "rerunning a run");
    const runId = runIdParam(req);
    const body = optionalBody(req, RerunBodySchema, "rerun request") ?? {};
    const fromStep = body.from_step ?? null;
    const run = await withWorkspace(pool, auth, async (db) => {
      await setAuditReason(db, body.reason ?? null);
      return getRun(db, await rerunRun(db, runId, fromStep));
    });
    res
      .status(201)
      .location(`/api/runs/${run!.id}`)
      .json({ id: run!.id, status: run!.status, thread_id: run!.thread_id, rerun_of: runId, ...(fromStep !== null && { from_step: fromStep }) });
  });

  // A failed workflow run again from a state (everruns.redrive_run, 000034): a new run on its
  // thread at the same version, starting at the state with the input it had there.
  router.post("/api/runs/:id/redrive", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "operator", "redriving a workflow run");
    const runId = runIdParam(req);
    const body = optionalBody(req, RedriveBodySchema, "redrive request") ?? {};
    const run = await withWorkspace(pool, auth, async (db) => {
      await setAuditReason(db, body.reason ?? null);
      return getRun(db, await redriveRun(db, runId, body.from_state ?? null));
    });
    res.status(201).location(`/api/runs/${run!.id}`).json({ id: run!.id, status: run!.status, thread_id: run!.thread_id, redrive_of: runId });
  });

  // An event for the workflow runs of the key's workspace that wait for its name and correlation
  // key (everruns.send_event_by_key): `delivered` counts them; 0: kept for the first that waits.
  router.post("/api/events", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "operator", "sending an event");
    const body = parseBody(req, SendEventByKeyBodySchema, "event");
    const delivered = await withWorkspace(pool, auth, async (db) => {
      await setAuditReason(db, body.reason);
      return sendEventByKey(db, body.name, body.correlation_key, body.payload);
    });
    res.status(201).json({ name: body.name, correlation_key: body.correlation_key, delivered });
  });

  router.post("/api/runs/:id/resume", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "operator", "answering a run's interrupts");
    const runId = runIdParam(req);
    const body = parseBody(req, ResumeBodySchema, "resume request");
    const { continuation, run } = await withWorkspace(pool, auth, async (db) => {
      await setAuditReason(db, body.reason);
      const continuation = await resumeRun(db, runId, body.resume);
      return { continuation, run: await getRun(db, continuation) };
    });
    res
      .status(201)
      .location(`/api/runs/${continuation}`)
      .json({ id: continuation, status: run?.status ?? "queued", thread_id: run?.thread_id });
  });

  // An external event for a run waiting in wait_for_event (everruns.send_event). `woke` says
  // whether it woke the run now; otherwise the event is kept for the run's next wait of that name.
  router.post("/api/runs/:id/signals", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "operator", "sending an event to a run");
    const runId = runIdParam(req);
    const body = parseBody(req, SendEventBodySchema, "event");
    const woke = await withWorkspace(pool, auth, async (db) => {
      await setAuditReason(db, body.reason);
      return sendEvent(db, runId, body.name, body.payload);
    });
    res.status(201).json({ id: runId, name: body.name, woke });
  });

  // The hub reads events on its own connection: the run is checked against the key's workspace
  // first (a run's workspace never changes). A cursor past the run's last event is refused (400
  // invalid_cursor) before the stream begins; one at the end of a finished run gets an empty
  // stream that ends at once. A run whose events retention removed (000038) is a 410
  // history_expired saying when, whatever the cursor.
  router.get("/api/runs/:id/events", async (req, res) => {
    const runId = runIdParam(req);
    const after = resumeCursor(req);
    const { run, expiry } = await withWorkspace(pool, authOf(req), async (db) => {
      const run = await getRun(db, runId);
      return { run, expiry: run?.history_expired_at ? await runHistoryExpiry(db, runId) : null };
    });
    if (!run) throw new NotFoundError(`unknown run ${runId}`);
    if (expiry) throw historyExpiredError(runId, expiry);
    const subscription = await hub.subscribeRunEvents(runId, after, { cursorName: resumeCursorName(req) });
    sse.begin(res);
    await pipeRunEvents(res, subscription, log, runId);
  });

  return router;
}
