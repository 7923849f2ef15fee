import type { Queryable } from "../pool.ts";

/** The table the bare graphile-worker chain of `everruns bench` writes one row per step into. */
export async function benchCreateChainTable(db: Queryable): Promise<void> {
  await db.query("create table public.bench_chain (id bigserial primary key, chain int not null, n int not null)");
}
