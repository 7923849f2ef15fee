import type { Queryable } from "../pool.ts";

/**
 * Every message id a thread already holds: the ids of its runs' input messages (and the ids
 * MESSAGES_SNAPSHOT gives id-less ones, `<run_id>:input:<i>`), and the message ids its committed
 * steps produced (assistant messages of llm steps, tool results of tool steps). An AG-UI client
 * sends the whole history on every request; these are the messages it must not add twice.
 */
export async function threadMessageIds(db: Queryable, threadId: string): Promise<Set<string>> {
  const { rows } = await db.query<{ id: string }>(
    `select coalesce(m.value ->> 'id', r.id::text || ':input:' || (m.ord - 1)) as id
       from everruns.runs r
       cross join lateral jsonb_array_elements(case jsonb_typeof(r.input -> 'messages') when 'array' then r.input -> 'messages' else '[]' end)
         with ordinality as m(value, ord)
      where r.thread_id = $1
     union
     select s.output ->> 'message_id'
       from everruns.runs r
       join everruns.run_steps s on s.run_id = r.id
      where r.thread_id = $1 and s.output ? 'message_id'`,
    [threadId],
  );
  return new Set(rows.map((r) => r.id));
}
