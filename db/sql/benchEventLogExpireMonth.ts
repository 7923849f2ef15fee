import type { Queryable } from "../pool.ts";

/**
 * `everruns bench --only event-log`: marks every run created in [from, to) as expired, as
 * apply_retention's row path leaves them when it has expired the whole month; returns how many.
 */
export async function benchEventLogExpireMonth(db: Queryable, from: string, to: string): Promise<number> {
  const { rowCount } = await db.query(
    "update everruns.runs set history_expired_at = now() where created_at >= $1::timestamptz and created_at < $2::timestamptz and history_expired_at is null",
    [from, to],
  );
  return rowCount ?? 0;
}
