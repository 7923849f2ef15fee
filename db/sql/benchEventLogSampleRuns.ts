import { z } from "zod";
import type { Queryable } from "../pool.ts";

/** `everruns bench --only event-log`: up to n runs of a workspace picked at random, with their last event seq. */
export async function benchEventLogSampleRuns(db: Queryable, workspaceId: string, n: number): Promise<Array<{ id: string; event_seq: number }>> {
  const { rows } = await db.query("select id, event_seq from everruns.runs where workspace_id = $1 order by random() limit $2", [workspaceId, n]);
  return z.array(z.object({ id: z.string().uuid(), event_seq: z.number().int() })).parse(rows);
}
