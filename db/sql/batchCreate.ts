import { fromDatabaseError, NotFoundError } from "../errors.ts";
import { isUuid, type PoolClient } from "../pool.ts";

/** What a client may set on a new batch (results_table is SQL's only: the API never takes it). */
export interface NewBatch {
  /** The agent, by id or by name (an id wins over a name that looks like one). */
  agent: string;
  name?: string | null;
  maxParallel?: number | null;
  priority?: number | null;
  onItemError?: "continue" | "stop_after" | null;
  stopAfterFailures?: number | null;
  stopAfterRatio?: number | null;
  deadline?: string | null;
}

export interface CreatedBatch {
  id: string;
  status: string;
  agent_id: string;
  agent_version: number;
}

// The optional columns, in a fixed order; only those given are inserted, so the table's own
// defaults (max_parallel 10, priority 0, on_item_error continue) stay written in one place.
const OPTIONAL_COLUMNS = [
  ["name", "name", "text"],
  ["maxParallel", "max_parallel", "integer"],
  ["priority", "priority", "smallint"],
  ["onItemError", "on_item_error", "text"],
  ["stopAfterFailures", "stop_after_failures", "integer"],
  ["stopAfterRatio", "stop_after_ratio", "double precision"],
  ["deadline", "deadline", "timestamptz"],
] as const satisfies ReadonlyArray<readonly [keyof NewBatch, string, string]>;

/**
 * Inserts a queued batch of the agent named by `batch.agent` (its version pinned by the
 * batches trigger); its items come next (db/sql/batchItemsStage.ts and batchItemsFromStage.ts), then start_batch. Finding the
 * agent and inserting is one statement, as for a run (db/sql/startRun.ts): zero rows back means
 * no such agent in the workspace. The trigger's refusals (a deadline in the past, EV003) come
 * back through fromDatabaseError (the API checks the options first, naming each).
 */
export async function createBatch(db: PoolClient, batch: NewBatch): Promise<CreatedBatch> {
  const given = OPTIONAL_COLUMNS.filter(([key]) => batch[key] !== undefined && batch[key] !== null);
  const values: unknown[] = [isUuid(batch.agent) ? batch.agent : null, batch.agent, ...given.map(([key]) => batch[key])];
  const columns = ["agent_id", ...given.map(([, column]) => column)].join(", ");
  const selected = ["a.id", ...given.map(([, , type], i) => `$${i + 3}::${type}`)].join(", ");
  try {
    const { rows } = await db.query<CreatedBatch>(
      `insert into everruns.batches (${columns})
       select ${selected} from everruns.agents a
        where a.id = $1::uuid or a.name = $2
        order by (a.id = $1::uuid) desc nulls last
        limit 1
       returning id, status, agent_id, agent_version`,
      values,
    );
    if (!rows[0]) throw new NotFoundError(`no agent with id or name "${batch.agent}"`);
    return rows[0];
  } catch (error) {
    throw error instanceof NotFoundError ? error : fromDatabaseError(error);
  }
}
