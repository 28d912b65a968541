-- Workflows: a named list of steps, each one Atoms operation whose arguments may reference
-- earlier steps' outputs ("${steps.0.id}", "${steps.1.items.0.id}") or the execute call's input
-- ("${input.name}"). Execute runs every step in one transaction: on failure nothing the steps did
-- persists, only a failed run record naming the step and the error. dry_run validates and rolls
-- back. An idempotency key makes a retried execute return the first run.

-- Operations a step may use, and the database function behind each.
create function atoms_private.step_function(op text) returns text
  language sql immutable
  set search_path = pg_catalog
as $$
  select case op
    when 'entity.create' then 'atoms_entity_create'
    when 'entity.get' then 'atoms_entity_get'
    when 'entity.update' then 'atoms_entity_update'
    when 'entity.delete' then 'atoms_entity_delete'
    when 'entity.list' then 'atoms_entity_list'
    when 'entity.search' then 'atoms_entity_search'
    when 'relationship.create' then 'atoms_relationship_create'
    when 'relationship.update' then 'atoms_relationship_update'
    when 'relationship.delete' then 'atoms_relationship_delete'
    when 'relationship.list' then 'atoms_relationship_list'
  end
$$;

create function atoms_private.error_code(state text) returns text
  language sql immutable
  set search_path = pg_catalog
as $$
  select case
    when state = 'PT400' then 'invalid_argument'
    when state = 'PT401' then 'unauthenticated'
    when state = 'PT403' then 'permission_denied'
    when state = 'PT404' then 'not_found'
    when state = 'PT409' then 'conflict'
    when state = 'PT412' then 'failed_precondition'
    when state in ('23505', '40001', '40P01') then 'conflict'
    when state = '42501' then 'permission_denied'
    when left(state, 2) in ('22', '23') then 'invalid_argument'
    else 'internal'
  end
$$;

-- One reference "steps.N.path" / "input.path" (without ${}) -> the JSON value it names.
create function atoms_private.resolve_ref(ref text, outputs jsonb, input jsonb) returns jsonb
  language plpgsql immutable
  set search_path = pg_catalog
as $$
declare
  m text[] := regexp_match(ref, '^(steps\.([0-9]+)|input)((\.[A-Za-z0-9_]+)*)$');
  path text[];
  resolved jsonb;
begin
  if m is null then
    perform atoms_private.fail('invalid_argument',
      format('${%s} is not a reference: use ${steps.<n>.<field>} or ${input.<field>}', ref));
  end if;
  path := coalesce(string_to_array(nullif(substr(m[3], 2), ''), '.'), '{}');
  if m[1] = 'input' then
    resolved := input #> path;
  elsif m[2]::integer >= jsonb_array_length(outputs) then
    perform atoms_private.fail('invalid_argument', format('${%s} refers to a step that has not run yet', ref));
  else
    resolved := (outputs -> m[2]::integer) #> path;
  end if;
  if resolved is null then
    perform atoms_private.fail('invalid_argument', format('${%s} resolves to nothing', ref));
  end if;
  return resolved;
end
$$;

-- Resolves references in step arguments: a string that is exactly one "${ref}" becomes the JSON
-- value it names (any type); references inside a longer string are replaced by their text.
create function atoms_private.resolve_refs(value jsonb, outputs jsonb, input jsonb) returns jsonb
  language plpgsql immutable
  set search_path = pg_catalog
as $$
declare
  text_value text;
  whole text[];
  ref text;
begin
  case jsonb_typeof(value)
    when 'string' then
      text_value := value #>> '{}';
      whole := regexp_match(text_value, '^\$\{([^}]*)\}$');
      if whole is not null then
        return atoms_private.resolve_ref(whole[1], outputs, input);
      end if;
      for ref in select (regexp_matches(text_value, '\$\{([^}]*)\}', 'g'))[1] loop
        text_value := replace(text_value, '${' || ref || '}',
          atoms_private.resolve_ref(ref, outputs, input) #>> '{}');
      end loop;
      return to_jsonb(text_value);
    when 'object' then
      return (select coalesce(jsonb_object_agg(key, atoms_private.resolve_refs(v, outputs, input)), '{}')
              from jsonb_each(value) as t(key, v));
    when 'array' then
      return (select coalesce(jsonb_agg(atoms_private.resolve_refs(v, outputs, input) order by n), '[]')
              from jsonb_array_elements(value) with ordinality as t(v, n));
    else
      return value;
  end case;
end
$$;

-- Validates a steps array: 1..50 steps, known operations, object arguments, references only to
-- earlier steps.
create function atoms_private.validate_steps(steps jsonb) returns void
  language plpgsql immutable
  set search_path = pg_catalog
as $$
declare
  step jsonb;
  i integer := 0;
  referenced integer;
begin
  if steps is null or jsonb_typeof(steps) <> 'array' or jsonb_array_length(steps) = 0 then
    perform atoms_private.fail('invalid_argument', 'steps must be a non-empty array');
  end if;
  if jsonb_array_length(steps) > 50 then
    perform atoms_private.fail('invalid_argument', 'a workflow has at most 50 steps');
  end if;
  for step in select value from jsonb_array_elements(steps) loop
    if jsonb_typeof(step) <> 'object' or atoms_private.step_function(step ->> 'op') is null then
      perform atoms_private.fail('invalid_argument', format(
        'steps[%s].op must be one of entity.create, entity.get, entity.update, entity.delete, entity.list, '
        'entity.search, relationship.create, relationship.update, relationship.delete, relationship.list', i));
    end if;
    if jsonb_typeof(coalesce(step -> 'args', '{}')) <> 'object' then
      perform atoms_private.fail('invalid_argument', format('steps[%s].args must be an object', i));
    end if;
    for referenced in
      select m[1]::integer from regexp_matches(coalesce(step -> 'args', '{}')::text, '\$\{steps\.([0-9]+)', 'g') as m
    loop
      if referenced >= i then
        perform atoms_private.fail('invalid_argument',
          format('steps[%s] refers to steps[%s]; a step may only use earlier steps', i, referenced));
      end if;
    end loop;
    i := i + 1;
  end loop;
end
$$;

-- Runs one step inside `workspace`: workspace-scoped operations get the workflow's workspace;
-- operations on existing rows must find them in it.
create function atoms_private.dispatch(op text, args jsonb, workspace uuid) returns jsonb
  language plpgsql
  set search_path = pg_catalog, public
as $$
declare
  fn text := atoms_private.step_function(op);
  anchor uuid;
  result jsonb;
begin
  if op in ('entity.create', 'entity.list', 'entity.search') then
    if args ? 'workspace_id' and args ->> 'workspace_id' is distinct from workspace::text then
      perform atoms_private.fail('invalid_argument', 'workflow steps stay in the workflow''s workspace');
    end if;
    args := args || jsonb_build_object('workspace_id', workspace);
  elsif op in ('entity.get', 'entity.update', 'entity.delete') then
    anchor := (select workspace_id from public.atoms_entities
               where id = atoms_private.arg_uuid(args, 'id') and deleted_at is null);
  elsif op in ('relationship.create') then
    anchor := (select workspace_id from public.atoms_entities
               where id = atoms_private.arg_uuid(args, 'source_id') and deleted_at is null);
  elsif op in ('relationship.list') then
    anchor := (select workspace_id from public.atoms_entities
               where id = atoms_private.arg_uuid(args, 'entity_id') and deleted_at is null);
  elsif op in ('relationship.update', 'relationship.delete') then
    anchor := (select workspace_id from public.atoms_relationships
               where id = atoms_private.arg_uuid(args, 'id') and deleted_at is null);
  end if;
  if op not in ('entity.create', 'entity.list', 'entity.search') and anchor is distinct from workspace then
    perform atoms_private.fail('not_found', format('%s: target not found in this workspace', op));
  end if;
  execute format('select public.%I($1)', fn) into result using args;
  return result;
end
$$;

create function atoms_private.workflow_json(w public.atoms_workflows) returns jsonb
  language sql stable
  set search_path = pg_catalog, public
as $$
  select jsonb_build_object('id', w.id, 'workspace_id', w.workspace_id, 'name', w.name,
    'description', w.description, 'steps', w.steps, 'created_by', w.created_by,
    'created_at', w.created_at, 'updated_at', w.updated_at)
$$;

create function atoms_private.run_json(r public.atoms_workflow_runs) returns jsonb
  language sql stable
  set search_path = pg_catalog, public
as $$
  select jsonb_strip_nulls(jsonb_build_object('run_id', r.id, 'workflow_id', r.workflow_id,
    'status', r.status, 'idempotency_key', r.idempotency_key, 'outputs', r.outputs,
    'failed_step', r.failed_step, 'error', r.error, 'started_by', r.started_by,
    'started_at', r.started_at, 'finished_at', r.finished_at))
$$;

create function atoms_private.visible_workflow(workflow uuid) returns public.atoms_workflows
  language plpgsql stable
  set search_path = pg_catalog, public
as $$
declare
  w public.atoms_workflows;
begin
  select * into w from public.atoms_workflows where id = workflow and deleted_at is null;
  if not found or atoms_private.member_role(w.workspace_id) is null then
    perform atoms_private.fail('not_found', 'workflow not found');
  end if;
  return w;
end
$$;

-- { workspace_id, name, description?, steps: [{op, args}] } -> workflow
create function public.atoms_workflow_create(args jsonb) returns jsonb
  language plpgsql
  set search_path = pg_catalog, public
as $$
declare
  uid uuid := atoms_private.require_user();
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  w public.atoms_workflows;
begin
  perform atoms_private.require_role(ws_id, 'editor');
  w.id := gen_random_uuid();
  w.name := btrim(atoms_private.arg_text(args, 'name', true, 200));
  w.description := coalesce(atoms_private.arg_text(args, 'description', false, 5000), '');
  w.steps := args -> 'steps';
  perform atoms_private.validate_steps(w.steps);
  begin
    insert into public.atoms_workflows (id, workspace_id, name, description, steps, created_by)
    values (w.id, ws_id, w.name, w.description, w.steps, uid);
  exception when unique_violation then
    perform atoms_private.fail('conflict', format('a workflow named %L already exists here', w.name));
  end;
  perform atoms_private.audit(ws_id, uid, 'workflow.create', 'workflow', w.id,
    jsonb_build_object('name', w.name, 'steps', jsonb_array_length(w.steps)));
  select * into w from public.atoms_workflows where id = w.id;
  return atoms_private.workflow_json(w);
end
$$;

-- { workspace_id } -> { items: [workflow + last_run] }
create function public.atoms_workflow_list(args jsonb) returns jsonb
  language plpgsql stable
  set search_path = pg_catalog, public
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
begin
  perform atoms_private.require_role(ws_id, 'viewer');
  return jsonb_build_object('items', (
    select coalesce(jsonb_agg(atoms_private.workflow_json(w) || jsonb_build_object('last_run', (
             select atoms_private.run_json(r) from public.atoms_workflow_runs r
             where r.workflow_id = w.id order by r.started_at desc, r.id limit 1))
           order by w.created_at, w.id), '[]')
    from public.atoms_workflows w
    where w.workspace_id = ws_id and w.deleted_at is null));
end
$$;

-- { id } -> { id, deleted: true }
create function public.atoms_workflow_delete(args jsonb) returns jsonb
  language plpgsql
  set search_path = pg_catalog, public
as $$
declare
  uid uuid := atoms_private.require_user();
  w public.atoms_workflows := atoms_private.visible_workflow(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'id'));
begin
  perform atoms_private.require_role(w.workspace_id, 'editor');
  update public.atoms_workflows set deleted_at = now(), updated_at = now() where id = w.id;
  perform atoms_private.audit(w.workspace_id, uid, 'workflow.delete', 'workflow', w.id);
  return jsonb_build_object('id', w.id, 'deleted', true);
end
$$;

-- { run_id } -> run
create function public.atoms_workflow_run_status(args jsonb) returns jsonb
  language plpgsql stable
  set search_path = pg_catalog, public
as $$
declare
  run_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'run_id');
  r public.atoms_workflow_runs;
begin
  select * into r from public.atoms_workflow_runs where id = run_id;
  if not found or atoms_private.member_role(r.workspace_id) is null then
    perform atoms_private.fail('not_found', 'workflow run not found');
  end if;
  return atoms_private.run_json(r);
end
$$;

-- { workflow_id, input?, dry_run?, idempotency_key? } -> run (status succeeded | failed)
--   dry run: { dry_run: true, status, outputs | failed_step + error } and nothing persists.
create function public.atoms_workflow_execute(args jsonb) returns jsonb
  language plpgsql
  set search_path = pg_catalog, public
as $$
declare
  uid uuid := atoms_private.require_user();
  w public.atoms_workflows := atoms_private.visible_workflow(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'workflow_id'));
  input jsonb := atoms_private.arg_object(args, 'input', '{}');
  dry_run boolean := atoms_private.arg_bool(args, 'dry_run', false);
  key text := atoms_private.arg_text(args, 'idempotency_key', false, 200);
  outputs jsonb := '[]';
  step jsonb;
  step_index integer := 0;
  steps_done boolean := false;
  r public.atoms_workflow_runs;
  err_state text;
  err_message text;
  failure jsonb;
begin
  perform atoms_private.require_role(w.workspace_id, 'editor');
  if key is not null then
    select * into r from public.atoms_workflow_runs where workflow_id = w.id and idempotency_key = key;
    if found then
      return atoms_private.run_json(r) || '{"replayed": true}';
    end if;
  end if;
  r.id := gen_random_uuid();
  begin
    for step in select value from jsonb_array_elements(w.steps) loop
      outputs := outputs || jsonb_build_array(atoms_private.dispatch(step ->> 'op',
        atoms_private.resolve_refs(coalesce(step -> 'args', '{}'), outputs, input), w.workspace_id));
      step_index := step_index + 1;
    end loop;
    steps_done := true;
    if dry_run then
      raise exception using errcode = 'PT299', message = 'dry run: rolling back';
    end if;
    insert into public.atoms_workflow_runs (id, workflow_id, workspace_id, status, idempotency_key, outputs, started_by)
    values (r.id, w.id, w.workspace_id, 'succeeded', key, outputs, uid);
    perform atoms_private.audit(w.workspace_id, uid, 'workflow.execute', 'workflow', w.id,
      jsonb_build_object('run_id', r.id, 'status', 'succeeded'));
  exception
    when sqlstate 'PT299' then
      return jsonb_build_object('dry_run', true, 'status', 'succeeded', 'outputs', outputs);
    when others then
      get stacked diagnostics err_state = returned_sqlstate, err_message = message_text;
      if steps_done and err_state = '23505' then
        -- A concurrent execute with the same key committed first: that run is the answer.
        select * into r from public.atoms_workflow_runs where workflow_id = w.id and idempotency_key = key;
        return atoms_private.run_json(r) || '{"replayed": true}';
      end if;
      failure := jsonb_build_object('code', atoms_private.error_code(err_state), 'message', err_message,
        'step', step_index, 'op', w.steps -> step_index ->> 'op');
      if dry_run then
        return jsonb_build_object('dry_run', true, 'status', 'failed', 'failed_step', step_index, 'error', failure);
      end if;
      insert into public.atoms_workflow_runs
        (id, workflow_id, workspace_id, status, idempotency_key, outputs, failed_step, error, started_by)
      values (r.id, w.id, w.workspace_id, 'failed', key, '[]', step_index, failure, uid)
      on conflict (workflow_id, idempotency_key) where idempotency_key is not null do nothing;
      if not found then
        select * into r from public.atoms_workflow_runs where workflow_id = w.id and idempotency_key = key;
        return atoms_private.run_json(r) || '{"replayed": true}';
      end if;
      perform atoms_private.audit(w.workspace_id, uid, 'workflow.execute', 'workflow', w.id,
        jsonb_build_object('run_id', r.id, 'status', 'failed', 'failed_step', step_index));
  end;
  select * into r from public.atoms_workflow_runs where id = r.id;
  return atoms_private.run_json(r);
end
$$;
