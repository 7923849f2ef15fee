// A workflow's Parallel or Map state and its children (worker/workflow/engine.ts): one read per
// wake that stays small however many items the Map has. The children of one visit share a
// call-id prefix (`wf:<state>:<visit>.<retries>:`) and end in their index. Outputs are read once,
// when every child succeeded (readFanOutResults), not at every wake.
import { z } from "zod";
import type { Queryable } from "../pool.ts";

const OpenChildSchema = z.object({
  index: z.number().int(),
  run_id: z.string(),
  status: z.string(),
  error: z.object({ code: z.string().optional(), message: z.string().optional() }).loose().nullable(),
});
export type OpenChild = z.infer<typeof OpenChildSchema>;

const FanOutSchema = z.object({
  /** this run's depth in its tree (a root: 0) */
  depth: z.number().int(),
  /** the indices of the children started (the last run of each call's chain) */
  started: z.array(z.number().int()),
  succeeded: z.number().int(),
  /** the children that have not succeeded: unfinished, failed or cancelled */
  open: z.array(OpenChildSchema),
  /** for a root: descendants awaiting an answer its log does not report yet (as readCallerTree) */
  unreported: z.array(z.object({ run_id: z.string(), agent: z.string(), caller_run_id: z.string(), interrupts: z.unknown() })),
});
export type FanOut = z.infer<typeof FanOutSchema>;

const READ_FAN_OUT = `
with recursive up as (
  select r.id, r.caller_run_id, 0 as depth from everruns.runs r where r.id = $1
  union all
  select p.id, p.caller_run_id, u.depth + 1 from everruns.runs p join up u on p.id = u.caller_run_id where u.depth < 20
), mine as (
  select c.id, substring(c.caller_tool_call_id from char_length($2) + 1)::int as index, c.status, c.error
    from everruns.runs c
   where c.caller_run_id = $1 and c.continued_by is null and left(c.caller_tool_call_id, char_length($2)) = $2
)
select (select max(u.depth) from up u)::int as depth,
       (select coalesce(jsonb_agg(m.index), '[]') from mine m) as started,
       (select count(*) from mine m where m.status = 'succeeded')::int as succeeded,
       (select coalesce(jsonb_agg(jsonb_build_object('index', m.index, 'run_id', m.id, 'status', m.status, 'error', m.error) order by m.index), '[]')
          from mine m where m.status <> 'succeeded') as open,
       (select coalesce(jsonb_agg(jsonb_build_object('run_id', d.id, 'agent', a.name, 'caller_run_id', d.caller_run_id,
                                                     'interrupts', d.interrupts -> 'interrupts') order by d.created_at, d.id), '[]')
          from everruns.runs d join everruns.agents a on a.id = d.agent_id
         where d.root_run_id = $1 and d.status = 'interrupted' and d.continued_by is null
           and not exists (select from everruns.run_events e
                            where e.run_id = $1 and e.type = 'CUSTOM' and e.event ->> 'name' = 'everruns.child_interrupted'
                              and e.event -> 'value' ->> 'run_id' = d.id::text)) as unreported`;

/** The children of one Parallel / Map visit of `runId`, by index, named by their call-id prefix (ending in ":"). */
export async function readFanOut(db: Queryable, runId: string, prefix: string): Promise<FanOut> {
  const { rows } = await db.query(READ_FAN_OUT, [runId, prefix]);
  return FanOutSchema.parse(rows[0]);
}

const READ_RESULTS = `
select c.output
  from everruns.runs c
 where c.caller_run_id = $1 and c.continued_by is null and left(c.caller_tool_call_id, char_length($2)) = $2
 order by substring(c.caller_tool_call_id from char_length($2) + 1)::int`;

/** The outputs of one visit's children, in index order (read once every child succeeded). */
export async function readFanOutResults(db: Queryable, runId: string, prefix: string): Promise<unknown[]> {
  const { rows } = await db.query<{ output: unknown }>(READ_RESULTS, [runId, prefix]);
  return rows.map((r) => r.output);
}
