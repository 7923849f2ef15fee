// everruns_private.trace_exports (000035): how far each run's spans were exported, the lease of
// the exporter working on it, and its backoff after failed exports (worker/trace-export.ts).
// Workers only. Every statement that locks several rows locks them in run id order (two exporters
// claiming or marking overlapping runs never deadlock), and a lease is fenced: its claimed_until,
// returned as a token, must still be the row's for a renewal, a mark or a release to apply.
import { z } from "zod";
import type { Queryable } from "../pool.ts";

const ClaimedSchema = z.object({
  run_id: z.string(),
  exported_through_seq: z.number().int(),
  root_exported: z.boolean(),
  /** the lease's token (claimed_until, exactly, as text) */
  token: z.string(),
});
export type ClaimedTraceExport = z.infer<typeof ClaimedSchema>;

const HeldSchema = z.object({ run_id: z.string(), token: z.string() });

/** The distinct ids of `runIds`, sorted (the order rows are locked in). */
function sortedIds(runIds: readonly string[]): string[] {
  return [...new Set(runIds.map((id) => id.toLowerCase()))].sort();
}

/**
 * Claims runs for an export of their spans for `leaseMs` (database clock): the runs of `runIds`
 * that no other exporter holds a live lease on and that are not backing off after failed exports,
 * with how far they were exported and the lease's token (a run never exported gets its row now).
 * A lease that ran out (its exporter died) is taken over.
 */
export async function claimTraceExports(db: Queryable, runIds: readonly string[], leaseMs: number): Promise<ClaimedTraceExport[]> {
  if (runIds.length === 0) return [];
  const { rows } = await db.query(
    `insert into everruns_private.trace_exports as e (run_id, claimed_until)
     select id, now() + $2 * interval '1 millisecond' from unnest($1::uuid[]) as u(id) order by id
     on conflict (run_id) do update set claimed_until = excluded.claimed_until
      where (e.claimed_until is null or e.claimed_until < now()) and (e.retry_at is null or e.retry_at <= now())
     returning e.run_id, e.exported_through_seq, e.root_exported, e.claimed_until::text as token`,
    [sortedIds(runIds), Math.round(leaseMs)],
  );
  return rows.map((row) => ClaimedSchema.parse(row));
}

// The rows of $1 (ids) whose lease is still $2 (tokens), locked in id order.
const HELD = `select e.run_id
     from everruns_private.trace_exports e
     join unnest($1::uuid[], $2::timestamptz[]) as x(run_id, token) on x.run_id = e.run_id and e.claimed_until = x.token
    order by e.run_id
      for update of e`;

type Lease = { runId: string; token: string };

function leaseParams(leases: readonly Lease[]): [string[], string[]] {
  const sorted = [...leases].sort((a, b) => (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0));
  return [sorted.map((l) => l.runId), sorted.map((l) => l.token)];
}

/**
 * Extends the leases still held (an export about to be sent after a long read) by `leaseMs` from
 * now; returns their new tokens. A run missing from the answer was taken over: do not send it.
 */
export async function renewTraceExports(db: Queryable, leases: readonly Lease[], leaseMs: number): Promise<Map<string, string>> {
  if (leases.length === 0) return new Map();
  const { rows } = await db.query(
    `with held as (${HELD})
     update everruns_private.trace_exports e set claimed_until = now() + $3 * interval '1 millisecond'
       from held where e.run_id = held.run_id
     returning e.run_id, e.claimed_until::text as token`,
    [...leaseParams(leases), Math.round(leaseMs)],
  );
  return new Map(rows.map((row) => HeldSchema.parse(row)).map((r) => [r.run_id, r.token]));
}

/**
 * Records what was exported (never moving a marker back), ends the leases and any backoff: only
 * for the runs whose lease is still `token` (one taken over is its new holder's to mark).
 */
export async function markTraceExported(db: Queryable, done: ReadonlyArray<Lease & { throughSeq: number; rootExported: boolean }>): Promise<void> {
  if (done.length === 0) return;
  const sorted = [...done].sort((a, b) => (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0));
  await db.query(
    `with held as (${HELD})
     update everruns_private.trace_exports e
        set exported_through_seq = greatest(e.exported_through_seq, x.seq), root_exported = e.root_exported or x.root,
            claimed_until = null, failures = 0, retry_at = null, updated_at = now()
       from held, unnest($1::uuid[], $3::int[], $4::boolean[]) as x(run_id, seq, root)
      where e.run_id = held.run_id and x.run_id = held.run_id`,
    [sorted.map((d) => d.runId), sorted.map((d) => d.token), sorted.map((d) => d.throughSeq), sorted.map((d) => d.rootExported)],
  );
}

/**
 * Ends the leases still held of runs whose export did not happen. `failed`: their export failed,
 * they back off (`backoffMs` doubled per failure in a row, at most `maxBackoffMs`) before the next
 * try, by a flush or the sweep.
 */
export async function releaseTraceExports(db: Queryable, leases: readonly Lease[], failed?: { backoffMs: number; maxBackoffMs: number }): Promise<void> {
  if (leases.length === 0) return;
  await db.query(
    `with held as (${HELD})
     update everruns_private.trace_exports e
        set claimed_until = null,
            failures = e.failures + $3::int,
            retry_at = case when $3::int = 0 then e.retry_at
                            else now() + least($5::float8, $4::float8 * power(2, least(e.failures, 30))) * interval '1 millisecond' end
       from held where e.run_id = held.run_id`,
    [...leaseParams(leases), failed ? 1 : 0, failed?.backoffMs ?? 0, failed?.maxBackoffMs ?? 0],
  );
}

/**
 * Runs with spans not exported yet, oldest first, leaving out those leased by a live exporter or
 * backing off: (1) runs whose marker is behind, from the markers themselves (trace_exports_pending_idx:
 * the rows whose root span has not gone out), each against its run's cursor (runs.step_cursor - 1
 * is its last committed step); (2) runs no exporter ever claimed (a worker died before its first
 * flush): running runs with a committed step (runs_active_idx) and runs that ended within
 * `windowMs` (runs_finished_idx). One worker at a time (an advisory lock: another one sweeping
 * now gets nothing).
 */
export async function findTraceBacklog(db: Queryable, windowMs: number, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `with sweeper as (select pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('everruns:trace-sweep')) as mine)
     select c.id from (
       (select e.run_id as id, e.updated_at as since
          from everruns_private.trace_exports e
          join everruns.runs r on r.id = e.run_id
         where not e.root_exported
           and (e.claimed_until is null or e.claimed_until < now())
           and (e.retry_at is null or e.retry_at <= now())
           and (r.finished_at is not null or r.step_cursor - 1 > e.exported_through_seq)
         order by e.updated_at
         limit $2)
       union all
       (select r.id, r.updated_at from everruns.runs r
         where r.status = 'running' and r.step_cursor > 1
           and not exists (select 1 from everruns_private.trace_exports e where e.run_id = r.id)
         order by r.updated_at
         limit $2)
       union all
       (select r.id, r.updated_at from everruns.runs r
         where r.finished_at >= now() - $1 * interval '1 millisecond'
           and not exists (select 1 from everruns_private.trace_exports e where e.run_id = r.id)
         order by r.updated_at
         limit $2)
     ) c
     where (select mine from sweeper)
     order by c.since
     limit $2`,
    [Math.round(windowMs), limit],
  );
  return [...new Set(rows.map((r) => r.id))];
}

/**
 * Deletes the markers the sweep no longer needs: of runs whose root span went out more than
 * `ageMs` ago, and of runs that no longer exist (deleted). Leased rows are left alone.
 */
export async function pruneTraceExports(db: Queryable, ageMs: number): Promise<number> {
  const { rowCount } = await db.query(
    `delete from everruns_private.trace_exports e
      where e.claimed_until is null
        and ((e.root_exported and e.updated_at < now() - $1 * interval '1 millisecond')
             or not exists (select 1 from everruns.runs r where r.id = e.run_id))`,
    [Math.round(ageMs)],
  );
  return rowCount ?? 0;
}
