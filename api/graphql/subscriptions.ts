// Live subscriptions over the process's one LISTEN connection (api/events-hub.ts):
//   runEvents(runId, after): the run's events after seq `after`, stored ones first, then live
//     ones, each exactly once and in order; completes after the run's terminal event.
//   runUpdated(runId?): a run (or any run) whose status changed, re-read through its resource.
// NOTIFY carries ids only; rows are read by the hub (events, once per notification for every
// subscriber) or through the runs resource (run rows).
import type { GrafastSubscriber, Step } from "postgraphile/grafast";
import { access, context, lambda, listen } from "postgraphile/grafast";
import { extendSchema } from "postgraphile/utils";
import { ValidationError } from "../../db/errors.ts";
import type { EventsHub } from "../events-hub.ts";

/** Topics: `runEvents:<run id>:<after>` and `runUpdated:<run id or *>`. */
export function hubSubscriber(hub: EventsHub): GrafastSubscriber {
  return {
    subscribe(topic) {
      const [kind, id, after] = String(topic).split(":");
      if (kind === "runEvents" && id) return hub.subscribeRunEvents(id, Number(after ?? 0)) as never;
      if (kind === "runUpdated" && id) return hub.watchRuns(id === "*" ? null : id) as never;
      throw new Error(`unknown subscription topic ${String(topic)}`);
    },
  };
}

export const RunSubscriptionsPlugin = extendSchema((build) => {
  const runs = build.input.pgRegistry.pgResources.runs;
  if (!runs) throw new Error("RunSubscriptionsPlugin: the everruns.runs resource is missing");
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
      type RunUpdatedPayload {
        runId: UUID!
        run: Run
      }
      extend type Subscription {
        """
        The events of a run after seq \`after\` (default 0: from the start): the stored ones first,
        then live ones as they are committed, with no gap and no duplicate; completes after
        RUN_FINISHED or RUN_ERROR. Reconnect with \`after\` = the last seq you received.
        """
        runEvents(runId: UUID!, after: Int): RunEventMessage
        """
        A run whose status changed (or that was created). With \`runId\`, that run's changes,
        starting with its current state; without, every run's (for dashboards).
        """
        runUpdated(runId: UUID): RunUpdatedPayload
      }
    `,
    objects: {
      Subscription: {
        plans: {
          runEvents: {
            subscribePlan(_, fieldArgs) {
              const $topic = lambda({ runId: fieldArgs.getRaw("runId"), after: fieldArgs.getRaw("after") }, ({ runId, after }) => {
                const n = after == null ? 0 : Number(after);
                if (!Number.isInteger(n) || n < 0) throw new ValidationError(`after must be an event seq (a whole number ≥ 0), got ${String(after)}`);
                return `runEvents:${String(runId)}:${n}`;
              });
              return listen(context().get("everrunsHub"), $topic);
            },
            plan: ($event: Step) => $event,
          },
          runUpdated: {
            subscribePlan(_, fieldArgs) {
              const $topic = lambda(fieldArgs.getRaw("runId"), (runId) => `runUpdated:${runId == null ? "*" : String(runId)}`);
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
