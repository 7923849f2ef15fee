import type { Queryable } from "../pool.ts";

/**
 * `everruns bench --only trace`: marks the traces of runs that ran with tracing off as exported
 * (everruns_private.trace_exports, as an exporter leaves a run whose spans all went out), so that a
 * tracing-on worker's sweep, which exports every recently finished run without a marker, does not
 * export them on the tracing-on side's time.
 */
export async function benchMarkTracesExported(db: Queryable, runIds: string[]): Promise<void> {
  await db.query(
    `insert into everruns_private.trace_exports (run_id, exported_through_seq, root_exported)
     select r.id, r.step_cursor - 1, true from everruns.runs r where r.id = any($1::uuid[])
     on conflict (run_id) do update set exported_through_seq = excluded.exported_through_seq, root_exported = true`,
    [runIds],
  );
}
