import { z } from "zod";
import type { Queryable } from "../pool.ts";
import { HistoryEntrySchema, type HistoryEntry } from "./beginStep.ts";

/** The whole conversation of a run's thread up to and including the run: what an LLM call sees. */
export async function threadHistory(db: Queryable, runId: string): Promise<HistoryEntry[]> {
  const { rows } = await db.query<{ history: unknown }>("select everruns_private.run_history($1, 'thread') as history", [runId]);
  return z.array(HistoryEntrySchema).parse(rows[0]?.history ?? []);
}

/**
 * The run's thread history from the entry its latest compaction covers through on
 * (everruns_private.run_history_compacted, 000031): all a managed LLM call sends (worker/context/),
 * without reading summarised turns. The whole history when the thread has no compaction.
 */
export async function threadHistorySinceSummary(db: Queryable, runId: string): Promise<HistoryEntry[]> {
  const { rows } = await db.query<{ history: unknown }>("select everruns_private.run_history_compacted($1) as history", [runId]);
  return z.array(HistoryEntrySchema).parse(rows[0]?.history ?? []);
}
