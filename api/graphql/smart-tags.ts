// What of the `everruns` schema GraphQL exposes, and how. Permissions belong in GRANTs and RLS;
// these behaviours shape the API: the event log, steps, threads and agent versions are
// read-only (runs change only through startRun / cancelRun / resumeRun), agents can be created
// and updated but not deleted, and the step engine's fence columns stay internal. Batches and
// their items are read-only too (created by createBatch, changed by its controls: batches.ts):
// Query.batch(id), Batch.items (filtered by status, in ordinal order), BatchItem.run (the item's
// current run: run_id is no foreign key, a continuation replaces it), Batch.progress and
// Batch.throughput (the computed columns batches_progress and batches_throughput). The trigger
// tables (issue 16) are read-only too, changed only by triggers.ts's mutations: Query.schedule(id)
// and its kind, Schedule.fires, Webhook.deliveries, NotificationEndpoint.deliveries,
// NotificationDelivery.attemptLog, and WebhookDelivery.run / Activation.run (no foreign key: the
// run of an event queued on its thread is inserted later).
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
          tags: {
            behavior: READ_ONLY,
            // sub-agents (000033): Run.caller (the run whose agent tool call started it), Run.root (the
            // top of its tree); no foreign keys (a child's commits would lock its caller, 000033); the
            // way down is Run.childrenList (runs_children)
            foreignKey: [
              "(caller_run_id) references everruns.runs (id)|@fieldName caller|@backwardBehavior -*",
              "(root_run_id) references everruns.runs (id)|@fieldName root|@backwardBehavior -*",
            ],
          },
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
        "everruns.batches": {
          tags: { behavior: READ_ONLY },
          attribute: {
            status: { tags: { behavior: "+filterBy" } },
            created_at: { tags: { behavior: "+orderBy" } },
          },
          constraint: {
            // Query.batch(id: UUID!) rather than batchById (the node fetcher is batchByNodeId: batches.ts)
            batches_pkey: { tags: { fieldName: "batch" } },
          },
        },
        "everruns.batch_items": {
          tags: {
            behavior: READ_ONLY,
            // the item's current run; no foreign key (a continuation replaces it), and no Run.batchItemsByRunId
            // (Run.batchItemByBatchItemId, from runs.batch_item_id, is the way back)
            foreignKey: "(run_id) references everruns.runs (id)|@fieldName run|@backwardBehavior -*",
          },
          attribute: {
            status: { tags: { behavior: "+filterBy" } },
            ordinal: { tags: { behavior: "+orderBy" } },
            // the results cursor's order (everruns.batch_results): REST's and SQL's, opaque here
            result_xid: { tags: { behavior: HIDDEN } },
          },
          constraint: {
            batch_items_batch_id_fkey: { tags: { foreignFieldName: "items" } },
          },
        },
        // events sent to runs arrive through everruns.send_event only
        "everruns.run_signals": { tags: { behavior: READ_ONLY } },
        "everruns.usage_daily": { tags: { behavior: READ_ONLY } },
        "everruns.run_events": {
          tags: { behavior: READ_ONLY },
          attribute: {
            // not indexed, but a run's log is small and always scoped to one run (no order by it:
            // 000038's partitioned table shows PostGraphile no index, so say it here)
            type: { tags: { behavior: "+filterBy -orderBy" } },
          },
        },
        // Triggers (issue 16, triggers.ts): read-only here; created, changed and deleted by the
        // mutations of triggers.ts only (their checks and audit reasons are theirs). Query.schedule(id),
        // Query.webhook(id), … rather than …ById; the node fetchers are …ByNodeId (triggers.ts).
        "everruns.schedules": {
          tags: { behavior: READ_ONLY },
          attribute: {
            name: { tags: { behavior: "+orderBy" } },
            paused: { tags: { behavior: "+filterBy" } },
            agent_id: { tags: { behavior: "+filterBy" } },
            created_at: { tags: { behavior: "+orderBy" } },
          },
          constraint: {
            schedules_pkey: { tags: { fieldName: "schedule" } },
            // a workspace's or an agent's schedules: Query.schedules (condition agentId), row-level security scopes it
            schedules_workspace_id_fkey: { tags: { backwardBehavior: HIDDEN } },
            schedules_agent_id_fkey: { tags: { backwardBehavior: HIDDEN } },
          },
        },
        "everruns.schedule_fires": {
          tags: { behavior: READ_ONLY },
          attribute: {
            status: { tags: { behavior: "+filterBy" } },
            occurrence_at: { tags: { behavior: "+orderBy" } },
          },
          constraint: {
            schedule_fires_pkey: { tags: { fieldName: "scheduleFire" } },
            schedule_fires_schedule_id_fkey: { tags: { foreignFieldName: "fires" } },
            schedule_fires_run_id_fkey: { tags: { fieldName: "run" } },
          },
        },
        "everruns.activations": {
          tags: {
            behavior: READ_ONLY,
            // the event's run: fixed when the event arrives, inserted when the thread is free (no foreign key)
            foreignKey: "(run_id) references everruns.runs (id)|@fieldName run|@backwardBehavior -*",
          },
          attribute: {
            status: { tags: { behavior: "+filterBy" } },
            agent_id: { tags: { behavior: "+filterBy" } },
            created_at: { tags: { behavior: "+orderBy" } },
          },
          constraint: {
            activations_pkey: { tags: { fieldName: "activation" } },
          },
        },
        "everruns.webhooks": {
          tags: { behavior: READ_ONLY },
          attribute: {
            name: { tags: { behavior: "+orderBy" } },
            agent_id: { tags: { behavior: "+filterBy" } },
            enabled: { tags: { behavior: "+filterBy" } },
          },
          constraint: {
            webhooks_pkey: { tags: { fieldName: "webhook" } },
            webhooks_workspace_id_fkey: { tags: { backwardBehavior: HIDDEN } },
          },
        },
        "everruns.webhook_deliveries": {
          tags: {
            behavior: READ_ONLY,
            // the delivery's run (queued on its thread until the thread is free: no foreign key)
            foreignKey: "(run_id) references everruns.runs (id)|@fieldName run|@backwardBehavior -*",
          },
          attribute: {
            received_at: { tags: { behavior: "+orderBy" } },
            test: { tags: { behavior: "+filterBy" } },
          },
          constraint: {
            webhook_deliveries_pkey: { tags: { fieldName: "webhookDelivery" } },
            webhook_deliveries_webhook_id_fkey: { tags: { foreignFieldName: "deliveries" } },
          },
        },
        "everruns.notification_endpoints": {
          tags: { behavior: READ_ONLY },
          attribute: {
            name: { tags: { behavior: "+orderBy" } },
            enabled: { tags: { behavior: "+filterBy" } },
          },
          constraint: {
            notification_endpoints_pkey: { tags: { fieldName: "notificationEndpoint" } },
            notification_endpoints_workspace_id_fkey: { tags: { backwardBehavior: HIDDEN } },
          },
        },
        "everruns.notification_deliveries": {
          tags: { behavior: READ_ONLY },
          attribute: {
            status: { tags: { behavior: "+filterBy" } },
            event: { tags: { behavior: "+filterBy" } },
            created_at: { tags: { behavior: "+orderBy" } },
          },
          constraint: {
            notification_deliveries_pkey: { tags: { fieldName: "notificationDelivery" } },
            notification_deliveries_endpoint_id_fkey: { tags: { foreignFieldName: "deliveries" } },
          },
        },
        "everruns.notification_attempts": {
          tags: { behavior: READ_ONLY },
          attribute: {
            attempt: { tags: { behavior: "+orderBy" } },
          },
          constraint: {
            notification_attempts_pkey: { tags: { fieldName: "notificationAttempt" } },
            // NotificationDelivery.attempts is the count; the rows are its attemptLog (REST's attempt_log)
            notification_attempts_delivery_id_fkey: { tags: { foreignFieldName: "attemptLog" } },
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

/** Computed columns the API shows as fields of their table's type (each with its behaviour). */
const COMPUTED_COLUMNS: Record<string, string> = {
  // Batch.progress: counts by status, tokens, cost, items per minute and ETA
  batches_progress: "-queryField -mutationField +typeField",
  // Batch.throughput(minutes): finished items per minute, a plain list (at most 60 rows)
  batches_throughput: "-queryField -mutationField +typeField -connection +list -filterBy -orderBy",
  // Run.budgetSpend: what the run and the runs it continues spent, against config.budget (docs/budgets.md)
  runs_budget_spend: "-queryField -mutationField +typeField -filterBy -orderBy",
  // Run.treeUsage: the usage of the run and every run below it in its tree of sub-agents (000033)
  runs_tree_usage: "-queryField -mutationField +typeField",
  // Run.awaitingDescendantsList: the runs below it that wait for an answer, a plain list (000033)
  runs_awaiting_descendants: "-queryField -mutationField +typeField -connection +list -filterBy -orderBy",
  // Run.childrenList: the runs its agent tool calls started (sub-agents) and their continuations (000033)
  runs_children: "-queryField -mutationField +typeField -connection +list -filterBy -orderBy",
  // Query.stepLatencyByKindList, resumeLatencyList, providerStepStatsList: the dashboard's observability
  // figures (000037; security invoker, so row-level security scopes them), plain lists
  step_latency_by_kind: "+queryField -mutationField -connection +list -filterBy -orderBy",
  resume_latency: "+queryField -mutationField -connection +list -filterBy -orderBy",
  provider_step_stats: "+queryField -mutationField -connection +list -filterBy -orderBy",
};

/**
 * SQL functions of the `everruns` schema are not mutations by themselves: the ones the API
 * offers (startRun, cancelRun, resumeRun, the batch controls) are planned explicitly in
 * mutations.ts and batches.ts, with their own argument names and payloads. A function added
 * later stays out of the schema until it is added there on purpose (the schema drift test
 * notices either way); COMPUTED_COLUMNS are the exceptions, fields of their table's type.
 */
export const EverrunsHideFunctionsPlugin = pgSmartTags(
  [
    {
      kind: "procedure",
      match: (proc) => proc.getNamespace()?.nspname === "everruns" && !(proc.proname in COMPUTED_COLUMNS),
      tags: { behavior: HIDDEN },
    },
    ...Object.entries(COMPUTED_COLUMNS).map(([name, behavior]) => ({
      kind: "procedure" as const,
      match: (proc: { proname: string; getNamespace(): { nspname: string } | undefined }) =>
        proc.getNamespace()?.nspname === "everruns" && proc.proname === name,
      tags: { behavior },
    })),
  ],
  null,
  { name: "EverrunsHideFunctionsPlugin" },
);
