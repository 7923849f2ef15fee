import { z } from "zod";
import type { Queryable } from "../pool.ts";

// Times come as microseconds since the epoch (float8 holds them exactly for millennia): spans
// keep the database's microsecond precision, which a Date would cut to milliseconds.
const Micros = z.number();

const AttemptRowSchema = z.object({
  seq: z.number().int(),
  attempt: z.number().int(),
  step_kind: z.string().nullable(),
  step_name: z.string().nullable(),
  pool_id: z.string().nullable(),
  hostname: z.string().nullable(),
  worker_pid: z.number().int().nullable(),
  started_us: Micros,
  ended_us: Micros.nullable(),
  freed_us: Micros.nullable(),
  outcome: z.string().nullable(),
  error: z.unknown(),
});
export type TraceAttemptRow = z.infer<typeof AttemptRowSchema>;

const StepRowSchema = z.object({
  seq: z.number().int(),
  kind: z.string(),
  name: z.string(),
  status: z.string(),
  attempt: z.number().int(),
  tool_call_id: z.string().nullable(),
  /** the model a provider's reply names (an llm step's replay record; a compaction step's name), when known */
  response_model: z.string().nullable(),
  usage: z.record(z.string(), z.unknown()).nullable(),
  error: z.unknown(),
  started_us: Micros,
  finished_us: Micros,
});
export type TraceStepRow = z.infer<typeof StepRowSchema>;

const RunTraceSchema = z.object({
  id: z.string(),
  workspace_id: z.string(),
  agent_id: z.string(),
  agent_name: z.string(),
  agent_version: z.number().int(),
  /** "workflow" for a workflow agent (docs/workflows.md), else null */
  agent_kind: z.string().nullable(),
  provider: z.string().nullable(),
  model: z.string().nullable(),
  thread_id: z.string(),
  status: z.string(),
  error: z.unknown(),
  usage: z.record(z.string(), z.unknown()).nullable(),
  trace_parent: z.string().nullable(),
  /** the W3C tracestate that goes with it (000042), put on every span of the run */
  trace_state: z.string().nullable(),
  created_us: Micros,
  finished_us: Micros.nullable(),
  /** the last step read (0: none): the steps and attempts below go up to it */
  through_seq: z.number().int(),
  /** its last committed step (runs.step_cursor - 1; 0: none): through_seq is it unless the read was cut at `maxSteps` */
  last_seq: z.number().int(),
  attempts: z.array(AttemptRowSchema),
  steps: z.array(StepRowSchema),
});
export type RunTraceRows = z.infer<typeof RunTraceSchema>;

const us = (column: string) => `(extract(epoch from ${column}) * 1000000)::float8`;

// One statement, so that the steps and attempts read are one snapshot of each run: the committed
// steps after `after_seq` up to `through_seq` (at most $3 of them) and their attempts, and once the
// run ended and the read goes to its last committed step, the attempts of the steps it never
// committed too (an attempt a cancel or a failure cut short). The last committed step is the run's
// cursor - 1 (no max() over run_steps); a provider reply's model is read from the output
// of llm steps only (a compaction step's name is the model that wrote its summary: its output, the
// summary, is not read).
const READ_RUN_TRACES = `
select r.id, r.workspace_id, r.agent_id, a.name as agent_name, r.agent_version,
       v.config ->> 'kind' as agent_kind, v.config ->> 'provider' as provider, v.config ->> 'model' as model,
       r.thread_id, r.status, r.error, r.usage, r.trace_parent, r.trace_state,
       ${us("r.created_at")} as created_us, ${us("r.finished_at")} as finished_us,
       c.through_seq, r.step_cursor - 1 as last_seq,
       coalesce((select json_agg(json_build_object(
                  'seq', t.seq, 'attempt', t.attempt, 'step_kind', t.step_kind, 'step_name', t.step_name,
                  'pool_id', t.pool_id, 'hostname', t.hostname, 'worker_pid', t.worker_pid,
                  'started_us', ${us("t.started_at")}, 'ended_us', ${us("t.ended_at")}, 'freed_us', ${us("t.freed_at")},
                  'outcome', t.outcome, 'error', t.error) order by t.seq, t.attempt)
                   from everruns.run_attempts t
                  where t.run_id = r.id and t.seq > x.after_seq
                    and (t.seq <= c.through_seq or (r.finished_at is not null and c.through_seq = r.step_cursor - 1))), '[]') as attempts,
       coalesce((select json_agg(json_build_object(
                  'seq', s.seq, 'kind', s.kind, 'name', s.name, 'status', s.status, 'attempt', s.attempt,
                  'tool_call_id', s.input ->> 'tool_call_id',
                  'response_model', case s.kind when 'llm' then s.output -> 'replay' ->> 'model' when 'compaction' then s.name end,
                  'usage', s.usage, 'error', s.error,
                  'started_us', ${us("s.started_at")}, 'finished_us', ${us("s.finished_at")}) order by s.seq)
                   from everruns.run_steps s
                  where s.run_id = r.id and s.seq > x.after_seq and s.seq <= c.through_seq), '[]') as steps
  from unnest($1::uuid[], $2::int[]) as x(run_id, after_seq)
  join everruns.runs r on r.id = x.run_id
  join everruns.agents a on a.id = r.agent_id
  join everruns.agent_versions v on v.agent_id = r.agent_id and v.version = r.agent_version
  cross join lateral (select greatest(least(r.step_cursor - 1, x.after_seq + $3::int), 0) as through_seq) c`;

/**
 * What the spans of runs are built from (lib/tracing/spans.ts): each run with its agent, and its
 * steps and attempts after `afterSeq` (0: all), at most `maxSteps` steps a run (the rest: read
 * again from its through_seq). Runs that do not exist are left out.
 */
export async function readRunTraces(
  db: Queryable,
  runs: ReadonlyArray<{ runId: string; afterSeq: number }>,
  maxSteps = 2_147_483_647,
): Promise<RunTraceRows[]> {
  if (runs.length === 0) return [];
  const { rows } = await db.query(READ_RUN_TRACES, [runs.map((r) => r.runId), runs.map((r) => r.afterSeq), Math.min(maxSteps, 2_000_000_000)]);
  return rows.map((row) => RunTraceSchema.parse(row));
}
