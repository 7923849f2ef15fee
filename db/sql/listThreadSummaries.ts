import type { Queryable } from "../pool.ts";

/** One row of the console's threads list. */
export interface ThreadSummary {
  threadId: string;
  agentId: string | null;
  agentName: string | null;
  createdAt: string;
  lastActivityAt: string;
  runCount: number;
  latestRunId: string | null;
  latestRunStatus: string | null;
  /** The thread's first user message (of its first run), at most 160 characters. */
  title: string | null;
}

/**
 * Threads newest activity first (threads_updated_idx: a run on a thread bumps its updated_at),
 * `first` from `offset`, with their run count and latest run (runs_thread_created_idx), under
 * the caller's row-level security. Reads one row more than asked to say whether there is a next page.
 */
export async function listThreadSummaries(
  db: Queryable,
  first: number,
  offset: number,
  agentId: string | null,
): Promise<{ nodes: ThreadSummary[]; hasNextPage: boolean }> {
  const { rows } = await db.query<ThreadSummary>(
    `select t.id as "threadId", t.agent_id as "agentId", a.name as "agentName", t.created_at as "createdAt",
            greatest(t.updated_at, lr.updated_at) as "lastActivityAt",
            (select count(*) from everruns.runs c where c.thread_id = t.id)::int as "runCount",
            lr.id as "latestRunId", lr.status as "latestRunStatus",
            (select left(m ->> 'content', 160)
               from (select r.input from everruns.runs r where r.thread_id = t.id order by r.created_at limit 1) fr,
                    jsonb_array_elements(case when jsonb_typeof(fr.input -> 'messages') = 'array' then fr.input -> 'messages' end) m
              where m ->> 'role' = 'user' and jsonb_typeof(m -> 'content') = 'string' limit 1) as "title"
       from everruns.threads t
       left join everruns.agents a on a.id = t.agent_id
       left join lateral (
         select r.id, r.status, r.updated_at from everruns.runs r
          where r.thread_id = t.id order by r.created_at desc limit 1
       ) lr on true
      where ($3::uuid is null or t.agent_id = $3::uuid)
      order by t.updated_at desc, t.id desc
      limit $1 + 1 offset $2`,
    [first, offset, agentId],
  );
  const iso = (v: string) => new Date(v).toISOString();
  return {
    nodes: rows.slice(0, first).map((r) => ({ ...r, createdAt: iso(r.createdAt), lastActivityAt: iso(r.lastActivityAt) })),
    hasNextPage: rows.length > first,
  };
}
