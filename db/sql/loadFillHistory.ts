import type { Queryable } from "../pool.ts";

/**
 * Writes synthetic committed steps for these runs (which no worker runs): seqs from + 1 ..
 * from + perRun of each, alternating LLM turns and echo tool calls, as if they had run.
 */
export async function loadFillHistory(db: Queryable, runIds: string[], from: number, perRun: number): Promise<void> {
  await db.query(
    `insert into everruns.run_steps (run_id, seq, workspace_id, kind, name, status, attempt, input, output, started_at, finished_at,
                                     run_created_at)
     select r.id, $2::int + g, r.workspace_id,
            case when g % 2 = 1 then 'llm' else 'tool' end, case when g % 2 = 1 then 'scripted' else 'echo' end, 'succeeded', 1,
            case when g % 2 = 1 then jsonb_build_object('call_index', ($2::int + g) / 2, 'messages', 1)
                 else '{"tool_call_id": "c", "arguments": {}}'::jsonb end,
            case when g % 2 = 1 then '{"text": "t", "tool_calls": [{"id": "c", "name": "echo", "arguments": {}}]}'::jsonb
                 else '{"tool_call_id": "c", "message_id": "m", "content": "{}", "is_error": false}'::jsonb end,
            now(), now(), everruns_private.run_partition_key(r.created_at, r.legacy_history)
     from everruns.runs r, generate_series(1, $3::int) g
     where r.id = any($1::uuid[])`,
    [runIds, from, perRun],
  );
}
