import { z } from "zod";
import type { Pool } from "../pool.ts";

export interface EventLogFill {
  workspaceId: string;
  agentId: string;
  agentVersion: number;
  /** runs to add (each with its own thread) */
  runs: number;
  /** the first run's created_at (timestamptz text); the next ones every `spacingMs` */
  createdFrom: string;
  spacingMs: number;
  /** each run finished this long after it was created */
  finishedAfterMs: number;
  /** events (seq 1..n) and steps (seq 1..n) per run */
  eventsPerRun: number;
  stepsPerRun: number;
}

/**
 * `everruns bench --only event-log`: adds finished runs with their threads, events and steps in one
 * statement and one transaction, fast: in a scratch database only, as the superuser, with the
 * triggers and foreign-key checks off (session_replication_role = replica) and no wait for the
 * commit's flush. Each run's rows carry the partition key an engine-written run's would
 * (run_created_at = its created_at), so they land in its month's partition. Returns the rows added.
 */
export async function benchEventLogFill(pool: Pool, f: EventLogFill): Promise<{ runs: number; events: number; steps: number }> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query("set local session_replication_role = replica");
    await client.query("set local synchronous_commit = off");
    const { rows } = await client.query(
      `with g as materialized (
         select gen_random_uuid() as id,
                $3::timestamptz + (i - 1) * make_interval(secs => $4::float8 / 1000) as created_at
           from generate_series(1, $5::int) i
       ), t as (
         insert into everruns.threads (id, workspace_id, agent_id, created_at, updated_at)
         select g.id, $1, $2, g.created_at, g.created_at from g
       ), r as (
         insert into everruns.runs (id, workspace_id, agent_id, agent_version, thread_id, input, status, output,
                                    step_cursor, event_seq, settled_event_seq, created_at, admitted_at, started_at,
                                    finished_at, updated_at, legacy_history)
         select g.id, $1, $2, $6, g.id, '{"messages": [{"role": "user", "content": "bench event log"}]}', 'succeeded',
                '{"text": "done"}', $8::int + 1, $7::int, $7::int, g.created_at, g.created_at, g.created_at,
                g.created_at + make_interval(secs => $9::float8 / 1000), g.created_at + make_interval(secs => $9::float8 / 1000), false
           from g
       ), e as (
         insert into everruns.run_events (run_id, seq, workspace_id, type, event, created_at, run_created_at)
         select g.id, s, $1, 'TEXT_MESSAGE_CONTENT',
                jsonb_build_object('type', 'TEXT_MESSAGE_CONTENT', 'messageId', 'msg-' || (s / 20)::text,
                                   'delta', 'a few tokens of model output, number ' || s::text),
                g.created_at + make_interval(secs => s::float8 / 100), g.created_at
           from g cross join generate_series(1, $7::int) s
       ), st as (
         insert into everruns.run_steps (run_id, seq, workspace_id, kind, name, status, attempt, input, output, usage,
                                         started_at, finished_at, run_created_at)
         select g.id, s, $1, case when s % 2 = 1 then 'llm' else 'tool' end,
                case when s % 2 = 1 then 'llm: turn ' || s::text else 'tool: search' end, 'succeeded', 1,
                '{"query": "what the model asked for"}', '{"text": "what the step answered, a sentence or two long"}',
                '{"input_tokens": 120, "output_tokens": 40, "cost_usd": 0.0002}',
                g.created_at + make_interval(secs => s::float8), g.created_at + make_interval(secs => s::float8 + 0.5), g.created_at
           from g cross join generate_series(1, $8::int) s
       )
       select (select count(*) from g)::int as runs`,
      [f.workspaceId, f.agentId, f.createdFrom, f.spacingMs, f.runs, f.agentVersion, f.eventsPerRun, f.stepsPerRun, f.finishedAfterMs],
    );
    await client.query("commit");
    const runs = z.object({ runs: z.number().int() }).parse(rows[0]).runs;
    return { runs, events: runs * f.eventsPerRun, steps: runs * f.stepsPerRun };
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
