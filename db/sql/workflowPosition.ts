// Where a workflow run stands (worker/workflow/engine.ts): its latest workflow step, in the run
// or, for a continuation (an approval answered), the runs it continues; the first run of that
// chain (the execution's input and start); the database's clock. Steps of kind `state` (a
// state's visit finished) and `wait` (it parked) carry `output.workflow` (000034).
import { z } from "zod";
import type { Queryable } from "../pool.ts";

const WorkflowStepSchema = z.object({
  run_id: z.string(),
  seq: z.number().int(),
  kind: z.enum(["state", "wait"]),
  name: z.string(),
  status: z.string(),
  input: z.unknown(),
  output: z.record(z.string(), z.unknown()),
});
export type WorkflowStep = z.infer<typeof WorkflowStepSchema>;

const WorkflowPositionSchema = z.object({
  now: z.string(),
  last: WorkflowStepSchema.nullable(),
  first: z.object({ id: z.string(), input: z.unknown(), created_at: z.string() }),
  agent_name: z.string(),
  /** the agent of the run that started this one as a branch, Map item or agent Task (null: none) */
  caller_agent_id: z.string().nullable(),
});
export type WorkflowPosition = z.infer<typeof WorkflowPositionSchema>;

const READ_POSITION = `
with recursive chain(id, parent, depth) as (
  select r.id, r.parent_run_id, 0 from everruns.runs r where r.id = $1
  union all
  select p.id, p.parent_run_id, c.depth + 1 from chain c join everruns.runs p on p.id = c.parent where c.depth < 10000
)
select to_json(now()) #>> '{}' as now,
       -- each run's newest workflow step through the (run_id, seq) index, then the newest run's
       (select to_jsonb(x) from (
          select s.run_id, s.seq, s.kind, s.name, s.status, s.input, s.output
            from chain c
            cross join lateral (select * from everruns.run_steps s
                                 where s.run_id = c.id and s.kind in ('state', 'wait') and s.output ? 'workflow'
                                 order by s.seq desc limit 1) s
           order by c.depth
           limit 1) x) as last,
       (select jsonb_build_object('id', r.id, 'input', r.input, 'created_at', to_json(r.created_at) #>> '{}')
          from chain c join everruns.runs r on r.id = c.id order by c.depth desc limit 1) as first,
       (select a.name from everruns.runs r join everruns.agents a on a.id = r.agent_id where r.id = $1) as agent_name,
       (select c.agent_id from everruns.runs r join everruns.runs c on c.id = r.caller_run_id where r.id = $1) as caller_agent_id`;

export async function readWorkflowPosition(db: Queryable, runId: string): Promise<WorkflowPosition> {
  const { rows } = await db.query(READ_POSITION, [runId]);
  return WorkflowPositionSchema.parse(rows[0]);
}

// A run that says it redrives another (input.workflow.redrive_of, start_at, input: what
// everruns.redrive_run writes): true when that run is a failed run of the same agent version and
// workspace that reached the state at the top level with exactly that input. Anyone who may start
// a run could write the same input; this keeps it to what a redrive may do.
const REDRIVE_CHECK = `
with recursive me as (
  select r.agent_id, r.agent_version, r.workspace_id, r.input -> 'workflow' as wf from everruns.runs r where r.id = $1
), original as (
  select o.id, o.parent_run_id from everruns.runs o, me
   where o.id = case when (me.wf ->> 'redrive_of') ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                     then (me.wf ->> 'redrive_of')::uuid end
     and o.status = 'failed' and o.agent_id = me.agent_id and o.agent_version = me.agent_version and o.workspace_id = me.workspace_id
), chain(id, parent, depth) as (
  select o.id, o.parent_run_id, 0 from original o
  union all
  select p.id, p.parent_run_id, c.depth + 1 from chain c join everruns.runs p on p.id = c.parent where c.depth < 10000
)
select exists (
  select from chain c join everruns.run_steps s on s.run_id = c.id, me
   where s.kind in ('state', 'wait') and s.output ? 'workflow' and s.name = me.wf ->> 'start_at'
     and coalesce(jsonb_array_length(s.output -> 'scope'), 0) = 0
     and s.input -> 'input' is not distinct from me.wf -> 'input'
) as ok`;

/** Whether a run's input.workflow is a redrive everruns.redrive_run could have written (see REDRIVE_CHECK). */
export async function isValidRedrive(db: Queryable, runId: string): Promise<boolean> {
  const { rows } = await db.query<{ ok: boolean }>(REDRIVE_CHECK, [runId]);
  return rows[0]?.ok === true;
}

const READ_ANSWERER = `
select a.actor from everruns.audit_log a
 where a.target_type = 'run' and a.target_id = $1::text and a.action in ('approval.answered', 'run.resumed')
 order by a.seq desc limit 1`;

/** Who answered the interrupts a continuation run answers (the audit log's actor of its start), or null. */
export async function readAnswerer(db: Queryable, runId: string): Promise<string | null> {
  const { rows } = await db.query<{ actor: string }>(READ_ANSWERER, [runId]);
  return rows[0]?.actor ?? null;
}
