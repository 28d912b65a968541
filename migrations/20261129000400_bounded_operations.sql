-- Hardening, part 4: operations that race a delete answer not_found, every list is bounded and
-- paged on an index, exports page through the snapshot they started from, runs carry real
-- timings. (SECURITY, owner and search_path come from atoms_private.seal(), called in part 5.)

-- { workspace_id, type?, name_contains?, limit?, cursor? } -> { items, next_cursor }
create or replace function public.atoms_entity_list(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  kind text := atoms_private.arg_type(args, 'type', false);
  fragment text := atoms_private.arg_text(args, 'name_contains', false, 200);
  lim integer := atoms_private.arg_int(args, 'limit', 50, 1, 200);
  pos record := atoms_private.keyset_position(atoms_private.arg_text(args, 'cursor', false, 500));
  page_items jsonb;
begin
  perform atoms_private.require_role(ws_id, 'viewer');
  with page as (
    select atoms_private.entity_json(e) as item, e.created_at, e.id
    from public.atoms_entities e
    where e.workspace_id = ws_id and e.deleted_at is null
      and (kind is null or e.type = kind)
      and (fragment is null or e.name ilike '%' || replace(replace(replace(fragment, '\', '\\'), '%', '\%'), '_', '\_') || '%')
      and (pos.t is null or (e.created_at, e.id) > (pos.t, pos.i))
    order by e.created_at, e.id
    limit lim + 1
  )
  select coalesce(jsonb_agg(p.item order by p.created_at, p.id), '[]') into page_items from page p;
  return atoms_private.keyset_page(page_items, lim);
end
$$;

-- The first `lim` live edges of one end of an entity, with the entity at the other end, in the
-- order (and with the fields) atoms_relationship_list pages by.
create function atoms_private.edge_page(entity uuid, outgoing boolean, lim integer) returns jsonb
  language sql stable
as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', x.id, 'type', x.type, 'metadata', x.metadata, 'created_at', x.created_at,
           'entity', x.other_entity)
         order by x.created_at, x.id), '[]')
  from (
    -- The other end by primary key, row by row (a join would be planned for a guessed page size).
    select y.*, (select jsonb_build_object('id', o.id, 'type', o.type, 'name', o.name)
                 from public.atoms_entities o where o.id = y.other and o.deleted_at is null) as other_entity
    from ((select r.id, r.type, r.metadata, r.created_at, r.target_id as other from public.atoms_relationships r
           where outgoing and r.source_id = entity and r.deleted_at is null
           order by r.created_at, r.id limit lim)
          union all
          (select r.id, r.type, r.metadata, r.created_at, r.source_id from public.atoms_relationships r
           where not outgoing and r.target_id = entity and r.deleted_at is null
           order by r.created_at, r.id limit lim)) y
  ) x
  where x.other_entity is not null
$$;

-- { id, include_relationships? } -> entity (+ relationships: { outgoing, incoming: the first 50
-- each, outgoing_next_cursor, incoming_next_cursor: null when that was all, else a cursor for
-- atoms_relationship_list with direction out / in }). Bounded however many edges an entity has.
create or replace function public.atoms_entity_get(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  e public.atoms_entities := atoms_private.visible_entity(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'id'));
  result jsonb := atoms_private.entity_json(e);
  outgoing jsonb;
  incoming jsonb;
begin
  if atoms_private.arg_bool(args, 'include_relationships', false) then
    outgoing := atoms_private.keyset_page(atoms_private.edge_page(e.id, true, 51), 50);
    incoming := atoms_private.keyset_page(atoms_private.edge_page(e.id, false, 51), 50);
    result := result || jsonb_build_object('relationships', jsonb_build_object(
      'outgoing', outgoing -> 'items',
      'incoming', incoming -> 'items',
      'outgoing_next_cursor', outgoing -> 'next_cursor',
      'incoming_next_cursor', incoming -> 'next_cursor'));
  end if;
  return result;
end
$$;

-- { id, name?, type?, metadata?, metadata_mode?: merge|replace, expected_version? } -> entity
create or replace function public.atoms_entity_update(args jsonb) returns jsonb
  language plpgsql
as $$
declare
  uid uuid := atoms_private.require_user();
  e public.atoms_entities := atoms_private.visible_entity(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'id'));
  new_name text := btrim(atoms_private.arg_text(args, 'name', false, 500));
  new_type text := atoms_private.arg_type(args, 'type', false);
  patch jsonb := atoms_private.arg_object(args, 'metadata');
  mode text := coalesce(atoms_private.arg_text(args, 'metadata_mode', false, 10), 'merge');
  expected integer := atoms_private.arg_int(args, 'expected_version', null, 1, 2147483647);
begin
  perform atoms_private.require_role(e.workspace_id, 'editor');
  if mode not in ('merge', 'replace') then
    perform atoms_private.fail('invalid_argument', 'metadata_mode must be merge or replace');
  end if;
  if new_name = '' then
    perform atoms_private.fail('invalid_argument', 'name must not be empty');
  end if;
  if new_name is null and new_type is null and patch is null then
    perform atoms_private.fail('invalid_argument', 'nothing to update: give name, type or metadata');
  end if;
  -- Lock the live row, then compare versions: concurrent updates serialize here, and an update
  -- that lost the race against a delete finds nothing.
  select * into e from public.atoms_entities where id = e.id and deleted_at is null for update;
  if not found then
    perform atoms_private.fail('not_found', 'entity not found');
  end if;
  if expected is not null and e.version <> expected then
    perform atoms_private.fail('conflict',
      format('entity is at version %s, not %s: re-read it and retry', e.version, expected));
  end if;
  update public.atoms_entities set
    name = coalesce(new_name, name),
    type = coalesce(new_type, type),
    metadata = case when patch is null then metadata
                    when mode = 'replace' then patch
                    else atoms_private.merge_metadata(metadata, patch) end,
    version = version + 1,
    updated_by = uid,
    updated_at = clock_timestamp()
  where id = e.id;
  perform atoms_private.audit(e.workspace_id, uid, 'entity.update', 'entity', e.id,
    jsonb_strip_nulls(jsonb_build_object('from_version', e.version, 'name', new_name, 'type', new_type,
      'metadata_mode', case when patch is not null then mode end)));
  select * into e from public.atoms_entities where id = e.id;
  return atoms_private.entity_json(e);
end
$$;

-- { id } -> { id, deleted: true, relationships_deleted }   (soft; its relationships go with it)
create or replace function public.atoms_entity_delete(args jsonb) returns jsonb
  language plpgsql
as $$
declare
  uid uuid := atoms_private.require_user();
  e public.atoms_entities := atoms_private.visible_entity(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'id'));
  edges integer;
begin
  perform atoms_private.require_role(e.workspace_id, 'editor');
  update public.atoms_entities set deleted_at = now(), updated_at = clock_timestamp(), updated_by = uid
  where id = e.id and deleted_at is null;
  if not found then
    perform atoms_private.fail('not_found', 'entity not found');
  end if;
  update public.atoms_relationships set deleted_at = now(), updated_at = clock_timestamp()
  where (source_id = e.id or target_id = e.id) and deleted_at is null;
  get diagnostics edges = row_count;
  perform atoms_private.audit(e.workspace_id, uid, 'entity.delete', 'entity', e.id,
    jsonb_build_object('relationships_deleted', edges));
  return jsonb_build_object('id', e.id, 'deleted', true, 'relationships_deleted', edges);
end
$$;

-- Search helpers, run as atoms_lookup (see part 1): the best `lim` hits of one workspace, which
-- the calling function has checked and whose rows it re-reads under its own policies. Without
-- row-level security on this query, the GIN index serves `@@` and the (workspace, name) GiST
-- index serves `<%` with its KNN order.
create function atoms_private.fulltext_hits(ws uuid, tsq tsquery, kind text, lim integer)
  returns table (id uuid, score real)
  language sql stable
as $$
  select e.id, ts_rank_cd(e.search, tsq)
  from public.atoms_entities e
  where e.workspace_id = ws and e.deleted_at is null
    and (kind is null or e.type = kind)
    and e.search @@ tsq
  order by 2 desc, e.id
  limit lim
$$;

create function atoms_private.nearest_names(ws uuid, q text, kind text, lim integer)
  returns table (id uuid, score real)
  language sql stable
as $$
  select e.id, word_similarity(q, e.name)
  from public.atoms_entities e
  where e.workspace_id = ws and e.deleted_at is null
    and (kind is null or e.type = kind)
    and q <% e.name
  order by q <<-> e.name
  limit lim
$$;

-- { workspace_id, query, type?, limit? } -> { items: [entity + score, snippet, match] }
-- Ranked full-text search (GIN); when it finds nothing, the nearest names by trigram similarity
-- (KNN on the (workspace, name) GiST index) catch typos. Hits come from the search helpers and
-- are re-read here under the caller's policies.
create or replace function public.atoms_entity_search(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  q text := btrim(atoms_private.arg_text(args, 'query', true, 500));
  kind text := atoms_private.arg_type(args, 'type', false);
  lim integer := atoms_private.arg_int(args, 'limit', 20, 1, 100);
  tsq tsquery := websearch_to_tsquery('english', q);
  items jsonb;
begin
  perform atoms_private.require_role(ws_id, 'viewer');
  select coalesce(jsonb_agg(atoms_private.entity_json(e) || jsonb_build_object(
           'score', round(hit.score::numeric, 4),
           'match', 'fulltext',
           'snippet', ts_headline('english', e.name || ' — ' || coalesce(
               (select string_agg(value, ' ') from jsonb_each_text(e.metadata)), ''),
             tsq, 'StartSel=<mark>, StopSel=</mark>, MaxWords=24, MinWords=6, MaxFragments=2'))
         order by hit.score desc, hit.id), '[]') into items
  from atoms_private.fulltext_hits(ws_id, tsq, kind, lim) hit
  join public.atoms_entities e on e.id = hit.id;
  if jsonb_array_length(items) = 0 then
    select coalesce(jsonb_agg(atoms_private.entity_json(e) || jsonb_build_object(
             'score', round(hit.score::numeric, 4), 'match', 'fuzzy', 'snippet', e.name)
           order by hit.score desc, hit.id), '[]') into items
    from atoms_private.nearest_names(ws_id, q, kind, lim) hit
    join public.atoms_entities e on e.id = hit.id;
  end if;
  return jsonb_build_object('items', items, 'query', q);
end
$$;

-- { entity_id, direction?: in|out|both, type?, limit?, cursor? } -> { items, next_cursor }
-- Each direction is one keyset range scan on its own index; `both` merges the two pages.
create or replace function public.atoms_relationship_list(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  e public.atoms_entities := atoms_private.visible_entity(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'entity_id'));
  direction text := coalesce(atoms_private.arg_text(args, 'direction', false, 4), 'both');
  kind text := atoms_private.arg_type(args, 'type', false);
  lim integer := atoms_private.arg_int(args, 'limit', 100, 1, 500);
  pos record := atoms_private.keyset_position(atoms_private.arg_text(args, 'cursor', false, 500));
  page_items jsonb;
begin
  if direction not in ('in', 'out', 'both') then
    perform atoms_private.fail('invalid_argument', 'direction must be in, out or both');
  end if;
  with candidates as (
    (select r as rel, 'out'::text as side, r.source_id, r.target_id, r.created_at, r.id
     from public.atoms_relationships r
     where direction in ('out', 'both') and r.source_id = e.id and r.deleted_at is null
       and (kind is null or r.type = kind)
       and (pos.t is null or (r.created_at, r.id) > (pos.t, pos.i))
     order by r.created_at, r.id limit lim + 1)
    union all
    -- A self-loop is listed once, as outgoing, when both directions are asked for.
    (select r, 'in', r.source_id, r.target_id, r.created_at, r.id
     from public.atoms_relationships r
     where direction in ('in', 'both') and r.target_id = e.id and r.deleted_at is null
       and (direction = 'in' or r.source_id <> e.id)
       and (kind is null or r.type = kind)
       and (pos.t is null or (r.created_at, r.id) > (pos.t, pos.i))
     order by r.created_at, r.id limit lim + 1)
  ), page as (
    select atoms_private.relationship_json(c.rel)
           || jsonb_build_object('direction', c.side,
                'entity', jsonb_build_object('id', o.id, 'type', o.type, 'name', o.name)) as item,
           c.created_at, c.id
    from candidates c
    join public.atoms_entities o
      on o.id = case when c.side = 'out' then c.target_id else c.source_id end and o.deleted_at is null
    order by c.created_at, c.id
    limit lim + 1
  )
  select coalesce(jsonb_agg(p.item order by p.created_at, p.id), '[]') into page_items from page p;
  return atoms_private.keyset_page(page_items, lim);
end
$$;

-- { id, type?, metadata?, metadata_mode?: merge|replace } -> relationship
create or replace function public.atoms_relationship_update(args jsonb) returns jsonb
  language plpgsql
as $$
declare
  uid uuid := atoms_private.require_user();
  r public.atoms_relationships := atoms_private.visible_relationship(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'id'));
  new_type text := atoms_private.arg_type(args, 'type', false);
  patch jsonb := atoms_private.arg_object(args, 'metadata');
  mode text := coalesce(atoms_private.arg_text(args, 'metadata_mode', false, 10), 'merge');
begin
  perform atoms_private.require_role(r.workspace_id, 'editor');
  if mode not in ('merge', 'replace') then
    perform atoms_private.fail('invalid_argument', 'metadata_mode must be merge or replace');
  end if;
  if new_type is null and patch is null then
    perform atoms_private.fail('invalid_argument', 'nothing to update: give type or metadata');
  end if;
  begin
    update public.atoms_relationships set
      type = coalesce(new_type, type),
      metadata = case when patch is null then metadata
                      when mode = 'replace' then patch
                      else atoms_private.merge_metadata(metadata, patch) end,
      updated_at = clock_timestamp()
    where id = r.id and deleted_at is null
    returning * into r;
  exception when unique_violation then
    perform atoms_private.fail('conflict',
      format('a %s relationship between these entities already exists', new_type));
  end;
  if r.id is null then
    perform atoms_private.fail('not_found', 'relationship not found');
  end if;
  perform atoms_private.audit(r.workspace_id, uid, 'relationship.update', 'relationship', r.id,
    jsonb_strip_nulls(jsonb_build_object('type', new_type, 'metadata_mode',
      case when patch is not null then mode end)));
  return atoms_private.relationship_json(r);
end
$$;

-- { id } -> { id, deleted: true }
create or replace function public.atoms_relationship_delete(args jsonb) returns jsonb
  language plpgsql
as $$
declare
  uid uuid := atoms_private.require_user();
  r public.atoms_relationships := atoms_private.visible_relationship(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'id'));
begin
  perform atoms_private.require_role(r.workspace_id, 'editor');
  update public.atoms_relationships set deleted_at = now(), updated_at = clock_timestamp()
  where id = r.id and deleted_at is null;
  if not found then
    perform atoms_private.fail('not_found', 'relationship not found');
  end if;
  perform atoms_private.audit(r.workspace_id, uid, 'relationship.delete', 'relationship', r.id);
  return jsonb_build_object('id', r.id, 'deleted', true);
end
$$;

-- { entity_id, depth? (1-5, default 2), direction?: in|out|both, types?: [..], max_nodes? (default 200, max 1000) }
--   -> { root, nodes, edges, truncated }
-- Breadth-first and cycle-safe. Each level asks every frontier node for at most as many new
-- neighbours as still fit (plus one, to know the graph goes on), so a hub with 50,000 edges
-- costs a bounded scan; past max_nodes nodes or 4 x max_nodes edges, `truncated` is true.
create or replace function public.atoms_relationship_graph(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  root public.atoms_entities := atoms_private.visible_entity(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'entity_id'));
  depth integer := atoms_private.arg_int(args, 'depth', 2, 1, 5);
  direction text := coalesce(atoms_private.arg_text(args, 'direction', false, 4), 'both');
  max_nodes integer := atoms_private.arg_int(args, 'max_nodes', 200, 1, 1000);
  types text[];
  visited uuid[] := array[root.id];
  frontier uuid[] := array[root.id];
  discovered uuid[];
  room integer;
  truncated boolean := false;
  level integer := 0;
  nodes jsonb;
  edges jsonb;
begin
  if direction not in ('in', 'out', 'both') then
    perform atoms_private.fail('invalid_argument', 'direction must be in, out or both');
  end if;
  if args ? 'types' and args -> 'types' <> 'null' then
    if jsonb_typeof(args -> 'types') <> 'array' then
      perform atoms_private.fail('invalid_argument', 'types must be an array of relationship types');
    end if;
    select array_agg(value) into types from jsonb_array_elements_text(args -> 'types');
  end if;
  while level < depth and cardinality(frontier) > 0 loop
    room := max_nodes - cardinality(visited);
    select array_agg(n) into discovered from (
      select distinct found.n
      from unnest(frontier) f(id)
      cross join lateral (
        (select r.target_id as n from public.atoms_relationships r
         join public.atoms_entities t on t.id = r.target_id and t.deleted_at is null
         where direction in ('out', 'both') and r.source_id = f.id and r.deleted_at is null
           and (types is null or r.type = any (types)) and not (r.target_id = any (visited))
         limit room + 1)
        union all
        (select r.source_id from public.atoms_relationships r
         join public.atoms_entities s on s.id = r.source_id and s.deleted_at is null
         where direction in ('in', 'both') and r.target_id = f.id and r.deleted_at is null
           and (types is null or r.type = any (types)) and not (r.source_id = any (visited))
         limit room + 1)
      ) found
      limit room + 1
    ) step;
    discovered := coalesce(discovered, '{}');
    if cardinality(discovered) > room then
      truncated := true;
      discovered := discovered[1:room];
    end if;
    visited := visited || discovered;
    frontier := discovered;
    level := level + 1;
    exit when truncated;
  end loop;
  select jsonb_agg(jsonb_build_object('id', e.id, 'type', e.type, 'name', e.name,
           'metadata', e.metadata) order by e.created_at, e.id)
    into nodes
  from public.atoms_entities e where e.id = any (visited) and e.deleted_at is null;
  select coalesce(jsonb_agg(jsonb_build_object('id', x.id, 'source_id', x.source_id,
           'target_id', x.target_id, 'type', x.type) order by x.created_at, x.id), '[]')
    into edges
  from (
    -- Edges between visited nodes: each node's outgoing edges, kept when the target was
    -- visited too (a hash join, not an array scan per edge).
    select r.id, r.source_id, r.target_id, r.type, r.created_at
    from unnest(visited) s(id)
    join public.atoms_relationships r on r.source_id = s.id and r.deleted_at is null
    join unnest(visited) t(id) on t.id = r.target_id
    where types is null or r.type = any (types)
    order by r.created_at, r.id
    limit 4 * max_nodes + 1
  ) x;
  if jsonb_array_length(edges) > 4 * max_nodes then
    truncated := true;
    edges := edges - (4 * max_nodes);
  end if;
  return jsonb_build_object('root', root.id, 'depth', depth, 'nodes', coalesce(nodes, '[]'),
    'edges', edges, 'truncated', truncated);
end
$$;

-- A run, unless its workflow is gone (a deleted workflow's runs are deleted with it).
create or replace function public.atoms_workflow_run_status(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  run_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'run_id');
  r public.atoms_workflow_runs;
begin
  select r2.* into r from public.atoms_workflow_runs r2
  join public.atoms_workflows w on w.id = r2.workflow_id and w.workspace_id = r2.workspace_id
    and w.deleted_at is null
  where r2.id = run_id;
  if not found or atoms_private.member_role(r.workspace_id) is null then
    perform atoms_private.fail('not_found', 'workflow run not found');
  end if;
  return atoms_private.run_json(r);
end
$$;

-- { workspace_id, limit? (default 50, max 200), cursor? } -> { items: [workflow + last_run], next_cursor }
create or replace function public.atoms_workflow_list(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  lim integer := atoms_private.arg_int(args, 'limit', 50, 1, 200);
  pos record := atoms_private.keyset_position(atoms_private.arg_text(args, 'cursor', false, 500));
  page_items jsonb;
begin
  perform atoms_private.require_role(ws_id, 'viewer');
  with page as (
    select atoms_private.workflow_json(w) || jsonb_build_object('last_run', (
             select atoms_private.run_json(r) from public.atoms_workflow_runs r
             where r.workflow_id = w.id order by r.started_at desc, r.id limit 1)) as item,
           w.created_at, w.id
    from public.atoms_workflows w
    where w.workspace_id = ws_id and w.deleted_at is null
      and (pos.t is null or (w.created_at, w.id) > (pos.t, pos.i))
    order by w.created_at, w.id
    limit lim + 1
  )
  select coalesce(jsonb_agg(p.item order by p.created_at, p.id), '[]') into page_items from page p;
  return atoms_private.keyset_page(page_items, lim);
end
$$;

-- { id } -> { id, deleted: true }
create or replace function public.atoms_workflow_delete(args jsonb) returns jsonb
  language plpgsql
as $$
declare
  uid uuid := atoms_private.require_user();
  w public.atoms_workflows := atoms_private.visible_workflow(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'id'));
begin
  perform atoms_private.require_role(w.workspace_id, 'editor');
  update public.atoms_workflows set deleted_at = now(), updated_at = now()
  where id = w.id and deleted_at is null;
  if not found then
    perform atoms_private.fail('not_found', 'workflow not found');
  end if;
  perform atoms_private.audit(w.workspace_id, uid, 'workflow.delete', 'workflow', w.id);
  return jsonb_build_object('id', w.id, 'deleted', true);
end
$$;

-- { workflow_id, input?, dry_run?, idempotency_key? } -> run (status succeeded | failed)
--   dry run: { dry_run: true, status, outputs | failed_step + error } and nothing persists.
-- started_at / finished_at are the wall-clock times the steps began and ended.
create or replace function public.atoms_workflow_execute(args jsonb) returns jsonb
  language plpgsql
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
  started timestamptz;
  r public.atoms_workflow_runs;
  err_state text;
  err_message text;
  failure jsonb;
begin
  perform atoms_private.require_role(w.workspace_id, 'editor');
  if key is not null then
    select * into r from public.atoms_workflow_runs
    where workflow_id = w.id and workspace_id = w.workspace_id and idempotency_key = key;
    if found then
      return atoms_private.run_json(r) || '{"replayed": true}';
    end if;
  end if;
  r.id := gen_random_uuid();
  started := clock_timestamp();
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
    insert into public.atoms_workflow_runs
      (id, workflow_id, workspace_id, status, idempotency_key, outputs, started_by, started_at, finished_at)
    values (r.id, w.id, w.workspace_id, 'succeeded', key, outputs, uid, started, clock_timestamp());
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
        (id, workflow_id, workspace_id, status, idempotency_key, outputs, failed_step, error, started_by,
         started_at, finished_at)
      values (r.id, w.id, w.workspace_id, 'failed', key, '[]', step_index, failure, uid, started, clock_timestamp())
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

-- Cursors are validated field by field.
-- { workspace_id, filters?: [{field, op, value}], sort?: {field, direction: asc|desc}, limit?, cursor? }
--   -> { items, next_cursor }
-- Sort fields: name, type, version, created_at, updated_at, metadata.<key> (as text); ties by id.
create or replace function public.atoms_query_entities(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  filters jsonb := coalesce(args -> 'filters', '[]');
  sort jsonb := coalesce(atoms_private.arg_object(args, 'sort'), '{"field": "created_at"}');
  sort_field text := coalesce(atoms_private.arg_text(sort, 'field', false, 80), 'created_at');
  direction text := lower(coalesce(atoms_private.arg_text(sort, 'direction', false, 4), 'asc'));
  lim integer := atoms_private.arg_int(args, 'limit', 50, 1, 200);
  pos jsonb := atoms_private.decode_cursor(atoms_private.arg_text(args, 'cursor', false, 2000));
  sort_expr text;
  sort_kind text;
  predicates text := '';
  filter jsonb;
  sql text;
  page_items jsonb;
  more boolean;
  last jsonb;
begin
  perform atoms_private.require_role(ws_id, 'viewer');
  if jsonb_typeof(filters) <> 'array' or jsonb_array_length(filters) > 20 then
    perform atoms_private.fail('invalid_argument', 'filters must be an array of at most 20 filters');
  end if;
  if direction not in ('asc', 'desc') then
    perform atoms_private.fail('invalid_argument', 'sort.direction must be asc or desc');
  end if;
  if sort_field = 'id' then
    perform atoms_private.fail('invalid_argument', 'sort by created_at instead of id');
  end if;
  select expr, kind into sort_expr, sort_kind from atoms_private.query_field(sort_field);
  if sort_kind = 'json' then
    sort_expr := format('coalesce(%s #>> ''{}'', '''')', sort_expr);
    sort_kind := 'text';
  end if;
  for filter in select value from jsonb_array_elements(filters) loop
    if jsonb_typeof(filter) <> 'object' then
      perform atoms_private.fail('invalid_argument', 'each filter is an object {field, op, value}');
    end if;
    predicates := predicates || ' and ' || atoms_private.query_predicate(filter);
  end loop;
  if pos is not null then
    if pos ->> 'f' is distinct from sort_field or pos ->> 'd' is distinct from direction then
      perform atoms_private.fail('invalid_argument', 'cursor belongs to a query with another sort');
    end if;
    -- Every field the cursor's predicate needs, well-typed: a forged or truncated cursor is
    -- invalid_argument, never an SQL error.
    begin
      perform (pos ->> 'i')::uuid, case sort_kind when 'number' then (pos ->> 'v')::numeric::text
                                                  when 'timestamp' then (pos ->> 'v')::timestamptz::text
                                                  else pos ->> 'v' end;
    exception when others then
      perform atoms_private.fail('invalid_argument', 'cursor is not one this server issued');
    end;
    if pos ->> 'v' is null or pos ->> 'i' is null then
      perform atoms_private.fail('invalid_argument', 'cursor is not one this server issued');
    end if;
    predicates := predicates || format(' and (%s, e.id) %s (%s::%s, %L::uuid)', sort_expr,
      case direction when 'asc' then '>' else '<' end,
      quote_literal(pos ->> 'v'), case sort_kind when 'number' then 'numeric' when 'timestamp' then 'timestamptz' else 'text' end,
      pos ->> 'i');
  end if;
  sql := format(
    'select coalesce(jsonb_agg(x.item order by x.n), ''[]''), count(*) > %s from (
       select atoms_private.entity_json(e) || jsonb_build_object(''_sort'', (%s)::text) as item,
              row_number() over (order by %s %s, e.id %s) as n
       from public.atoms_entities e
       where e.workspace_id = %L and e.deleted_at is null %s
       order by %s %s, e.id %s
       limit %s) x',
    lim, sort_expr, sort_expr, direction, direction, ws_id, predicates,
    sort_expr, direction, direction, lim + 1);
  execute sql into page_items, more;
  if more then
    page_items := page_items - lim;
  end if;
  last := page_items -> (jsonb_array_length(page_items) - 1);
  return jsonb_build_object(
    'items', (select coalesce(jsonb_agg(v - '_sort' order by n), '[]')
              from jsonb_array_elements(page_items) with ordinality as t(v, n)),
    'next_cursor', case when more then atoms_private.encode_cursor(jsonb_build_object(
      'f', sort_field, 'd', direction, 'v', last ->> '_sort', 'i', last ->> 'id')) end);
end
$$;

-- { workspace_id, query?, types?: [..], metadata?: {containment}, created_after?, created_before?,
--   updated_after?, updated_before?, limit? } -> { items (ranked when query given), total }
create or replace function public.atoms_search_advanced(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  q text := nullif(btrim(coalesce(atoms_private.arg_text(args, 'query', false, 500), '')), '');
  types text[];
  containment jsonb := atoms_private.arg_object(args, 'metadata');
  created_after timestamptz := atoms_private.arg_timestamp(args, 'created_after');
  created_before timestamptz := atoms_private.arg_timestamp(args, 'created_before');
  updated_after timestamptz := atoms_private.arg_timestamp(args, 'updated_after');
  updated_before timestamptz := atoms_private.arg_timestamp(args, 'updated_before');
  lim integer := atoms_private.arg_int(args, 'limit', 20, 1, 100);
  tsq tsquery := case when q is not null then websearch_to_tsquery('english', q) end;
  result jsonb;
begin
  perform atoms_private.require_role(ws_id, 'viewer');
  if args ? 'types' and args -> 'types' <> 'null' then
    if jsonb_typeof(args -> 'types') <> 'array' then
      perform atoms_private.fail('invalid_argument', 'types must be an array of entity types');
    end if;
    select array_agg(value) into types from jsonb_array_elements_text(args -> 'types');
  end if;
  with matches as (
    select e.id, e.created_at, case when tsq is not null then ts_rank_cd(e.search, tsq) end as rank
    from public.atoms_entities e
    where e.workspace_id = ws_id and e.deleted_at is null
      and (tsq is null or e.search @@ tsq)
      and (types is null or e.type = any (types))
      and (containment is null or e.metadata @> containment)
      and (created_after is null or e.created_at >= created_after)
      and (created_before is null or e.created_at < created_before)
      and (updated_after is null or e.updated_at >= updated_after)
      and (updated_before is null or e.updated_at < updated_before)
  )
  select jsonb_build_object(
    'total', (select count(*) from matches),
    'items', coalesce((
      select jsonb_agg(atoms_private.entity_json(e)
               || jsonb_strip_nulls(jsonb_build_object('score', round(top.rank::numeric, 4)))
             order by top.rank desc nulls last, top.created_at desc, top.id)
      from (select m.* from matches m order by m.rank desc nulls last, m.created_at desc, m.id limit lim) top
      join public.atoms_entities e on e.id = top.id), '[]'))
    into result;
  return result;
end
$$;

-- { workspace_id, kind: entities|relationships, types?: [..], limit? (default 1000, max 5000), cursor? }
--   -> { kind, rows, next_cursor }   (the library renders json / ndjson / csv)
-- The first page pins the export to the database snapshot it ran in; every later page (its
-- cursor carries that snapshot) pages through the rows created by transactions visible in it,
-- in (created_at, id) order. A transaction that committed after the export began is left out
-- of every page alike, so a row can never be passed by the cursor and skipped.
create or replace function public.atoms_export(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  kind text := coalesce(atoms_private.arg_text(args, 'kind', false, 20), 'entities');
  lim integer := atoms_private.arg_int(args, 'limit', 1000, 1, 5000);
  pos jsonb := atoms_private.decode_cursor(atoms_private.arg_text(args, 'cursor', false, 20000));
  after record := atoms_private.keyset_position(null);
  snap pg_snapshot;
  types text[];
  page_items jsonb;
begin
  perform atoms_private.require_role(ws_id, 'viewer');
  if kind not in ('entities', 'relationships') then
    perform atoms_private.fail('invalid_argument', 'kind must be entities or relationships');
  end if;
  if args ? 'types' and args -> 'types' <> 'null' then
    if jsonb_typeof(args -> 'types') <> 'array' then
      perform atoms_private.fail('invalid_argument', 'types must be an array');
    end if;
    select array_agg(value) into types from jsonb_array_elements_text(args -> 'types');
  end if;
  if pos is null then
    snap := pg_current_snapshot();
  else
    begin
      snap := (pos ->> 's')::pg_snapshot;
      after := atoms_private.keyset_position(args ->> 'cursor');
    exception when others then
      snap := null;
    end;
    if snap is null or pos ->> 'k' is distinct from kind then
      perform atoms_private.fail('invalid_argument', 'cursor is not one this server issued for this export');
    end if;
  end if;
  if kind = 'entities' then
    select coalesce(jsonb_agg(item order by created_at, id), '[]') into page_items
    from (select atoms_private.entity_json(e) as item, e.created_at, e.id
          from public.atoms_entities e
          where e.workspace_id = ws_id and e.deleted_at is null and (types is null or e.type = any (types))
            and (e.created_xid is null or pg_visible_in_snapshot(e.created_xid, snap))
            and (after.t is null or (e.created_at, e.id) > (after.t, after.i))
          order by e.created_at, e.id limit lim + 1) x;
  else
    select coalesce(jsonb_agg(item order by created_at, id), '[]') into page_items
    from (select atoms_private.relationship_json(r) as item, r.created_at, r.id
          from public.atoms_relationships r
          where r.workspace_id = ws_id and r.deleted_at is null and (types is null or r.type = any (types))
            and (r.created_xid is null or pg_visible_in_snapshot(r.created_xid, snap))
            and (after.t is null or (r.created_at, r.id) > (after.t, after.i))
          order by r.created_at, r.id limit lim + 1) x;
  end if;
  if jsonb_array_length(page_items) > lim then
    return jsonb_build_object('kind', kind, 'rows', page_items - lim,
      'next_cursor', atoms_private.encode_cursor(jsonb_build_object(
        't', page_items -> (lim - 1) ->> 'created_at', 'i', page_items -> (lim - 1) ->> 'id',
        's', snap::text, 'k', kind)));
  end if;
  return jsonb_build_object('kind', kind, 'rows', page_items, 'next_cursor', null);
end
$$;
