import type { Queryable } from "../pool.ts";

/** The caller's step queue in one time bucket: the deepest sample in it. */
export interface QueueSample {
  start: string;
  ready: number;
  scheduled: number;
  running: number;
  oldestReadyAgeMs: number | null;
}

/**
 * The caller's workspace's queue over the last `windowSeconds` (oldest first, empty buckets as
 * zeros), from the samples repair_orphaned_runs takes every 5 s while workers run
 * (everruns_private.ops_queue_history, 000014).
 */
export async function readQueueHistory(db: Queryable, windowSeconds: number, bucketSeconds: number): Promise<QueueSample[]> {
  const { rows } = await db.query<QueueSample>(
    `select bucket_start as "start", ready, scheduled, running, oldest_ready_ms as "oldestReadyAgeMs"
       from everruns_private.ops_queue_history($1, $2)`,
    [windowSeconds, bucketSeconds],
  );
  return rows.map((r) => ({ ...r, start: new Date(r.start).toISOString() }));
}
