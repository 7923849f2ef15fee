import { z } from "zod";
import type { Queryable } from "../pool.ts";

/**
 * Attempts a worker pool is running now (begun, not ended): `everruns bench --only inflight-kill`
 * kills the worker once it runs about as many as it can.
 */
export async function benchRunningAttempts(db: Queryable, poolId: string): Promise<number> {
  const { rows } = await db.query("select count(*)::int as n from everruns.run_attempts where pool_id = $1 and ended_at is null", [poolId]);
  return z.object({ n: z.number().int().min(0) }).parse(rows[0]).n;
}
