// The AG-UI endpoint: POST /api/agents/:agent/agui with a RunAgentInput, answered with the SSE
// stream of the run's events. Works with @ag-ui/client's HttpAgent unchanged.
//
// The run is durable: it is a row in everruns.runs with the client's runId and threadId, and
// the response only follows its event log. A client that disconnects stops reading, not the
// run; a retried POST with the same runId streams the run it already started.
//
// HttpAgent sends the whole conversation on every request. The worker rebuilds the earlier
// turns from the thread's previous runs, so the run's input keeps only the messages that are
// new to the thread (ids not seen in an earlier run's input or produced by a committed step).
//
// It needs an API key of role operator; agents, runs and threads are those of the key's
// workspace (each read and the insert run under it: api/auth.ts).
//
// forwardedProps.priority (-1000..1000) sets the new run's priority (000023).
//
// Retention (000038) removes a finished run's events and steps and keeps its row. Replaying such
// a run answers 410 history_expired. So does continuing a thread whose history a new run needs
// has expired in part: the worker would see the expired runs' inputs without their answers, and
// this endpoint, no longer knowing their answers' message ids, would take the client's copies of
// those answers for new messages. The client keeps the whole conversation, so the way on is a new
// threadId: HttpAgent sends every message, and they all become the new thread's history.
import { createHash } from "node:crypto";
import { Router } from "express";
import { RunAgentInputSchema } from "@ag-ui/core/schemas";
import { z } from "zod";
import { isUniqueViolation, NotFoundError, ValidationError } from "../db/errors.ts";
import { isUuid, type Pool, type Queryable } from "../db/pool.ts";
import { describeIssues, RunPrioritySchema } from "../db/schemas.ts";
import { findAgentId } from "../db/sql/findAgentId.ts";
import { getRun } from "../db/sql/getRun.ts";
import { describeRetention, runHistoryExpiry } from "../db/sql/runHistoryExpiry.ts";
import { threadHistoryExpiry } from "../db/sql/threadHistoryExpiry.ts";
import { startRun } from "../db/sql/startRun.ts";
import { traceContextOf, withTraceContext } from "./trace-header.ts";
import { threadMessageIds } from "../db/sql/threadMessageIds.ts";
import type { Logger } from "../lib/logger.ts";
import { authOf, requireRole, withWorkspace } from "./auth.ts";
import type { EventsHub } from "./events-hub.ts";
import { HttpStatusError, parseBody } from "./http-errors.ts";
import { historyExpiredError } from "./rest.ts";
import { pipeRunEvents, type SseStreams } from "./sse.ts";

export interface AgUiDeps {
  pool: Pool;
  hub: EventsHub;
  sse: SseStreams;
  log: Logger;
}

/** Roles a run's input can carry; reasoning and activity messages are outputs the engine rebuilds. */
const INPUT_ROLES = new Set(["user", "assistant", "system", "developer", "tool"]);

/**
 * Our ids are UUIDs; AG-UI ids are any string. A UUID is kept as it is; anything else maps to a
 * stable name-based UUID (v5 layout over SHA-1), so a retried request lands on the same run.
 */
export function agUiIdToUuid(id: string): string {
  if (isUuid(id)) return id.toLowerCase();
  const hash = createHash("sha1").update(`everruns:ag-ui:${id}`).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The forwarded props Everruns reads; the rest are the client's own and are ignored. */
const ForwardedPropsSchema = z.looseObject({ priority: RunPrioritySchema.nullish() });

/**
 * forwardedProps.priority: the new run's priority (-1000..1000, higher first within the
 * workspace; 000023). Absent: the agent's config.priority, else 0. A bad value is a 400 naming
 * the field, as parseBody answers any other bad RunAgentInput.
 */
export function forwardedPriority(forwardedProps: unknown): number | null {
  if (forwardedProps === null || typeof forwardedProps !== "object" || Array.isArray(forwardedProps)) return null;
  const result = ForwardedPropsSchema.safeParse(forwardedProps);
  if (!result.success) throw new ValidationError(`invalid AG-UI RunAgentInput: forwardedProps.${describeIssues(result.error)}`);
  return result.data.priority ?? null;
}

export function agUiRouter({ pool, hub, sse, log }: AgUiDeps): Router {
  const router = Router();

  router.post("/api/agents/:agent/agui", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "operator", "running an agent");
    const input = parseBody(req, RunAgentInputSchema, "AG-UI RunAgentInput");
    const priority = forwardedPriority(input.forwardedProps);
    const db = <T>(fn: (client: Queryable) => Promise<T>) => withWorkspace(pool, auth, fn);
    const agentRef = String(req.params.agent);
    const agentId = await db((c) => findAgentId(c, agentRef));
    if (!agentId) throw new NotFoundError(`no agent with id or name "${agentRef}"`);
    const runId = agUiIdToUuid(input.runId);
    const threadId = agUiIdToUuid(input.threadId);

    let existing = await db((c) => getRun(c, runId));
    if (!existing) {
      const { expired, known } = await db(async (c) => ({ expired: await threadHistoryExpiry(c, threadId), known: await threadMessageIds(c, threadId) }));
      // a thread whose earlier runs' history expired cannot be continued (see the top of this file).
      // An interrupt's answer (input.resume) is no exception, and never needs one: the answering
      // run reads the thread's earlier steps, and retention expires no run of a thread while one
      // of its runs waits for an answer (history_expirable, 000038)
      if (expired) {
        throw new HttpStatusError(
          410,
          "history_expired",
          `thread ${input.threadId} cannot be continued: the events and steps of ${expired.expiredRuns} of its earlier runs expired ` +
            `(the latest on ${expired.lastExpiredAt.toISOString()}, under ${describeRetention(expired.retentionDays)}), so a new run would not see ` +
            `that part of the conversation; continue on a new threadId, sending the whole conversation as its messages`,
        );
      }
      const messages = input.messages.filter((m) => INPUT_ROLES.has(m.role) && !known.has(m.id));
      // a workflow's run may start from its state alone (docs/workflows.md); HttpAgent sends {} when it has none
      const state = input.state as unknown;
      const startsWorkflow =
        messages.length === 0 &&
        typeof state === "object" &&
        state !== null &&
        !Array.isArray(state) &&
        Object.keys(state).length > 0 &&
        (await db((c) => c.query<{ kind: string | null }>("select config ->> 'kind' as kind from everruns.agents where id = $1", [agentId]))).rows[0]?.kind ===
          "workflow";
      if (messages.length === 0 && !input.resume?.length && !startsWorkflow) {
        // A retry racing the original request finds the original's messages on the thread
        // already: if that is what happened, the run exists now, and this request streams it.
        existing = await db((c) => getRun(c, runId));
        if (!existing) {
          throw new ValidationError(
            `nothing new to run: every message of this request is already part of thread ${input.threadId}; add a message (or a resume) to continue it`,
          );
        }
      } else {
        const parent = input.parentRunId ? await db((c) => getRun(c, agUiIdToUuid(input.parentRunId!))) : null;
        try {
          await db((c) =>
            // a W3C traceparent header (and its tracestate): the run's trace continues the caller's (api/trace-header.ts)
            withTraceContext(c, traceContextOf(req.headers), () =>
              startRun(c, {
                id: runId,
                agent: agentId,
                threadId,
                parentRunId: parent?.thread_id === threadId ? parent.id : null,
                priority,
                input: {
                  messages,
                  state: (input.state as unknown) ?? {},
                  context: input.context,
                  tools: input.tools,
                  ...(input.resume !== undefined && { resume: input.resume }),
                },
              }),
            ),
          );
        } catch (error) {
          // A concurrent retry got there first: it inserted the run (runs_pkey), or the new
          // thread the run was about to create (threads_pkey). Then stream that run.
          if (!isUniqueViolation(error)) throw error;
          existing = await db((c) => getRun(c, runId));
          if (!existing) throw error;
        }
      }
    }
    if (existing && (existing.thread_id !== threadId || existing.agent_id !== agentId)) {
      throw new HttpStatusError(409, "conflict", `run ${input.runId} already exists on another thread or agent; use a new runId`);
    }

    // a retried request for a run whose events retention removed: nothing to replay
    if (existing?.history_expired_at) {
      const expiry = await db((c) => runHistoryExpiry(c, runId));
      if (expiry) throw historyExpiredError(runId, expiry);
    }
    const subscription = await hub.subscribeRunEvents(runId, 0);
    sse.begin(res);
    await pipeRunEvents(res, subscription, log, runId);
  });

  return router;
}
