-- 000005: a run's job is never worn out by crashes, and the orphan repair runs on the database's
-- clock, not on a worker's lifetime.
--
-- 1. graphile-worker counts a job's attempts each time a worker takes it, and a job that fails
--    waits exp(min(attempts, 10)) seconds before the next try (up to 6 hours). A run keeps one job
--    while it chains its steps, and a job freed after a kill -9 is taken again, so under repeated
--    kills its count grew; one failure then parked the run for minutes, and 25 takes killed the
--    job (seen in `everruns chaos`: a run stuck `running` with its job unlocked and due in
--    minutes). Now a worker that takes a job a second time does not run the step in it: it gives
--    the run a fresh job (requeue_run) and ends. Every step is therefore begun in a job on its
--    first take, whose failure backoff is e seconds at most, and no job ever runs out of attempts.
--    The cost: one more job round trip (a few ms) when resuming after a crash.
--
-- 2. repair_orphaned_runs ran every 50 sweeps (about 10 s) of one worker's life; under chaos no
--    worker lived that long and it never ran. Now every sweep may call it, and it does its work
--    when the last repair anywhere is 5 s old (one row of everruns_private.maintenance, an update
--    that matches nothing otherwise: no write, no lock).

-- Gives run p_run_id a fresh job, due now, unless it has finished. Due now also for a waiting run:
-- the job being replaced was taken, so it was due (its timer fired, or send_event woke the run by
-- moving it to now); its wait's own end would lose an early wake-up (seen in `everruns chaos`).
create function everruns_private.requeue_run(p_run_id uuid) returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_status text;
begin
  select status into v_status from everruns.runs where id = p_run_id;
  if not found or v_status not in ('queued', 'running', 'waiting') then
    return;
  end if;
  perform everruns_private.enqueue_step(p_run_id);
end;
$$;

create table everruns_private.maintenance (
  id int primary key check (id = 1),
  repaired_at timestamptz not null
);
comment on table everruns_private.maintenance is 'When cluster-wide maintenance (repair_orphaned_runs) last ran.';
insert into everruns_private.maintenance (id, repaired_at) values (1, '-infinity');

-- repair_orphaned_runs as in 000001, gated on the database clock.
create or replace function everruns_private.repair_orphaned_runs() returns int
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run record;
  v_n int := 0;
begin
  update everruns_private.maintenance set repaired_at = now()
   where id = 1 and repaired_at < now() - interval '5 seconds';
  if not found then
    return 0;
  end if;
  for v_run in
    select r.id, r.status, r.waiting from everruns.runs r
    where r.status in ('queued', 'running', 'waiting')
      and r.updated_at < now() - interval '5 seconds'
      and not exists (select 1 from graphile_worker.jobs j
                      where j.key = 'run:' || r.id::text and j.attempts < j.max_attempts)
    for update of r skip locked
  loop
    perform everruns_private.enqueue_step(v_run.id,
      case when v_run.status = 'waiting' then (v_run.waiting ->> 'until')::timestamptz end);
    v_n := v_n + 1;
  end loop;
  return v_n;
end;
$$;

-- the worker's rights (000002): none for PUBLIC, the engine's for everruns_worker
revoke execute on function everruns_private.requeue_run(uuid) from public;
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_worker') then
    grant execute on function everruns_private.requeue_run(uuid) to everruns_worker;
  end if;
end;
$$;

