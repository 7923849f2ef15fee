import type { Queryable } from "../pool.ts";

/** A slice of a stored tool result: its characters from `offset`, and the whole result's length. */
export interface ToolResultSlice {
  total: number;
  slice: string;
}

/**
 * A slice of the result of tool call `toolCallId` as the tool step of the run's own thread
 * committed it (read_result, worker/tools/read-result.ts): only the steps of runs of the same
 * thread as `runId` are searched, so a run never reads another thread's results. Null when the
 * thread has no committed result of that call. The slice is cut in the database: a result of
 * megabytes is not fetched to read 10,000 characters of it.
 */
export async function threadToolResult(db: Queryable, runId: string, toolCallId: string, offset: number, limit: number): Promise<ToolResultSlice | null> {
  const { rows } = await db.query<{ total: number; slice: string }>(
    `select length(s.output ->> 'content') as total, substr(s.output ->> 'content', $3::int + 1, $4::int) as slice
       from everruns.runs me
       join everruns.runs r on r.thread_id = me.thread_id
       join everruns.run_steps s on s.run_id = r.id
      where me.id = $1 and s.kind = 'tool' and s.status = 'succeeded' and s.output ->> 'tool_call_id' = $2
      order by s.finished_at desc
      limit 1`,
    [runId, toolCallId, offset, limit],
  );
  const row = rows[0];
  return row ? { total: Number(row.total), slice: row.slice ?? "" } : null;
}
