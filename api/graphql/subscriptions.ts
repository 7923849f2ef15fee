// Live subscriptions over the process's one LISTEN connection (api/events-hub.ts):
//   runEvents(runId, after): the run's events after seq `after`, stored ones first, then live
//     ones, each exactly once and in order; completes after the run's terminal event (at once
//     when `after` is the last seq of a run that has ended). An `after` past the run's last event
//     is an error (`invalid_cursor`), never a subscription that waits for ever.
//   runUpdated(runId?): a run (or any run) that changed, re-read through its resource: created,
//     status changed, a step committed (usage, step count), a retry or hand-back, a re-attempt,
//     a job freed from a dead worker (000013: one NOTIFY per transaction, coalesced per run by
//     the hub), so a runs table and a run page stay live with one subscription.
// NOTIFY carries ids only; rows are read by the hub (events, once per notification for every
// subscriber) or through the runs resource (run rows, under the subscriber's workspace).
//
// NOTIFY bypasses row-level security, so a subscription is authorised when it starts: the run is
// read under the subscriber's key (PostGraphile's client, with its pgSettings) and an unknown run
// (or another workspace's) is refused; runUpdated without a run watches the subscriber's
// workspace only (the notification carries the workspace).
import type { GrafastSubscriber, Step } from "postgraphile/grafast";
import { access, context, lambda, listen } from "postgraphile/grafast";
import { withPgClient, type PgClient } from "postgraphile/@dataplan/pg";
import type { NodePostgresPgClient } from "postgraphile/adaptors/pg";
import { extendSchema } from "postgraphile/utils";
import { EverrunsError, NotFoundError, ValidationError } from "../../db/errors.ts";
import { isUuid, type Pool, type Queryable } from "../../db/pool.ts";
import { getRun } from "../../db/sql/getRun.ts";
import { historyExpiredMessage, runHistoryExpiry } from "../../db/sql/runHistoryExpiry.ts";
import type { EventsHub } from "../events-hub.ts";
import { watchBatchProgress } from "./batches.ts";

const raw = (client: PgClient): Queryable => (client as NodePostgresPgClient).rawClient;

/**
 * Topics: `runEvents:<run id>:<after>`, `runUpdated:<run id>`, `runUpdated:*:<workspace id>`
 * and `batchProgress:<batch id>` (api/graphql/batches.ts: read on `pool`).
 */
export function hubSubscriber(hub: EventsHub, pool: Pool): GrafastSubscriber {
  return {
    subscribe(topic) {
      const [kind, id, arg] = String(topic).split(":");
      if (kind === "runEvents" && id) return hub.subscribeRunEvents(id, Number(arg ?? 0), { cursorName: "after", transport: "graphql" }) as never;
      if (kind === "runUpdated" && id) return hub.watchRuns(id === "*" ? null : id, id === "*" ? (arg ?? null) : null) as never;
      if (kind === "batchProgress" && id) return watchBatchProgress(hub, pool, id) as never;
      throw new Error(`unknown subscription topic ${String(topic)}`);
    },
  };
}

export const RunSubscriptionsPlugin = extendSchema((build) => {
  const runs = build.input.pgRegistry.pgResources.runs;
  if (!runs) throw new Error("RunSubscriptionsPlugin: the everruns.runs resource is missing");
  const executor = runs.executor;
  /** The topic, once the run proves visible to the subscriber's key. */
  const topicOfVisibleRun = ($args: Step, topic: (args: { runId: string; after: number }) => string) =>
    withPgClient(executor, $args, async (client, args) => {
      const { runId, after } = args as { runId: string; after: number };
      const run = isUuid(runId) ? await getRun(raw(client), runId) : null;
      if (!run) throw new NotFoundError(`unknown run ${runId}`);
      // retention removed its events (000038): an error saying when (code history_expired), not a stream that never ends
      const expiry = run.history_expired_at ? await runHistoryExpiry(raw(client), runId) : null;
      if (expiry) throw new EverrunsError("history_expired", historyExpiredMessage(runId, expiry));
      return topic({ runId, after });
    });
  return {
    typeDefs: /* GraphQL */ `
      "One event of a run's AG-UI event log."
      type RunEventMessage {
        "1, 2, 3 ... per run, no gaps."
        seq: Int!
        "The AG-UI event type (RUN_STARTED, TEXT_MESSAGE_CONTENT, ...)."
        type: String!
        "The whole AG-UI event object."
        event: JSON!
      }
      """
      A run that changed. \`run\` is read when the change is delivered, under the subscriber's
      key, with whatever fields the subscription selects: \`status\`, \`usage\` (tokens and cost
      so far), \`runStepsByRunId { totalCount }\` (committed steps), \`waiting\` (what a waiting
      run waits for: an event name or a timer's \`until\`), \`runAttemptsByRunId\` (the step in
      progress: its seq, attempt, step name, worker and start), \`updatedAt\`.
      """
      type RunUpdatedPayload {
        runId: UUID!
        run: Run
      }
      extend type Subscription {
        """
        The events of a run after seq \`after\` (default 0: from the start): the stored ones first,
        then live ones as they are committed, with no gap and no duplicate; completes after
        RUN_FINISHED or RUN_ERROR (at once when \`after\` is already that event's seq). Reconnect
        with \`after\` = the last seq you received; an \`after\` past the run's last event is an
        error (code invalid_cursor).
        """
        runEvents(runId: UUID!, after: Int): RunEventMessage
        """
        A run that changed: created, its status changed, a step committed (usage and step count
        moved), a step was retried or handed back, a new attempt began, or its worker died and its
        job was freed. Several changes of one run within ~50 ms arrive as one. With \`runId\`,
        that run's changes, starting with its current state; without, every run's of the key's
        workspace (for tables and dashboards), starting with one message whose runId is the nil
        UUID (00000000-0000-0000-0000-000000000000) and run null: the watch is live from then on,
        so a list read before it can be read again without missing a change in between.
        """
        runUpdated(runId: UUID): RunUpdatedPayload
      }
    `,
    objects: {
      Subscription: {
        plans: {
          runEvents: {
            subscribePlan(_, fieldArgs) {
              const $args = lambda({ runId: fieldArgs.getRaw("runId"), after: fieldArgs.getRaw("after") }, ({ runId, after }) => {
                const n = after == null ? 0 : Number(after);
                if (!Number.isInteger(n) || n < 0) throw new ValidationError(`after must be an event seq (a whole number ≥ 0), got ${String(after)}`);
                return { runId: String(runId), after: n };
              });
              return listen(
                context().get("everrunsHub"),
                topicOfVisibleRun($args, ({ runId, after }) => `runEvents:${runId}:${after}`),
              );
            },
            plan: ($event: Step) => $event,
          },
          runUpdated: {
            subscribePlan(_, fieldArgs) {
              // a run given: that run, once it proves visible; none: every run of the subscriber's workspace
              const $args = lambda([fieldArgs.getRaw("runId"), context().get("everrunsAuth")], ([runId, auth]) => ({
                runId: runId == null ? null : String(runId),
                workspaceId: auth?.workspaceId ?? "none",
              }));
              const $topic = withPgClient(executor, $args, async (client, { runId, workspaceId }) => {
                if (runId === null) return `runUpdated:*:${workspaceId}`;
                if (!isUuid(runId) || !(await getRun(raw(client), runId))) throw new NotFoundError(`unknown run ${runId}`);
                return `runUpdated:${runId}`;
              });
              return listen(context().get("everrunsHub"), $topic);
            },
            plan: ($runId: Step) => $runId,
          },
        },
      },
      RunEventMessage: {
        plans: {
          seq: ($row: Step) => access($row, "seq"),
          type: ($row: Step) => access($row, "type"),
          event: ($row: Step) => access($row, "event"),
        },
      },
      RunUpdatedPayload: {
        plans: {
          runId: ($runId: Step) => $runId,
          run: ($runId: Step) => runs.get({ id: $runId }),
        },
      },
    },
  };
});
