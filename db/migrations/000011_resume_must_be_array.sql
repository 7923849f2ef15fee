-- 000011: a run input's "resume", when present, must be an array. assert_valid_run_input as in
-- 000008 but for the block marked 000011. Found by the fuzz suite (scripts/fuzz): `"resume": null`
-- reached jsonb_array_length in tg_runs__prepare and failed with SQLSTATE 22023, a 500.

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
