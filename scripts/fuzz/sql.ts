// The SQL of `everruns fuzz` (scripts/fuzz/index.ts): the plain-SQL surfaces it fires hostile
// input at (insert into everruns.runs / agents, resume_run, send_event; values always as $n
// parameters, JSON as text cast to jsonb, so Postgres parses whatever was generated), and the
// reads its checks need. Used on a throwaway database as its owner (a superuser connection).
import type { Queryable } from "../../db/pool.ts";

export interface FuzzTargets {
  runIds: string[];
  threadIds: string[];
  agentIds: string[];
  /** ids of interrupts still open */
  interruptIds: string[];
}

/** Runs, threads, agents and open interrupts to aim at (the most recent ones). */
export async function fuzzTargets(db: Queryable): Promise<FuzzTargets> {
  const { rows } = await db.query<{ id: string; thread_id: string; interrupt_ids: string[] | null }>(
    `select r.id, r.thread_id,
            (select array_agg(i ->> 'id') from jsonb_array_elements(case when r.status = 'interrupted' then coalesce(r.interrupts -> 'interrupts', '[]') else '[]' end) i) as interrupt_ids
       from everruns.runs r order by r.created_at desc limit 200`,
  );
  const agents = await db.query<{ id: string }>("select id from everruns.agents order by created_at limit 50");
  return {
    runIds: rows.map((r) => r.id),
    threadIds: [...new Set(rows.map((r) => r.thread_id))],
    agentIds: agents.rows.map((a) => a.id),
    interruptIds: rows.flatMap((r) => r.interrupt_ids ?? []),
  };
}

export async function fuzzInsertRun(db: Queryable, agentId: string, inputJson: string, threadId: string | null): Promise<void> {
  await db.query("insert into everruns.runs (agent_id, input, thread_id) values ($1, $2::jsonb, $3)", [agentId, inputJson, threadId]);
}

export async function fuzzInsertAgent(db: Queryable, name: string, configJson: string): Promise<void> {
  await db.query("insert into everruns.agents (name, config) values ($1, $2::jsonb)", [name, configJson]);
}

export async function fuzzResumeRun(db: Queryable, runId: string, resumeJson: string): Promise<void> {
  await db.query("select everruns.resume_run($1, $2::jsonb)", [runId, resumeJson]);
}

export async function fuzzSendEvent(db: Queryable, runId: string, name: string, payloadJson: string | null): Promise<void> {
  await db.query("select everruns.send_event($1, $2, $3::jsonb)", [runId, name, payloadJson]);
}

export async function fuzzAgentExists(db: Queryable, name: string): Promise<boolean> {
  const { rows } = await db.query("select 1 from everruns.agents where name = $1", [name]);
  return rows.length > 0;
}

/** True when the thread exists and no run is on it. */
export async function fuzzThreadHasNoRun(db: Queryable, threadId: string): Promise<boolean> {
  const { rows } = await db.query("select 1 from everruns.threads t where t.id = $1 and not exists (select 1 from everruns.runs r where r.thread_id = t.id)", [
    threadId,
  ]);
  return rows.length > 0;
}

export async function fuzzThreadsWithoutRuns(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    "select t.id from everruns.threads t where not exists (select 1 from everruns.runs r where r.thread_id = t.id)",
  );
  return rows.map((r) => r.id);
}

export async function fuzzAgentsWithoutVersion(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    "select a.name from everruns.agents a where not exists (select 1 from everruns.agent_versions v where v.agent_id = a.id and v.version = a.version)",
  );
  return rows.map((r) => r.name);
}

/** Runs neither finished nor parked (waiting, interrupted): queued or running. */
export async function fuzzUnsettledRuns(db: Queryable): Promise<Array<{ id: string; status: string; agent: string; config: unknown }>> {
  const { rows } = await db.query<{ id: string; status: string; agent: string; config: unknown }>(
    `select r.id, r.status, a.name as agent, a.config
       from everruns.runs r join everruns.agents a on a.id = r.agent_id
      where r.status in ('queued', 'running') order by r.created_at`,
  );
  return rows;
}

export async function fuzzRunCensus(db: Queryable): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; n: number }>("select status, count(*)::int as n from everruns.runs group by status order by status");
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}
