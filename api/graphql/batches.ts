// Batches over GraphQL (issue 15). The tables come from PostGraphile, shaped by smart-tags.ts
// (read-only; Batch.items, BatchItem.run, Batch.progress, Batch.throughput); this file adds:
//
// - names: Query.batches (newest first by default) and Query.batch(id) (the smart tag on
//   batches_pkey), the node fetcher batchByNodeId (batch is taken), Batch.items in ordinal
//   order by default;
// - mutations (operator, api/graphql/access.ts): createBatch (up to 1000 items; the batch, its
//   items and the start in one transaction: PostGraphile's, as the key's workspace), startBatch,
//   pauseBatch, resumeBatch, cancelBatch, setBatchParallel and retryFailedItems, each a call of
//   the SQL contract (000025) through db/sql, answering the batch re-read through its resource;
// - the subscription batchProgress(batchId): the batch at once, then whenever its status or
//   counters change (read at most once a second), ending with the message that shows it ended.
import { defaultOrderPlugin } from "./default-order.ts";
import { access, context, lambda, listen, type Step } from "postgraphile/grafast";
import { sideEffectWithPgClient, TYPES, withPgClient, type PgClient } from "postgraphile/@dataplan/pg";
import type { NodePostgresPgClient } from "postgraphile/adaptors/pg";
import { sql } from "postgraphile/pg-sql2";
import { extendSchema } from "postgraphile/utils";
import { NotFoundError, ValidationError } from "../../db/errors.ts";
import { z } from "zod";
import { isUuid, type Pool, type PoolClient } from "../../db/pool.ts";
import { controlBatch, type BatchControl } from "../../db/sql/batchControl.ts";
import { createBatch } from "../../db/sql/batchCreate.ts";
import { getBatch, type BatchView } from "../../db/sql/batchGet.ts";
import { MAX_RETRY_CUSTOM_IDS, retryFailedItems } from "../../db/sql/batchRetryFailed.ts";
import { setBatchParallel } from "../../db/sql/batchSetParallel.ts";
import { insertBatchItems } from "../../db/sql/insertBatchItems.ts";
import { describeIssues } from "../../db/schemas.ts";
import { textProblem } from "../../lib/storable-json.ts";
import { sleep } from "../../lib/sleep.ts";
import type { EventsHub } from "../events-hub.ts";

const raw = (client: PgClient): PoolClient => (client as NodePostgresPgClient).rawClient;

/** Items of one createBatch call; larger batches go through COPY (REST's JSONL, SQL). */
export const MAX_BATCH_ITEMS_PER_CALL = 1000;

/** createBatch's arguments (GraphQL has checked their types; these are the ranges and sizes). */
const CreateBatchArgs = z.object({
  agent: z.string().min(1).max(200),
  items: z
    .array(z.object({ customId: z.string().min(1).max(200).nullish(), input: z.unknown() }))
    .min(1, "a batch needs at least one item")
    .max(
      MAX_BATCH_ITEMS_PER_CALL,
      `at most ${MAX_BATCH_ITEMS_PER_CALL} items in one call; send larger batches as JSONL to POST /api/batches, or insert them with SQL`,
    ),
  name: z.string().min(1).max(200).nullish(),
  maxParallel: z.number().int().min(1).max(10_000).nullish(),
  priority: z.number().int().min(-1000).max(1000).nullish(),
  onItemError: z.enum(["continue", "stop_after"]).nullish(),
  stopAfterFailures: z.number().int().min(1).nullish(),
  stopAfterRatio: z.number().gt(0).max(1).nullish(),
  deadline: z.string().nullish(),
  start: z.boolean().nullish(),
});

/** The arguments of createBatch, checked: a ValidationError naming each problem (an item by its index). */
function parseCreateBatch(args: unknown): z.infer<typeof CreateBatchArgs> {
  const parsed = CreateBatchArgs.safeParse(args);
  if (!parsed.success) throw new ValidationError(`invalid batch: ${describeIssues(parsed.error)}`, { code: "invalid_batch" });
  for (const [what, text] of [
    ["agent", parsed.data.agent],
    ["name", parsed.data.name],
  ] as const) {
    const problem = text == null ? null : textProblem(text);
    if (problem) throw new ValidationError(`invalid batch: ${what} ${problem}`, { code: "invalid_batch" });
  }
  return parsed.data;
}

/** Query.batches instead of allBatches; the node fetcher of Batch is batchByNodeId (Query.batch is the lookup by id); BatchItemInput is createBatch's. */
export const BatchInflectionPlugin: GraphileConfig.Plugin = {
  name: "EverrunsBatchInflectionPlugin",
  version: "0.0.0",
  after: ["PgAllRowsPlugin", "NodeAccessorPlugin", "PgTablesPlugin"],
  inflection: {
    replace: {
      allRowsConnection(previous, _options, resource) {
        return resource.name === "batches" ? "batches" : previous!(resource);
      },
      nodeById(previous, _options, typeName) {
        return typeName === "Batch" ? "batchByNodeId" : previous!(typeName);
      },
      // Batch.throughput(minutes), not throughputList: a list of at most 60 minutes
      computedAttributeListField(previous, _options, details) {
        return details.resource.name === "batches_throughput" ? "throughput" : previous!(details);
      },
      // BatchItemInput is createBatch's item; PostGraphile's (unused: items are read-only) steps aside
      inputType(previous, _options, typeName) {
        return typeName === "BatchItem" ? "BatchItemRowInput" : previous!(typeName);
      },
    },
  },
};

/**
 * Postgres' xid8 (batch_items.result_xid and everruns.batch_results' cursor, 000025), which
 * PostGraphile has no codec for: without one, every schema build warns (dumping the type) and
 * skips batch_results. As text: the GraphQL schema shows neither (smart-tags.ts hides both).
 */
export const Xid8CodecPlugin: GraphileConfig.Plugin = {
  name: "EverrunsXid8CodecPlugin",
  version: "0.0.0",
  gather: {
    hooks: {
      pgCodecs_findPgCodec(_info, event) {
        if (event.pgCodec || event.pgType.typname !== "xid8") return Promise.resolve();
        event.pgCodec = { ...TYPES.text, name: "xid8", sqlType: sql.identifier("pg_catalog", "xid8") };
        return Promise.resolve();
      },
    },
  },
  schema: {
    hooks: {
      init(_, build) {
        const codec = build.input.pgRegistry.pgCodecs.xid8;
        if (codec) build.setGraphQLTypeForPgCodec(codec, ["input", "output"], "String");
        return _;
      },
    },
  },
};

/** Type.field → the orderBy value it has when none is given (PostGraphile's is PRIMARY_KEY_ASC: random for UUIDs). */
const DEFAULT_ORDER: Record<string, string> = {
  "Query.batches": "CREATED_AT_DESC",
  "Batch.items": "ORDINAL_ASC",
};

export const BatchOrderPlugin = defaultOrderPlugin("EverrunsBatchOrderPlugin", DEFAULT_ORDER);

const CONTROLS: Array<[string, BatchControl, string]> = [
  ["startBatch", "start", "Starts a queued batch (createBatch with start: false): up to maxParallel items are released at once."],
  ["pauseBatch", "pause", "Pauses a batch: its running items go on, no new item starts. Pausing a paused batch changes nothing."],
  ["resumeBatch", "resume", "Resumes a paused batch: items are released again up to maxParallel. Resuming a running batch changes nothing."],
  ["cancelBatch", "cancel", "Cancels a batch: its running items are cancelled, its queued ones never run. Cancelling an ended batch changes nothing."],
];

export const BatchMutationsPlugin = extendSchema((build) => {
  const { batches } = build.input.pgRegistry.pgResources;
  if (!batches) throw new Error("BatchMutationsPlugin: the everruns.batches resource is missing (is migration 000025 applied?)");
  const executor = batches.executor;
  const plans: Record<string, (parent: unknown, fieldArgs: { getRaw(name: string): Step }) => Step> = {
    createBatch(_, fieldArgs) {
      const names = ["agent", "items", "name", "maxParallel", "priority", "onItemError", "stopAfterFailures", "stopAfterRatio", "deadline", "start"];
      const $args = Object.fromEntries(names.map((name) => [name, fieldArgs.getRaw(name)]));
      return sideEffectWithPgClient(executor, $args, async (client, args) => {
        const { items, start, ...options } = parseCreateBatch(args);
        // one transaction (PostGraphile's, as the key's workspace): the batch, its items, the start
        const batch = await createBatch(raw(client), options);
        await insertBatchItems(raw(client), batch.id, items);
        if (start !== false) await controlBatch(raw(client), "start", batch.id);
        return { id: batch.id };
      });
    },
    setBatchParallel(_, fieldArgs) {
      const $args = { batchId: fieldArgs.getRaw("batchId"), maxParallel: fieldArgs.getRaw("maxParallel") };
      return sideEffectWithPgClient(executor, $args, async (client, args) => {
        const n = args.maxParallel as number;
        if (!Number.isInteger(n) || n < 1 || n > 10_000)
          throw new ValidationError(`maxParallel must be a whole number from 1 to 10000, got ${n}`, { code: "invalid_batch" });
        await setBatchParallel(raw(client), String(args.batchId), n);
        return { id: String(args.batchId) };
      });
    },
    retryFailedItems(_, fieldArgs) {
      const $args = { batchId: fieldArgs.getRaw("batchId"), customIds: fieldArgs.getRaw("customIds"), includeCancelled: fieldArgs.getRaw("includeCancelled") };
      return sideEffectWithPgClient(executor, $args, async (client, args) => {
        const customIds = (args.customIds as string[] | null | undefined) ?? null;
        if (customIds && customIds.length > MAX_RETRY_CUSTOM_IDS) {
          throw new ValidationError(
            `retry at most ${MAX_RETRY_CUSTOM_IDS} custom ids at once, got ${customIds.length}; or leave customIds out to retry every failed item`,
            {
              code: "invalid_batch",
            },
          );
        }
        const retried = await retryFailedItems(raw(client), String(args.batchId), customIds, args.includeCancelled === true);
        return { id: String(args.batchId), retried };
      });
    },
  };
  for (const [field, control] of CONTROLS) {
    plans[field] = (_, fieldArgs) =>
      sideEffectWithPgClient(executor, fieldArgs.getRaw("batchId"), async (client, batchId) => {
        await controlBatch(raw(client), control, String(batchId));
        return { id: String(batchId) };
      });
  }
  const batchOf = ($result: Step) => batches.get({ id: access($result, "id") });
  return {
    typeDefs: /* GraphQL */ `
      "One item of createBatch: a run input, and the id that names its result."
      input BatchItemInput {
        "Unique in the batch (1 to 200 characters); defaults to the item's ordinal."
        customId: String
        "The run input of the item: {\\"messages\\": [{\\"role\\": \\"user\\", \\"content\\": \\"...\\"}], \\"state\\"?: {}, \\"context\\"?: [], \\"tools\\"?: []}."
        input: JSON!
      }
      type CreateBatchPayload {
        "The id of the new batch."
        batchId: UUID!
        "The new batch (running, or queued with start: false); follow it with the batchProgress subscription."
        batch: Batch
      }
      type BatchPayload {
        batchId: UUID!
        "The batch after the change."
        batch: Batch
      }
      type RetryFailedItemsPayload {
        "How many items were queued again (0: none matched)."
        retried: Int!
        batch: Batch
      }
      extend type Mutation {
        """
        Creates a batch of up to ${MAX_BATCH_ITEMS_PER_CALL} items run through one agent (its id
        or name; its current version is pinned), and starts it unless \`start\` is false. The
        batch, its items and the start are one transaction: an invalid item creates nothing, and
        the error names it (items[i]). Larger batches: POST /api/batches (JSONL) or SQL.
        """
        createBatch(
          "The agent's id or name."
          agent: String!
          items: [BatchItemInput!]!
          "At most this many items run at once (1..10000, default 10), inside the workspace's limits."
          maxParallel: Int
          "The priority of the item runs (-1000..1000, default 0), as a run's."
          priority: Int
          name: String
          "continue (default): failed items do not stop the batch; stop_after: it fails once stopAfterFailures items failed or more than stopAfterRatio of all."
          onItemError: String
          stopAfterFailures: Int
          stopAfterRatio: Float
          "At this time the batch fails (deadline_exceeded): running items cancelled, queued ones not run."
          deadline: Datetime
          "Start at once (default true); false leaves it queued for startBatch."
          start: Boolean = true
        ): CreateBatchPayload
        "${CONTROLS[0]![2]}"
        startBatch(batchId: UUID!): BatchPayload
        "${CONTROLS[1]![2]}"
        pauseBatch(batchId: UUID!): BatchPayload
        "${CONTROLS[2]![2]}"
        resumeBatch(batchId: UUID!): BatchPayload
        "${CONTROLS[3]![2]}"
        cancelBatch(batchId: UUID!): BatchPayload
        "Changes how many items may run at once (1..10000): more releases items at once; fewer lets running items end without replacements."
        setBatchParallel(batchId: UUID!, maxParallel: Int!): BatchPayload
        """
        Runs a batch's failed items again, keeping their custom ids: all of them, or those of
        \`customIds\`; cancelled ones too with \`includeCancelled\`. An ended batch runs again.
        """
        retryFailedItems(batchId: UUID!, customIds: [String!], includeCancelled: Boolean = false): RetryFailedItemsPayload
      }
    `,
    objects: {
      Mutation: { plans: plans as never },
      CreateBatchPayload: { plans: { batchId: ($result: Step) => access($result, "id"), batch: batchOf } },
      BatchPayload: { plans: { batchId: ($result: Step) => access($result, "id"), batch: batchOf } },
      RetryFailedItemsPayload: { plans: { retried: ($result: Step) => access($result, "retried"), batch: batchOf } },
    },
  };
});

/** How often a batchProgress subscription reads its batch: at most one message per this. */
export const BATCH_PROGRESS_INTERVAL_MS = 1000;

const ENDED = new Set(["succeeded", "completed_with_errors", "failed", "cancelled"]);

/** Ended for good: an end status, and no item of it runs any more (finish_batch_if_done set finished_at). */
function hasEnded(row: BatchView): boolean {
  return ENDED.has(row.status) && row.finished_at !== null;
}

/** Without a notification, a batchProgress subscription still reads its batch this often (a lost notification costs at most this). */
export const BATCH_PROGRESS_FALLBACK_MS = 15_000;

/**
 * The ids a batchProgress subscription is woken with: the batch's id at once, then each time its
 * status or counters differ from the last message's — read when the batch's `everruns:batches`
 * notification comes (the events hub's watchBatch), at most every `intervalMs` however many
 * come, and every BATCH_PROGRESS_FALLBACK_MS without one — on the API's pool (the subscriber was
 * authorised when it started), ending after the message that shows it ended (or when the batch is
 * gone). An idle batch costs one read per fallback period. Closing it (the client went away)
 * stops it within a moment, even while it waits.
 */
export function watchBatchProgress(hub: EventsHub, pool: Pool, batchId: string, intervalMs = BATCH_PROGRESS_INTERVAL_MS): AsyncIterableIterator<string> {
  const controller = new AbortController();
  const signal = controller.signal;
  const waker = hub.watchBatch(batchId);
  const generator = (async function* () {
    try {
      let last: string | null = null;
      while (!signal.aborted) {
        const row = await getBatch(pool, batchId);
        if (!row) return;
        const key = JSON.stringify([row.status, row.finished_at, row.max_parallel, row.progress]);
        if (key !== last) {
          last = key;
          yield batchId;
        }
        if (hasEnded(row)) return;
        try {
          await sleep(intervalMs, signal);
        } catch {
          return; // closed
        }
        await waker.next(BATCH_PROGRESS_FALLBACK_MS, signal);
      }
    } finally {
      waker.close();
    }
  })();
  return {
    next: () => generator.next(),
    async return() {
      controller.abort();
      await generator.return(undefined);
      return { done: true, value: undefined };
    },
    async throw(error?: unknown) {
      controller.abort();
      return generator.throw(error);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

export const BatchSubscriptionsPlugin = extendSchema((build) => {
  const { batches } = build.input.pgRegistry.pgResources;
  if (!batches) throw new Error("BatchSubscriptionsPlugin: the everruns.batches resource is missing (is migration 000025 applied?)");
  const executor = batches.executor;
  return {
    typeDefs: /* GraphQL */ `
      """
      A batch whose progress moved: \`batch\` is read when the message is delivered, under the
      subscriber's key: \`status\`, \`progress { total queued running succeeded failed cancelled
      inputTokens outputTokens costUsd itemsPerMinute etaSeconds }\`, \`finishedAt\`, ...
      """
      type BatchProgressPayload {
        batchId: UUID!
        batch: Batch
      }
      extend type Subscription {
        """
        A batch's progress: one message at once, then one whenever its status or counters change
        (at most one a second); completes after the message that shows it ended (an end status
        and finishedAt set). An unknown batch (or another workspace's) is an error (not_found).
        """
        batchProgress(batchId: UUID!): BatchProgressPayload
      }
    `,
    objects: {
      Subscription: {
        plans: {
          batchProgress: {
            subscribePlan(_, fieldArgs) {
              const $batchId = lambda(fieldArgs.getRaw("batchId"), (id) => String(id));
              // authorised here, under the subscriber's key: row-level security hides another workspace's batch
              const $topic = withPgClient(executor, $batchId, async (client, batchId) => {
                if (!isUuid(batchId) || !(await getBatch(raw(client), batchId))) throw new NotFoundError(`unknown batch ${batchId}`);
                return `batchProgress:${batchId}`;
              });
              return listen(context().get("everrunsHub"), $topic);
            },
            plan: ($batchId: Step) => $batchId,
          },
        },
      },
      BatchProgressPayload: {
        plans: {
          batchId: ($batchId: Step) => $batchId,
          batch: ($batchId: Step) => batches.get({ id: $batchId }),
        },
      },
    },
  };
});
