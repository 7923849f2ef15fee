-- 000035: trace context of runs (issue 19, "Traces"; docs/observability.md, "Traces").
--
-- Traces are built from the checkpoint rows (runs, run_steps, run_attempts) by the workers that
-- have OpenTelemetry configured (lib/tracing/, worker/trace-export.ts), never from in-memory
-- tracers: a step whose worker was killed is still exported, as a span of its dead attempt.
--
-- * everruns.runs.trace_parent: the W3C traceparent the run's trace continues
--   (`00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>`), or null: the run starts a trace
--   of its own (its trace id is its id's 32 hex digits). Given by whoever starts the run (the API's
--   `traceparent` header on POST /api/runs, AG-UI and /hooks/:id; `everruns run`; an insert by the
--   owner), or, for a run inserted without one, the transaction's `everruns.trace_parent` setting
--   when it holds a valid traceparent (how the API passes a header through startRun and
--   receive_webhook), else the trace of the run that started it: a sub-agent or workflow child
--   continues its caller's trace under the span of the caller's step that started it, a
--   continuation continues the trace of the run it answers under that run's root span.
-- * everruns_private.trace_exports: how far each run's spans were exported (the marker the
--   exporters advance once the OTLP endpoint accepted them). Hidden (not in the GraphQL schema),
--   read and written by the workers only.
--
-- Span ids are deterministic (a re-export sends the same ids): the first 16 hex digits of the
-- SHA-256 of '<run id>:root' (a run's root span) or '<run id>:<seq>:<attempt>:attempt' (an
-- attempt of a step); lib/tracing/ids.ts computes the same in TypeScript.
--
-- Additive only: a nullable column with a check, a table and its index, a trigger function and its
-- trigger.
set local lock_timeout = '5s';

alter table everruns.runs add column trace_parent text;
-- NOT VALID: every existing row is null (nothing to check), and validating would scan runs under
-- the ALTER's lock; new and updated rows are checked
alter table everruns.runs
  add constraint runs_trace_parent_check check (
    trace_parent is null
    or (trace_parent ~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$'
        and substr(trace_parent, 4, 32) <> '00000000000000000000000000000000'
        and substr(trace_parent, 37, 16) <> '0000000000000000')) not valid;
comment on column everruns.runs.trace_parent is
  'The W3C traceparent this run''s OpenTelemetry trace continues (00-<trace id>-<parent span id>-<flags>), or null: a trace of its own, its trace id the run id''s hex digits. Set at insert: by the starter (the traceparent header of the API, everruns run), else from the run that started it (sub-agents, workflow children, continuations) (000035).';

create table everruns_private.trace_exports (
  run_id uuid primary key,
  -- the run's committed steps up to this seq (their attempts included) were exported
  exported_through_seq int not null default 0,
  -- its root span (sent once the run ended) was exported
  root_exported boolean not null default false,
  -- an exporter working on the run until then (a lease; a dead exporter's expires). Also the
  -- lease's token: an exporter marks or releases the run only while it still holds this value
  claimed_until timestamptz,
  -- exports of the run that failed in a row, and when the next may be tried (a backoff: an
  -- endpoint that refuses this run's spans, say too large a request, does not hold up the others)
  failures int not null default 0,
  retry_at timestamptz,
  updated_at timestamptz not null default now()
);
comment on table everruns_private.trace_exports is
  'How far the spans of each run were exported to the OTLP endpoint (worker/trace-export.ts); a row is written when an exporter first claims its run, and deleted by the sweep a day after its root span went out or once its run is gone (000035).';
-- what the sweep goes through: the runs whose spans are not all out (their root span is sent last)
create index trace_exports_pending_idx on everruns_private.trace_exports (updated_at) where not root_exported;
-- No foreign key: a row is written after its run's commits, and neither a run's delete nor its
-- updates should wait on an exporter.
grant select, insert, update, delete on everruns_private.trace_exports to everruns_worker;

---------------------------------------------------------------------------------------------
-- The trace context of a run inserted without one
---------------------------------------------------------------------------------------------
-- Fires after tg_runs__sub_agent (name order), which resolved the caller of a continuation.
-- Security definer: it reads the starting run's step (run_steps) whatever the inserting role may
-- read; it only ever derives ids from runs the insert already refers to (checked by
-- tg_runs__prepare and tg_runs__sub_agent).
create function everruns_private.tg_runs__trace_parent() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_setting text := nullif(pg_catalog.current_setting('everruns.trace_parent', true), '');
  v_from everruns.runs;
  v_span text;
  v_step record;
begin
  if new.trace_parent is not null then
    return new;
  end if;
  -- the API's traceparent header (api/trace-header.ts); an invalid one is ignored, as W3C says
  if v_setting ~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$'
     and substr(v_setting, 4, 32) <> '00000000000000000000000000000000'
     and substr(v_setting, 37, 16) <> '0000000000000000' then
    new.trace_parent := v_setting;
    return new;
  end if;
  if new.parent_run_id is not null then
    -- a continuation (of a sub-agent child too, which tg_runs__sub_agent gave its caller's
    -- caller_run_id): under the root span of the run it answers
    select * into v_from from everruns.runs where id = new.parent_run_id;
  elsif new.caller_run_id is not null then
    -- a sub-agent or workflow child, inserted by tg_runs__sub_agents_park when its caller parks:
    -- under the caller's step that started it, the wait step just committed (the cursor has moved
    -- past it; its output.start lists every child of the turn), found by its key; else (none) under
    -- the caller's root span
    select * into v_from from everruns.runs where id = new.caller_run_id;
    select s.seq, s.attempt into v_step from everruns.run_steps s
     where s.run_id = new.caller_run_id and s.seq = v_from.step_cursor - 1;
    if found then
      v_span := substr(encode(sha256(convert_to(new.caller_run_id::text || ':' || v_step.seq || ':' || v_step.attempt || ':attempt', 'UTF8')), 'hex'), 1, 16);
    end if;
  else
    return new;
  end if;
  if v_from.id is null then
    return new;
  end if;
  v_span := coalesce(v_span, substr(encode(sha256(convert_to(v_from.id::text || ':root', 'UTF8')), 'hex'), 1, 16));
  -- the trace flags (sampled or not) of the trace it continues, else sampled
  new.trace_parent := '00-' || coalesce(substr(v_from.trace_parent, 4, 32), replace(v_from.id::text, '-', '')) || '-' || v_span
                      || '-' || coalesce(substr(v_from.trace_parent, 54, 2), '01');
  return new;
end;
$$;
revoke execute on function everruns_private.tg_runs__trace_parent() from public;
comment on function everruns_private.tg_runs__trace_parent() is
  'Insert trigger of runs: a run inserted without trace_parent takes the transaction''s everruns.trace_parent setting when valid, else continues the trace of the run that started it (000035).';
create trigger tg_runs__trace_parent before insert on everruns.runs
  for each row execute function everruns_private.tg_runs__trace_parent();
