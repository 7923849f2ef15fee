// Reads of a caller's sub-agents (000033, worker/sub-agents.ts). Starting children and waking
// callers happen in SQL, in the transactions that park a caller and end a child.
import { z } from "zod";
import type { Queryable } from "../pool.ts";

const ChildSchema = z.object({
  tool_call_id: z.string(),
  /** the last run of the call's chain (the child, or the continuation that answered it) */
  run_id: z.string(),
  agent: z.string(),
  status: z.string(),
  output: z.unknown(),
  error: z.object({ code: z.string().optional(), message: z.string().optional() }).loose().nullable(),
});
export type ChildRun = z.infer<typeof ChildSchema>;

const InterruptedSchema = z.object({ run_id: z.string(), agent: z.string(), caller_run_id: z.string(), interrupts: z.unknown() });

const CallerTreeSchema = z.object({
  depth: z.number().int(),
  started: z.number().int(),
  children: z.array(ChildSchema),
  unreported: z.array(InterruptedSchema),
});
export type CallerTree = z.infer<typeof CallerTreeSchema>;

/** The deepest chain of callers walked up (a tree is bounded by its agents' max_depth, at most 10). */
const MAX_WALK = 20;

const READ_CALLER_TREE = `
with recursive up as (
  select r.id, r.caller_run_id, 0 as depth from everruns.runs r where r.id = $1
  union all
  select p.id, p.caller_run_id, u.depth + 1 from everruns.runs p join up u on p.id = u.caller_run_id where u.depth < $2
)
select (select max(u.depth) from up u)::int as depth,
       (select count(*) from everruns.runs c where c.caller_run_id = $1 and c.parent_run_id is null)::int as started,
       (select coalesce(jsonb_agg(jsonb_build_object('tool_call_id', c.caller_tool_call_id, 'run_id', c.id, 'agent', a.name,
                                                     'status', c.status, 'output', c.output, 'error', c.error) order by c.created_at, c.id), '[]')
          from everruns.runs c join everruns.agents a on a.id = c.agent_id
         where c.caller_run_id = $1 and c.continued_by is null) as children,
       -- a root reports its descendants that await an answer, each once (its log keeps the report)
       (select coalesce(jsonb_agg(jsonb_build_object('run_id', d.id, 'agent', a.name, 'caller_run_id', d.caller_run_id,
                                                     'interrupts', d.interrupts -> 'interrupts') order by d.created_at, d.id), '[]')
          from everruns.runs d join everruns.agents a on a.id = d.agent_id
         where d.root_run_id = $1 and d.status = 'interrupted' and d.continued_by is null
           and not exists (select from everruns.run_events e
                            where e.run_id = $1 and e.type = 'CUSTOM' and e.event ->> 'name' = 'everruns.child_interrupted'
                              and e.event -> 'value' ->> 'run_id' = d.id::text)) as unreported`;

/**
 * A caller's children, one per call (the last run of each call's chain), how many it started, its
 * depth in its tree (a root: 0) and, for a root, the descendants awaiting an answer it has not
 * reported in its log yet.
 */
export async function readCallerTree(db: Queryable, runId: string): Promise<CallerTree> {
  const { rows } = await db.query(READ_CALLER_TREE, [runId, MAX_WALK]);
  return CallerTreeSchema.parse(rows[0]);
}
