import { z } from "zod";
import type { Queryable } from "../pool.ts";

/**
 * `everruns bench --only fairness`: n runs of an agent in one statement, each of this priority
 * (0: the agent's), with the same user message; returns their ids in insertion order.
 */
export async function benchInsertRuns(db: Queryable, agentId: string, n: number, content: string, priority = 0): Promise<string[]> {
  const { rows } = await db.query("insert into everruns.runs (agent_id, input, priority) select $1, $2, $4 from generate_series(1, $3::int) returning id", [
    agentId,
    JSON.stringify({ messages: [{ role: "user", content }] }),
    n,
    priority,
  ]);
  return z
    .array(z.object({ id: z.string().uuid() }))
    .parse(rows)
    .map((r) => r.id);
}
