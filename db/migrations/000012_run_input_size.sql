-- 000012: a run input is at most max_run_input_bytes() = 4 MiB of JSON text (as Postgres writes
-- it) and holds at most max_run_messages() = 1000 messages (issue "Hostile input and resource
-- limits": size limits on run input and message count). A conversation longer than that continues
-- on its thread: each run's input holds only the messages new to the thread. The API refuses the
-- same earlier (db/sql/startRun.ts). assert_valid_run_input as in 000011 but for the block marked
-- 000012.

create function everruns_private.max_run_input_bytes() returns int
  language sql immutable parallel safe
  as $$ select 4194304 $$;
comment on function everruns_private.max_run_input_bytes() is 'The largest run input, in bytes of JSON text (000012).';

create function everruns_private.max_run_messages() returns int
  language sql immutable parallel safe
  as $$ select 1000 $$;
comment on function everruns_private.max_run_messages() is 'How many messages one run input may hold (000012).';

grant execute on function everruns_private.max_run_input_bytes(), everruns_private.max_run_messages() to public;

create or replace function everruns_private.assert_valid_run_input(p_input jsonb) returns void
  language plpgsql immutable
  as $$
declare
  v_msg jsonb;
  v_i int := 0;
  v_tool jsonb;
begin
  if p_input is null or jsonb_typeof(p_input) <> 'object' then
    perform everruns_private.input_error('must be a JSON object');
  end if;
  if everruns_private.json_too_deep(p_input) then
    perform everruns_private.input_error(format('nested deeper than %s levels (max_json_depth)', everruns_private.max_json_depth()));
  end if;
  if jsonb_typeof(p_input -> 'messages') is distinct from 'array' then
    perform everruns_private.input_error('"messages" must be an array');
  end if;
  -- 000012: bounded size and message count
  if octet_length(p_input::text) > everruns_private.max_run_input_bytes() then
    perform everruns_private.input_error(format('it is %s bytes of JSON text; a run input may be at most %s (max_run_input_bytes)',
                                                octet_length(p_input::text), everruns_private.max_run_input_bytes()));
  end if;
  if jsonb_array_length(p_input -> 'messages') > everruns_private.max_run_messages() then
    perform everruns_private.input_error(format('"messages" holds %s messages; a run input may hold at most %s (max_run_messages)',
                                                jsonb_array_length(p_input -> 'messages'), everruns_private.max_run_messages()));
  end if;
  -- 000011: answers are an array (the insert trigger measures it; a null or an object failed
  -- there with a bare 22023, answered 500 by the API: found by `everruns fuzz`)
  if p_input ? 'resume' and jsonb_typeof(p_input -> 'resume') <> 'array' then
    perform everruns_private.input_error('"resume" must be an array of answers to the interrupts');
  end if;
  if jsonb_array_length(p_input -> 'messages') = 0 and not (p_input ? 'resume') then
    perform everruns_private.input_error('"messages" must hold at least one message');
  end if;
  for v_msg in select value from jsonb_array_elements(p_input -> 'messages') loop
    if jsonb_typeof(v_msg) <> 'object' then
      perform everruns_private.input_error(format('messages[%s] must be an object', v_i));
    end if;
    if coalesce(v_msg ->> 'role', '') not in ('user', 'assistant', 'system', 'developer', 'tool') then
      perform everruns_private.input_error(format('messages[%s].role must be one of user, assistant, system, developer, tool', v_i));
    end if;
    if v_msg ? 'id' and jsonb_typeof(v_msg -> 'id') <> 'string' then
      perform everruns_private.input_error(format('messages[%s].id must be a string', v_i));
    end if;
    if v_msg ->> 'role' in ('user', 'system', 'developer')
       and jsonb_typeof(v_msg -> 'content') is distinct from 'string'
       and jsonb_typeof(v_msg -> 'content') is distinct from 'array' then
      perform everruns_private.input_error(format('messages[%s].content must be a string', v_i));
    end if;
    if v_msg ->> 'role' = 'tool' and (jsonb_typeof(v_msg -> 'toolCallId') is distinct from 'string'
       or jsonb_typeof(v_msg -> 'content') is distinct from 'string') then
      perform everruns_private.input_error(format('messages[%s]: a tool message needs "toolCallId" and "content" strings', v_i));
    end if;
    v_i := v_i + 1;
  end loop;
  if p_input ? 'state' and jsonb_typeof(p_input -> 'state') not in ('object', 'null') then
    perform everruns_private.input_error('"state" must be an object');
  end if;
  if p_input ? 'context' and jsonb_typeof(p_input -> 'context') <> 'array' then
    perform everruns_private.input_error('"context" must be an array');
  end if;
  if p_input ? 'tools' then
    if jsonb_typeof(p_input -> 'tools') <> 'array' then
      perform everruns_private.input_error('"tools" must be an array');
    end if;
    v_i := 0;
    for v_tool in select value from jsonb_array_elements(p_input -> 'tools') loop
      if jsonb_typeof(v_tool) <> 'object' or jsonb_typeof(v_tool -> 'name') is distinct from 'string' then
        perform everruns_private.input_error(format('tools[%s] must be an object with a "name"', v_i));
      end if;
      v_i := v_i + 1;
    end loop;
  end if;
end;
$$;
