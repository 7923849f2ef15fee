// REST of batches (issue 15, 000025): create one from a JSONL body streamed straight into
// Postgres, list and read them with their progress, control them (start, pause, resume, cancel,
// retry_failed, parallel), follow their results as JSONL and their progress as SSE. Every route
// acts for the request's API key: reads need any role, changes `operator`; the queries run under
// the key's workspace (row-level security), so another workspace's batch is an unknown batch.
//
// POST /api/batches takes its options as query parameters and its items as the body, one JSON
// object per line: {"custom_id"?: "...", "input": {...a run input...}}. The body is never held
// whole: the request is read chunk by chunk (backpressure: the next chunk is read once COPY took
// the last), split into lines, each line checked by zod and written with its line number to
// `COPY <staging table> FROM STDIN` in the transaction that inserted the batch; then one
// insert … select moves the items into everruns.batch_items (db/sql/batchItemsStage.ts says why
// not COPY into it directly: row-level security), and start_batch starts it. Memory stays at a
// few chunks and one line (at most 1 MiB) whatever the item count. Bad lines are collected by
// line number (the first 100) while the rest is still read and checked; what the database
// refuses (a repeated custom_id, an input the runs' rules reject) is named by line too; then the
// transaction rolls back: nothing is created.
//
// Why not stream.pipeline(req, splitter, copy): pipeline destroys every stream on an error,
// the request included, and the request must outlive a refused COPY to answer 400 naming the
// lines. Reading the request with an async iterator gives the same backpressure.
//
// Timeouts: the request deadline (api/request-deadline.ts, EVERRUNS_HTTP_REQUEST_TIMEOUT_MS, 30 s)
// bounds how long a whole request may take to arrive; an upload of millions of items takes
// longer. This route lifts its request's deadline once it is authorised, and bounds it itself: no byte for
// idleMs (60 s) ends it, and so does maxMs (2 h) in all, also the transaction's statement timeout.
// At most `concurrent` (4) uploads at once per API process: each holds a database connection.
import { Router, type Request, type Response } from "express";
import { liftRequestDeadline } from "./request-deadline.ts";
import { z } from "zod";
import { NotFoundError, ValidationError } from "../db/errors.ts";
import { isUuid, type Pool } from "../db/pool.ts";
import { describeIssues } from "../db/schemas.ts";
import { BATCH_CONTROLS, controlBatch, type BatchControl } from "../db/sql/batchControl.ts";
import { createBatch } from "../db/sql/batchCreate.ts";
import { getBatch, type BatchView } from "../db/sql/batchGet.ts";
import { insertBatchItemsFromStage } from "../db/sql/batchItemsFromStage.ts";
import { openBatchItemsStage } from "../db/sql/batchItemsStage.ts";
import { listBatches } from "../db/sql/batchList.ts";
import { parseBatchResultsCursor, readBatchResults, type BatchResultsCursor } from "../db/sql/batchResults.ts";
import { readBatchResultsState } from "../db/sql/batchResultsState.ts";
import { MAX_RETRY_CUSTOM_IDS, retryFailedItems } from "../db/sql/batchRetryFailed.ts";
import { setBatchParallel } from "../db/sql/batchSetParallel.ts";
import { describeStorableProblem, findStorableProblem } from "../lib/storable-json.ts";
import type { Logger } from "../lib/logger.ts";
import { sleep } from "../lib/sleep.ts";
import { authOf, requireRole, withWorkspace } from "./auth.ts";
import type { EventsHub } from "./events-hub.ts";
import { carriesBody, HttpStatusError, parseBody, parseQuery } from "./http-errors.ts";
import { SSE_END_COMMENT, type SseStreams } from "./sse.ts";

/** The limits of one upload (POST /api/batches). */
export interface BatchUploadLimits {
  /** One line of the body (a 400 naming the line beyond it). */
  maxLineBytes: number;
  /** The whole body (413 beyond it). */
  maxBodyBytes: number;
  /** Items per batch (413 beyond it). */
  maxItems: number;
  /** No byte of the body for this long ends the upload. */
  idleMs: number;
  /** The longest an upload may take in all (and the COPY's statement timeout). */
  maxMs: number;
  /** Uploads at once in this process (each holds a database connection while it streams): 429 beyond. */
  concurrent: number;
}

export const DEFAULT_BATCH_UPLOAD_LIMITS: BatchUploadLimits = {
  maxLineBytes: 1024 * 1024,
  maxBodyBytes: 2 * 1024 * 1024 * 1024,
  maxItems: 10_000_000,
  idleMs: 60_000,
  maxMs: 2 * 60 * 60 * 1000,
  concurrent: 4,
};

export interface BatchesDeps {
  pool: Pool;
  hub: EventsHub;
  sse: SseStreams;
  log: Logger;
  uploadLimits?: Partial<BatchUploadLimits>;
  /** A follower of results or progress reads the batch at most this often (woken by the hub's everruns:batches). */
  pollMs?: number;
  /** …and at least this often without a notification (one lost with a dropped LISTEN connection). */
  fallbackMs?: number;
}

/** At most this many bad lines are reported. */
const MAX_REPORTED_LINES = 100;
/** Results are read in pages of this many (everruns.batch_results). */
const RESULTS_PAGE = 1000;
const BATCH_STATUSES = ["queued", "running", "paused", "succeeded", "completed_with_errors", "failed", "cancelled"] as const;
const JSONL_TYPES = ["application/x-ndjson", "application/jsonl", "application/json-lines", "application/x-jsonlines", "text/plain"];

// Query parameters arrive as text; a repeated one as an array, which these refuse by type.
const intParam = (min: number, max: number) =>
  z
    .string()
    .regex(/^-?\d{1,10}$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
const boolParam = z.enum(["true", "false", "1", "0"], "must be true or false").transform((v) => v === "true" || v === "1");

/** The options of POST /api/batches (query parameters). results_table is SQL's only. */
export const CreateBatchQuerySchema = z
  .strictObject({
    agent: z.string("must name an agent (its id or name)").min(1, "must name an agent (its id or name)").max(200),
    name: z.string().min(1, "must not be empty").max(200, "must be at most 200 characters").optional(),
    max_parallel: intParam(1, 10_000).optional(),
    priority: intParam(-1000, 1000).optional(),
    on_item_error: z.enum(["continue", "stop_after"], "must be continue or stop_after").optional(),
    stop_after_failures: intParam(1, 2_147_483_647).optional(),
    stop_after_ratio: z
      .string()
      .regex(/^(0?\.\d+|1(\.0+)?|0)$/, "must be a ratio above 0 and at most 1 (e.g. 0.05)")
      .transform(Number)
      .pipe(z.number().gt(0, "must be above 0").max(1))
      .optional(),
    deadline: z.iso.datetime({ offset: true, message: "must be an ISO time with its offset (2025-01-31T18:00:00Z)" }).optional(),
    start: boolParam.optional(),
  })
  .superRefine((q, ctx) => {
    if (q.on_item_error === "stop_after" && q.stop_after_failures === undefined && q.stop_after_ratio === undefined) {
      ctx.addIssue({ code: "custom", path: ["on_item_error"], message: "stop_after needs stop_after_failures or stop_after_ratio" });
    }
  });

/** One line of the body. */
export const BatchItemLineSchema = z.strictObject({
  custom_id: z.string().min(1, "must not be empty").max(200, "must be at most 200 characters").nullish(),
  input: z.record(z.string(), z.unknown(), 'must be a run input object ({"messages": [...]})'),
});

export const ListBatchesQuerySchema = z.strictObject({
  limit: intParam(1, 100).optional(),
  status: z.enum(BATCH_STATUSES, `must be one of ${BATCH_STATUSES.join(", ")}`).optional(),
});

export const RetryFailedBodySchema = z.strictObject({
  custom_ids: z.array(z.string().min(1).max(200)).max(MAX_RETRY_CUSTOM_IDS, `at most ${MAX_RETRY_CUSTOM_IDS} at once`).nullish(),
  include_cancelled: z.boolean().nullish(),
});

export const SetParallelBodySchema = z.strictObject({
  max_parallel: z.number().int("must be a whole number").min(1, "must be at least 1").max(10_000, "must be at most 10000"),
});

export const ResultsQuerySchema = z.strictObject({
  after: z.string().optional(),
  follow: boolParam.optional(),
  limit: intParam(1, 1_000_000_000).optional(),
});

/** A bad line of an upload. */
export interface BadLine {
  line: number;
  message: string;
}

/** 400 invalid_items: the body's bad lines; nothing was created. */
export class InvalidItemsError extends HttpStatusError {
  readonly lines: BadLine[];
  constructor(lines: BadLine[], more: boolean) {
    const shown = lines.slice(0, MAX_REPORTED_LINES);
    super(
      400,
      "invalid_items",
      `${more ? `more than ${shown.length}` : shown.length} line${shown.length === 1 && !more ? "" : "s"} of the batch ${shown.length === 1 && !more ? "is" : "are"} invalid ` +
        `(first: line ${shown[0]!.line}: ${shown[0]!.message}); nothing was created: fix ${shown.length === 1 && !more ? "it" : "them"} and send the whole batch again`,
    );
    this.lines = shown;
  }
}

/** A path parameter that must be a batch id. */
function batchIdParam(req: Request): string {
  const id = String(req.params.id ?? "");
  if (!isUuid(id)) throw new ValidationError(`batch id must be a UUID, got "${id}"`);
  return id.toLowerCase();
}

/** An optional JSON body: none at all is `{}`; any other (text/plain, a form) gets parseBody's 415. */
function optionalJsonBody<T>(req: Request, schema: z.ZodType<T>, what: string): T {
  if (req.body === undefined && !carriesBody(req)) return schema.parse({});
  return parseBody(req, schema, what);
}

/** The lines of a body: each line's bytes (without its newline), or null when it is longer than the limit. */
async function* splitLines(
  chunks: AsyncIterable<Buffer>,
  limits: BatchUploadLimits,
  onChunk: () => void,
): AsyncGenerator<{ number: number; bytes: Buffer | null }> {
  let parts: Buffer[] = [];
  let partBytes = 0;
  let tooLong = false;
  let number = 0;
  let total = 0;
  for await (const chunk of chunks) {
    onChunk();
    total += chunk.length;
    if (total > limits.maxBodyBytes) {
      throw new HttpStatusError(413, "too_large", `a batch body may hold at most ${limits.maxBodyBytes} bytes; split the items into several batches`);
    }
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(10, start);
      const end = newline < 0 ? chunk.length : newline;
      if (!tooLong && end > start) {
        if (partBytes + (end - start) > limits.maxLineBytes) {
          tooLong = true;
          parts = [];
          partBytes = 0;
        } else {
          parts.push(chunk.subarray(start, end));
          partBytes += end - start;
        }
      }
      if (newline < 0) break;
      number++;
      yield { number, bytes: tooLong ? null : parts.length === 1 ? parts[0]! : Buffer.concat(parts, partBytes) };
      parts = [];
      partBytes = 0;
      tooLong = false;
      start = newline + 1;
    }
  }
  if (tooLong || partBytes > 0) yield { number: number + 1, bytes: tooLong ? null : Buffer.concat(parts, partBytes) };
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Checks one line of the body: the row to COPY, or why not. */
function checkLine(
  bytes: Buffer | null,
  limits: BatchUploadLimits,
): { blank: true } | { row: { customId: string | null; inputJson: string } } | { error: string } {
  if (bytes === null) return { error: `the line is longer than ${limits.maxLineBytes} bytes` };
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return { error: "the line is not valid UTF-8" };
  }
  if (text.trim() === "") return { blank: true };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { error: `not valid JSON: ${(error as Error).message}` };
  }
  const problem = findStorableProblem(value);
  if (problem) return { error: describeStorableProblem(problem) };
  const parsed = BatchItemLineSchema.safeParse(value);
  if (!parsed.success) return { error: describeIssues(parsed.error) };
  return { row: { customId: parsed.data.custom_id ?? null, inputJson: JSON.stringify(parsed.data.input) } };
}

async function waitForDrain(res: Response): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

/** An AbortSignal that aborts when the client goes away (the response closes before it ended). */
function clientGone(res: Response): AbortSignal {
  const controller = new AbortController();
  res.once("close", () => controller.abort(new Error("the client went away")));
  return controller.signal;
}

// The uploads under way in this process, for abortBatchUploads, and those it ended.
const openUploads = new Set<Request>();
const abortedUploads = new WeakSet<Request>();

/**
 * Ends the batch uploads under way on `server` (all of this process's without one): its
 * closeAllConnections() no longer reaches them once exempted from the request timeout, so a
 * shutdown calls this before closing the server. Each transaction rolls back; nothing is created.
 */
export function abortBatchUploads(server?: object): void {
  for (const req of openUploads) {
    if (server === undefined || (req.socket as unknown as { server?: object }).server === server) {
      abortedUploads.add(req);
      req.destroy(new Error("the API is shutting down"));
    }
  }
}

const CONTROL_VERBS: Record<BatchControl, string> = { start: "starting", pause: "pausing", resume: "resuming", cancel: "cancelling" };

export function batchesRouter({ pool, hub, sse, log, uploadLimits, pollMs = 1000, fallbackMs = 15_000 }: BatchesDeps): Router {
  const router = Router();
  const limits: BatchUploadLimits = { ...DEFAULT_BATCH_UPLOAD_LIMITS, ...uploadLimits };
  let uploads = 0;

  const readBatch = async (req: Request, batchId: string): Promise<BatchView> => {
    const batch = await withWorkspace(pool, authOf(req), (db) => getBatch(db, batchId));
    if (!batch) throw new NotFoundError(`unknown batch ${batchId}`);
    return batch;
  };

  router.post("/api/batches", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "operator", "creating a batch");
    const query = parseQuery(req, CreateBatchQuerySchema, "batch options");
    const type = (req.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (req.body !== undefined || !JSONL_TYPES.includes(type)) {
      throw new HttpStatusError(
        415,
        "unsupported_media_type",
        'send the items as JSONL, one {"custom_id"?, "input"} object per line, with Content-Type: application/x-ndjson (or application/jsonl)',
      );
    }
    const declared = Number(req.get("content-length") ?? NaN);
    if (declared > limits.maxBodyBytes) {
      res.set("Connection", "close");
      throw new HttpStatusError(413, "too_large", `a batch body may hold at most ${limits.maxBodyBytes} bytes; split the items into several batches`);
    }
    if (uploads >= limits.concurrent) {
      res.set("Connection", "close").set("Retry-After", "5");
      throw new HttpStatusError(429, "too_many_uploads", `this API takes at most ${limits.concurrent} batch uploads at once; retry shortly`);
    }
    uploads++;
    openUploads.add(req);
    liftRequestDeadline(req);
    // the upload's own clocks: idle (refreshed by every chunk) and in all
    const clock: { timedOut: string | null } = { timedOut: null };
    const stop = (why: string) => {
      clock.timedOut = why;
      req.destroy(new Error(why));
    };
    const idle = setTimeout(() => stop(`no data for ${limits.idleMs} ms`), limits.idleMs);
    const overall = setTimeout(() => stop(`the upload took longer than ${limits.maxMs} ms`), limits.maxMs);
    try {
      const created = await withWorkspace(pool, auth, async (db) => {
        const batch = await createBatch(db, {
          agent: query.agent,
          name: query.name,
          maxParallel: query.max_parallel,
          priority: query.priority,
          onItemError: query.on_item_error,
          stopAfterFailures: query.stop_after_failures,
          stopAfterRatio: query.stop_after_ratio,
          deadline: query.deadline,
        });
        const stage = await openBatchItemsStage(db, { statementTimeoutMs: limits.maxMs });
        const bad: BadLine[] = [];
        let more = false;
        let rows = 0;
        try {
          for await (const { number, bytes } of splitLines(req.iterator({ destroyOnReturn: false }), limits, () => idle.refresh())) {
            if (bad.length >= MAX_REPORTED_LINES) {
              more = true;
              continue; // read to the end (the client is still sending), no longer checking
            }
            const checked = checkLine(bytes, limits);
            if ("blank" in checked) continue;
            if ("error" in checked) {
              bad.push({ line: number, message: checked.error });
              continue;
            }
            rows++;
            if (rows > limits.maxItems) {
              throw new HttpStatusError(413, "too_large", `a batch holds at most ${limits.maxItems} items; split them into several batches`);
            }
            await stage.write(number, checked.row.customId, checked.row.inputJson);
            if (stage.failure !== null) throw stage.failure;
          }
        } catch (error) {
          await stage.abort();
          throw error;
        }
        if (more || bad.length >= MAX_REPORTED_LINES) {
          await stage.abort(); // the COPY is still open: the rollback would wait behind it
          throw new InvalidItemsError(bad, more);
        }
        if (bad.length === 0 && rows === 0) {
          await stage.abort();
          throw new ValidationError('the body holds no items: send one JSON object per line, {"custom_id"?: "...", "input": {"messages": [...]}}', {
            code: "invalid_items",
          });
        }
        // the lines zod passed, checked by the database too: one report of both kinds
        await stage.finish();
        const moved = await insertBatchItemsFromStage(db, batch.id, MAX_REPORTED_LINES - bad.length);
        if ("problems" in moved) bad.push(...moved.problems);
        if (bad.length > 0)
          throw new InvalidItemsError(
            bad.sort((x, y) => x.line - y.line),
            false,
          );
        const items = "inserted" in moved ? moved.inserted : 0;
        const status = query.start === false ? batch.status : await controlBatch(db, "start", batch.id);
        return { id: batch.id, status, items };
      });
      res.status(201).location(`/api/batches/${created.id}`).json(created);
    } catch (error) {
      // an answer before the body's end: the connection closes with it, or node would go on
      // reading the rest of the body with no deadline (this request's was lifted)
      if (!req.complete) res.set("Connection", "close");
      if (abortedUploads.has(req))
        throw new HttpStatusError(503, "shutting_down", "the API shut down during the upload; nothing was created: send the batch again");
      if (clock.timedOut !== null) throw new HttpStatusError(408, "request_timeout", `the batch upload was ended: ${clock.timedOut}`, { cause: error });
      if (error instanceof InvalidItemsError) {
        res.status(400).json({ error: { code: error.code, message: error.message, lines: error.lines } });
        return;
      }
      throw error;
    } finally {
      clearTimeout(idle);
      clearTimeout(overall);
      openUploads.delete(req);
      uploads--;
    }
  });

  router.get("/api/batches", async (req, res) => {
    const query = parseQuery(req, ListBatchesQuerySchema, "batch list query");
    const batches = await withWorkspace(pool, authOf(req), (db) => listBatches(db, { limit: query.limit ?? 50, status: query.status ?? null }));
    res.json({ batches: batches });
  });

  router.get("/api/batches/:id", async (req, res) => {
    res.json(await readBatch(req, batchIdParam(req)));
  });

  for (const action of BATCH_CONTROLS) {
    router.post(`/api/batches/:id/${action}`, async (req, res) => {
      const auth = authOf(req);
      requireRole(auth, "operator", `${CONTROL_VERBS[action]} a batch`);
      const batchId = batchIdParam(req);
      const batch = await withWorkspace(pool, auth, async (db) => {
        await controlBatch(db, action, batchId);
        return getBatch(db, batchId);
      });
      res.json(batch);
    });
  }

  router.post("/api/batches/:id/retry_failed", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "operator", "retrying a batch's items");
    const batchId = batchIdParam(req);
    const body = optionalJsonBody(req, RetryFailedBodySchema, "retry request");
    const answer = await withWorkspace(pool, auth, async (db) => {
      const retried = await retryFailedItems(db, batchId, body.custom_ids ?? null, body.include_cancelled ?? false);
      return { retried, batch: await getBatch(db, batchId) };
    });
    res.json(answer);
  });

  router.post("/api/batches/:id/parallel", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "operator", "changing a batch's parallelism");
    const batchId = batchIdParam(req);
    const body = parseBody(req, SetParallelBodySchema, "parallelism request");
    const batch = await withWorkspace(pool, auth, async (db) => {
      await setBatchParallel(db, batchId, body.max_parallel);
      return getBatch(db, batchId);
    });
    res.json(batch);
  });

  // Finished items as JSONL, each line with the cursor to resume after it. Without follow the
  // stream ends after the last result there is now; with follow it waits for more and ends once
  // the batch has ended and every result was written. Each page is its own short transaction.
  router.get("/api/batches/:id/results", async (req, res) => {
    const auth = authOf(req);
    const batchId = batchIdParam(req);
    const query = parseQuery(req, ResultsQuerySchema, "results query");
    let after: BatchResultsCursor | null = null;
    if (query.after !== undefined && query.after !== "") {
      after = parseBatchResultsCursor(query.after);
      if (!after)
        throw new ValidationError(`after must be a cursor of this batch's results (a line's "cursor"), got "${query.after}"`, { code: "invalid_cursor" });
    }
    await readBatch(req, batchId);
    const gone = clientGone(res);
    res.status(200);
    res.setHeader("Content-Type", "application/x-ndjson; charset=utf-8");
    res.setHeader("Cache-Control", "no-cache, no-transform");
    res.setHeader("X-Accel-Buffering", "no");
    res.flushHeaders();
    res.socket?.setTimeout(0);
    let left = query.limit ?? Infinity;
    const waker = hub.watchBatch(batchId);
    try {
      while (!gone.aborted && left > 0) {
        const want = Math.min(RESULTS_PAGE, left);
        const page = await withWorkspace(pool, auth, (db) => readBatchResults(db, batchId, after, want));
        for (const row of page) {
          if (gone.aborted) return;
          if (!res.write(`${JSON.stringify(row)}\n`)) await waitForDrain(res);
        }
        left -= page.length;
        if (page.length > 0) {
          after = parseBatchResultsCursor(page.at(-1)!.cursor);
          if (page.length === want) continue;
        }
        if (!query.follow) break;
        const state = await withWorkspace(pool, auth, (db) => readBatchResultsState(db, batchId, after));
        if (!state || (state.settled && !state.pending)) break;
        await sleep(pollMs, gone).catch(() => undefined);
        // results past the cursor not yet readable (an older transaction still open) are not
        // announced again: read again after pollMs; else wait for the batch to change
        if (!state.pending) await waker.next(fallbackMs, gone);
      }
      if (!gone.aborted) res.end();
    } catch (error) {
      log.warn(`results stream of batch ${batchId} failed: ${(error as Error).message}`);
      res.destroy(); // a cut stream, never a clean end: the client resumes from its last cursor
    } finally {
      waker.close();
    }
  });

  // The batch's progress as AG-UI CUSTOM events (everruns.batch_progress): the first at once,
  // then one per change (woken by everruns:batches) at most every pollMs, the last once the batch has ended and none of its
  // items is queued or running; then `: end`. Heartbeats are SseStreams'.
  router.get("/api/batches/:id/progress", async (req, res) => {
    const auth = authOf(req);
    const batchId = batchIdParam(req);
    let batch = await readBatch(req, batchId);
    const gone = clientGone(res);
    sse.begin(res);
    let last = "";
    const waker = hub.watchBatch(batchId);
    try {
      for (;;) {
        const value = { status: batch.status, ...batch.progress };
        const frame = `data: ${JSON.stringify({ type: "CUSTOM", name: "everruns.batch_progress", value })}\n\n`;
        if (frame !== last) {
          last = frame;
          if (!res.write(frame)) await waitForDrain(res);
        }
        if (gone.aborted) return;
        if (batch.finished_at !== null && batch.progress.queued === 0 && batch.progress.running === 0) break;
        await sleep(pollMs, gone);
        await waker.next(fallbackMs, gone);
        const next = await withWorkspace(pool, auth, (db) => getBatch(db, batchId));
        if (!next) break;
        batch = next;
      }
      res.end(SSE_END_COMMENT);
    } catch (error) {
      if (gone.aborted) return;
      log.warn(`progress stream of batch ${batchId} failed: ${(error as Error).message}`);
      res.end();
    } finally {
      waker.close();
    }
  });

  return router;
}
