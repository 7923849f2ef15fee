import type { Queryable } from "../pool.ts";

/** Starts n runs of an agent with the same user message, in one statement (as another system would); returns their ids. */
export async function seedRuns(db: Queryable, agentId: string, n: number, content: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>("insert into everruns.runs (agent_id, input) select $1, $2 from generate_series(1, $3) returning id", [
    agentId,
    JSON.stringify({ messages: [{ role: "user", content }] }),
    n,
  ]);
  return rows.map((r) => r.id);
}
