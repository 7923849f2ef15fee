// `everruns bench --only fairness`, admission cost: the two statements that admit runs (000023),
// each in a transaction rolled back, so that the backlog they run against stays the same size.
// Each returns the ms of its statement alone (the client's round trip included), not of the
// begin and rollback around it.
import { z } from "zod";
import type { PoolClient } from "../pool.ts";

/** Inserts one run of the agent (its workspace at max_running_runs: it goes pending) and rolls it back; ms of the insert. */
export async function benchInsertOneRolledBack(client: PoolClient, agentId: string): Promise<number> {
  await client.query("begin");
  try {
    const t0 = performance.now();
    await client.query(`insert into everruns.runs (agent_id, input) values ($1, '{"messages":[{"role":"user","content":"cost"}]}')`, [agentId]);
    return performance.now() - t0;
  } finally {
    await client.query("rollback");
  }
}

/**
 * Cancels an active run (freeing its slot: tg_runs__release_slot admits the next pending run of
 * its workspace) and rolls it back; ms of the cancel, and how many runs of the workspace it left
 * admitted and not started (1: the next one was admitted in its place).
 */
export async function benchReleaseSlotRolledBack(client: PoolClient, runId: string, workspaceId: string): Promise<{ ms: number; admitted: number }> {
  await client.query("begin");
  try {
    const t0 = performance.now();
    await client.query("select everruns.cancel_run($1)", [runId]);
    const ms = performance.now() - t0;
    const { rows } = await client.query(
      "select count(*)::int as n from everruns.runs where workspace_id = $1 and status = 'queued' and admitted_at is not null",
      [workspaceId],
    );
    return { ms, admitted: z.object({ n: z.number().int().min(0) }).parse(rows[0]).n };
  } finally {
    await client.query("rollback");
  }
}
