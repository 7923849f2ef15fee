-- 000019: live events are durable before anyone can read them (issue 23).
--
-- append_events (a step's live events while it runs) and begin_step (a step's begin, which may
-- close a dead attempt's open messages with events of its own) committed with synchronous_commit
-- off: losing them in a database crash looked the same as the attempt dying a little earlier.
-- It is not the same for a reader. With an asynchronous commit the rows are visible to other
-- sessions before they are on disk, so a live stream can deliver an event that a crash then
-- loses; the next attempt writes other content under the same seq, and the client, which has
-- that seq already, keeps the lost version for good (seen in worker/test/outage-matrix.test.ts:
-- an SSE follower held a STEP_STARTED of seq 21 from before a 60 s outage, the log another from
-- after it). Both now commit like every other transaction: visible only once durable. Concurrent
-- commits share their WAL flushes (group commit, which 000017 gave back to the step commits).

CREATE OR REPLACE FUNCTION everruns_private.append_events(p_run_id uuid, p_seq integer, p_attempt integer, p_events jsonb)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
begin
  return everruns_private.append_events_locked(everruns_private.lock_attempt(p_run_id, p_seq, p_attempt), p_events);
end;
$function$;

CREATE OR REPLACE FUNCTION everruns_private.begin_step(p_run_id uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
declare
  v_run everruns.runs;
begin
  select * into v_run from everruns.runs where id = p_run_id for update;
  if not found or v_run.status not in ('queued', 'running', 'waiting') then
    return null;
  end if;
  return everruns_private.start_attempt_locked(v_run);
end;
$function$;
