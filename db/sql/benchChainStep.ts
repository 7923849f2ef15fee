import type { Queryable } from "../pool.ts";

/**
 * One step of the bare graphile-worker chain, on a client in a transaction: a row, and the job of
 * the chain's next step unless this was its last (two statements, as a plain job would do it).
 */
export async function benchChainStep(client: Queryable, chain: number, n: number, steps: number): Promise<void> {
  await client.query("insert into public.bench_chain (chain, n) values ($1, $2)", [chain, n]);
  if (n < steps) await client.query("select graphile_worker.add_job('chain_step', json_build_object('chain', $1::int, 'n', $2::int))", [chain, n + 1]);
}
