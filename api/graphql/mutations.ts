// startRun, cancelRun, resumeRun, sendEvent, sendEventByKey, redriveRun and rerunRun: plans that call the SQL contract through db/sql
// (the same functions REST, AG-UI and the CLI use) on PostGraphile's own client, and hand back
// the run re-read through its resource, so every Run field (agent, thread, steps, events) is
// available on the payload. cancelRun, resumeRun, sendEvent and rerunRun take an operator's
// `reason`, set for the transaction (db/sql/setAuditReason.ts) so that the audit row of the
// action records it (000015).
import { access, type Step } from "postgraphile/grafast";
import { sideEffectWithPgClient, type PgClient } from "postgraphile/@dataplan/pg";
import type { NodePostgresPgClient } from "postgraphile/adaptors/pg";
import { extendSchema } from "postgraphile/utils";
import { ValidationError } from "../../db/errors.ts";
import type { Queryable } from "../../db/pool.ts";
import { cancelRun } from "../../db/sql/cancelRun.ts";
import { rerunRun } from "../../db/sql/rerunRun.ts";
import { resumeRun } from "../../db/sql/resumeRun.ts";
import { sendEvent } from "../../db/sql/sendEvent.ts";
import { setAuditReason } from "../../db/sql/setAuditReason.ts";
import { startRun } from "../../db/sql/startRun.ts";
import { redriveRun, sendEventByKey } from "../../db/sql/workflowEvents.ts";

const raw = (client: PgClient): Queryable => (client as NodePostgresPgClient).rawClient;

export const RunMutationsPlugin = extendSchema((build) => {
  const runs = build.input.pgRegistry.pgResources.runs;
  if (!runs) throw new Error("RunMutationsPlugin: the everruns.runs resource is missing (is the everruns schema exposed?)");
  const executor = runs.executor;
  return {
    typeDefs: /* GraphQL */ `
      type StartRunPayload {
        "The id of the new run."
        runId: UUID!
        "The new run (status queued); follow it with the runEvents subscription."
        run: Run
      }
      type CancelRunPayload {
        "True when this call cancelled the run, false when it had already finished."
        cancelled: Boolean!
        run: Run
      }
      type ResumeRunPayload {
        "The id of the run that continues the work on the same thread."
        runId: UUID!
        run: Run
      }
      type SendEventPayload {
        "True when the event woke the run now (it waited in wait_for_event for that name); false when it is kept for the run's next wait of that name."
        woke: Boolean!
        run: Run
      }
      type SendEventByKeyPayload {
        "How many workflow runs waiting for this name and correlation key it reached; 0: none waits, it is kept for the first that will."
        delivered: Int!
      }
      type RedriveRunPayload {
        "The id of the new run (same thread and agent version), starting at the state."
        runId: UUID!
        run: Run
      }
      type RerunRunPayload {
        "The id of the new run (same thread, agent version and input)."
        runId: UUID!
        "The new run (status queued)."
        run: Run
      }
      extend type Mutation {
        """
        Starts a run of an agent (its id or name). \`input\` is the run input:
        {"messages": [{"role": "user", "content": "..."}], "state"?: {}, "context"?: [], "tools"?: []}.
        Pass \`threadId\` to continue a conversation.
        """
        startRun(
          "The agent's id or name."
          agent: String!
          "The run input (messages, state, context, tools)."
          input: JSON!
          "An existing thread to continue (or a new thread id to use)."
          threadId: UUID
          "Higher first within the workspace (-1000..1000): admitted as if queued that many minutes earlier. Absent or 0: the agent's config.priority, else 0."
          priority: Int
        ): StartRunPayload
        "Cancels a run; an in-flight LLM or tool call is aborted. An interrupted run is cancelled instead of answered."
        cancelRun(runId: UUID!, "Why (at most 500 characters): recorded in the audit log (run.cancelled)." reason: String): CancelRunPayload
        "Answers an interrupted run's interrupts (an AG-UI resume array); the work continues in a new run."
        resumeRun(runId: UUID!, resume: JSON!, "Why (at most 500 characters): recorded in the audit log (approval.answered)." reason: String): ResumeRunPayload
        "Sends an external event to a run: wakes it if it waits in wait_for_event for that name."
        sendEvent(
          runId: UUID!
          name: String!
          payload: JSON
          "Why (at most 500 characters): recorded in the audit log (signal.sent)."
          reason: String
        ): SendEventPayload
        "Sends an event to this workspace's workflow runs waiting in wait_for_event for its name and correlation key; with none waiting it is kept for the first that will."
        sendEventByKey(
          name: String!
          correlationKey: String!
          payload: JSON
          "Why (at most 500 characters): recorded in the audit log (signal.sent)."
          reason: String
        ): SendEventByKeyPayload
        "Starts a failed workflow run again from a state (fromState; default: the state it failed in) with the input it had there, as a new run on its thread."
        redriveRun(runId: UUID!, fromState: String, "Why (at most 500 characters): recorded in the audit log." reason: String): RedriveRunPayload
        """
        Reruns a failed or cancelled run: a new run on the same thread with the same agent
        version and input (its rerunOf names the original) that replaces the original in the
        thread's history. With fromStep, the new run continues from that committed step of the
        original (its input and steps up to that one, then an LLM call); only the thread's latest
        run can be rerun from a step. Recorded as run.rerun on the original.
        """
        rerunRun(
          runId: UUID!
          "Why (at most 500 characters): recorded in the audit log (run.rerun)."
          reason: String
          "Continue from this committed step (its seq) of the run instead of from its input."
          fromStep: Int
        ): RerunRunPayload
      }
    `,
    objects: {
      Mutation: {
        plans: {
          startRun(_, fieldArgs) {
            const $args = {
              agent: fieldArgs.getRaw("agent"),
              input: fieldArgs.getRaw("input"),
              threadId: fieldArgs.getRaw("threadId"),
              priority: fieldArgs.getRaw("priority"),
            };
            return sideEffectWithPgClient(executor, $args, async (client, args) =>
              startRun(raw(client), {
                agent: String(args.agent),
                input: args.input,
                threadId: (args.threadId as string | null) ?? null,
                priority: (args.priority as number | null) ?? null,
              }),
            );
          },
          cancelRun(_, fieldArgs) {
            const $args = { runId: fieldArgs.getRaw("runId"), reason: fieldArgs.getRaw("reason") };
            return sideEffectWithPgClient(executor, $args, async (client, args) => {
              await setAuditReason(raw(client), args.reason as string | null);
              const cancelled = await cancelRun(raw(client), String(args.runId));
              return { id: String(args.runId), cancelled };
            });
          },
          resumeRun(_, fieldArgs) {
            const $args = { runId: fieldArgs.getRaw("runId"), resume: fieldArgs.getRaw("resume"), reason: fieldArgs.getRaw("reason") };
            return sideEffectWithPgClient(executor, $args, async (client, args) => {
              if (!Array.isArray(args.resume) || args.resume.length === 0) {
                throw new ValidationError("resume must be a non-empty array of answers to the run's interrupts");
              }
              await setAuditReason(raw(client), args.reason as string | null);
              return { id: await resumeRun(raw(client), String(args.runId), args.resume) };
            });
          },
          sendEvent(_, fieldArgs) {
            const $args = {
              runId: fieldArgs.getRaw("runId"),
              name: fieldArgs.getRaw("name"),
              payload: fieldArgs.getRaw("payload"),
              reason: fieldArgs.getRaw("reason"),
            };
            return sideEffectWithPgClient(executor, $args, async (client, args) => {
              const name = String(args.name);
              if (name.length === 0 || name.length > 200) throw new ValidationError("an event needs a name of 1 to 200 characters");
              await setAuditReason(raw(client), args.reason as string | null);
              return { id: String(args.runId), woke: await sendEvent(raw(client), String(args.runId), name, args.payload ?? null) };
            });
          },
          sendEventByKey(_, fieldArgs) {
            const $args = {
              name: fieldArgs.getRaw("name"),
              correlationKey: fieldArgs.getRaw("correlationKey"),
              payload: fieldArgs.getRaw("payload"),
              reason: fieldArgs.getRaw("reason"),
            };
            return sideEffectWithPgClient(executor, $args, async (client, args) => {
              await setAuditReason(raw(client), args.reason as string | null);
              return { delivered: await sendEventByKey(raw(client), String(args.name), String(args.correlationKey), args.payload ?? null) };
            });
          },
          redriveRun(_, fieldArgs) {
            const $args = { runId: fieldArgs.getRaw("runId"), fromState: fieldArgs.getRaw("fromState"), reason: fieldArgs.getRaw("reason") };
            return sideEffectWithPgClient(executor, $args, async (client, args) => {
              await setAuditReason(raw(client), args.reason as string | null);
              return { id: await redriveRun(raw(client), String(args.runId), (args.fromState as string | null | undefined) ?? null) };
            });
          },
          rerunRun(_, fieldArgs) {
            const $args = { runId: fieldArgs.getRaw("runId"), reason: fieldArgs.getRaw("reason"), fromStep: fieldArgs.getRaw("fromStep") };
            return sideEffectWithPgClient(executor, $args, async (client, args) => {
              await setAuditReason(raw(client), args.reason as string | null);
              return { id: await rerunRun(raw(client), String(args.runId), (args.fromStep as number | null | undefined) ?? null) };
            });
          },
        },
      },
      RerunRunPayload: {
        plans: {
          runId: ($result: Step) => access($result, "id"),
          run: ($result: Step) => runs.get({ id: access($result, "id") }),
        },
      },
      StartRunPayload: {
        plans: {
          runId: ($result: Step) => access($result, "id"),
          run: ($result: Step) => runs.get({ id: access($result, "id") }),
        },
      },
      CancelRunPayload: {
        plans: {
          cancelled: ($result: Step) => access($result, "cancelled"),
          run: ($result: Step) => runs.get({ id: access($result, "id") }),
        },
      },
      SendEventByKeyPayload: {
        plans: {
          delivered: ($result: Step) => access($result, "delivered"),
        },
      },
      RedriveRunPayload: {
        plans: {
          runId: ($result: Step) => access($result, "id"),
          run: ($result: Step) => runs.get({ id: access($result, "id") }),
        },
      },
      SendEventPayload: {
        plans: {
          woke: ($result: Step) => access($result, "woke"),
          run: ($result: Step) => runs.get({ id: access($result, "id") }),
        },
      },
      ResumeRunPayload: {
        plans: {
          runId: ($result: Step) => access($result, "id"),
          run: ($result: Step) => runs.get({ id: access($result, "id") }),
        },
      },
    },
  };
});
