// What of the `everruns` schema GraphQL exposes, and how. Permissions belong in GRANTs and RLS;
// these behaviours shape the API: the event log, steps, threads and agent versions are
// read-only (runs change only through startRun / cancelRun / resumeRun), agents can be created
// and updated but not deleted, and the step engine's fence columns stay internal.
import { jsonPgSmartTags, pgSmartTags } from "postgraphile/utils";

const READ_ONLY = "-insert -update -delete";
const HIDDEN = "-*";

export const EverrunsSmartTagsPlugin = jsonPgSmartTags(
  {
    version: 1,
    config: {
      class: {
        "everruns.workspaces": { tags: { behavior: READ_ONLY } },
        "everruns.agents": {
          tags: { behavior: "-delete" },
          attribute: {
            id: { tags: { behavior: "-update" } },
            workspace_id: { tags: { behavior: "-insert -update" } },
            version: { tags: { behavior: "-insert -update" } },
            created_at: { tags: { behavior: "-insert -update" } },
            updated_at: { tags: { behavior: "-insert -update" } },
          },
        },
        "everruns.agent_versions": { tags: { behavior: READ_ONLY } },
        "everruns.threads": { tags: { behavior: READ_ONLY } },
        "everruns.runs": {
          tags: { behavior: READ_ONLY },
          attribute: {
            step_cursor: { tags: { behavior: HIDDEN } },
            step_attempt: { tags: { behavior: HIDDEN } },
            step_errors: { tags: { behavior: HIDDEN } },
            step_started_at: { tags: { behavior: HIDDEN } },
            event_seq: { tags: { behavior: HIDDEN } },
            settled_event_seq: { tags: { behavior: HIDDEN } },
          },
        },
        "everruns.run_steps": { tags: { behavior: READ_ONLY } },
        // events sent to runs arrive through everruns.send_event only
        "everruns.run_signals": { tags: { behavior: READ_ONLY } },
        "everruns.usage_daily": { tags: { behavior: READ_ONLY } },
        "everruns.run_events": {
          tags: { behavior: READ_ONLY },
          attribute: {
            // not indexed, but a run's log is small and always scoped to one run
            type: { tags: { behavior: "+filterBy" } },
          },
        },
        // the composite everruns.explain_queue answers (its functions are hidden below): the API's
        // QueueExplanation is the one operations.ts declares, not PostGraphile's table type of it
        // (which would take the same name, with bigint counts as BigInt strings)
        "everruns.queue_explanation": { tags: { behavior: HIDDEN } },
      },
    },
  },
  null,
  { name: "EverrunsSmartTagsPlugin" },
);

/**
 * SQL functions of the `everruns` schema are not mutations by themselves: the ones the API
 * offers (startRun, cancelRun, resumeRun) are planned explicitly in mutations.ts, with their
 * own argument names and payloads. A function added later stays out of the schema until it is
 * added there on purpose (the schema drift test notices either way).
 */
export const EverrunsHideFunctionsPlugin = pgSmartTags(
  [
    {
      kind: "procedure",
      match: (proc) => proc.getNamespace()?.nspname === "everruns",
      tags: { behavior: HIDDEN },
    },
  ],
  null,
  { name: "EverrunsHideFunctionsPlugin" },
);
