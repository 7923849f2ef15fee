import type { Queryable } from "../pool.ts";

/** Enqueues the first step of each of `chains` bare graphile-worker chains. */
export async function benchStartChains(db: Queryable, chains: number): Promise<void> {
  await db.query("select graphile_worker.add_job('chain_step', json_build_object('chain', c, 'n', 1)) from generate_series(1, $1) c", [chains]);
}
