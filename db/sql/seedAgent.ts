import type { Queryable } from "../pool.ts";

/** Inserts an agent with this name and config (benchmarks, load and chaos); returns its id. */
export async function seedAgent(db: Queryable, name: string, config: Record<string, unknown>): Promise<string> {
  const { rows } = await db.query<{ id: string }>("insert into everruns.agents (name, config) values ($1, $2) returning id", [name, JSON.stringify(config)]);
  return rows[0]!.id;
}
