import { z } from "zod";
import type { Queryable } from "../pool.ts";
import { HistoryEntrySchema, type HistoryEntry } from "./beginStep.ts";

/** The whole conversation of a run's thread up to and including the run: what an LLM call sees. */
export async function threadHistory(db: Queryable, runId: string): Promise<HistoryEntry[]> {
  const { rows } = await db.query<{ history: unknown }>("select everruns_private.run_history($1, 'thread') as history", [runId]);
  return z.array(HistoryEntrySchema).parse(rows[0]?.history ?? []);
}
