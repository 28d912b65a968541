-- Entity operations: list, create (single or batch), get, update, delete, search, and the
-- workspace's projects (entities of type `project`).

create function atoms_private.entity_json(e public.atoms_entities) returns jsonb
  language sql stable
  set search_path = pg_catalog, public
as $$
  select jsonb_build_object(
    'id', e.id, 'workspace_id', e.workspace_id, 'type', e.type, 'name', e.name,
    'metadata', e.metadata, 'version', e.version,
    'created_by', e.created_by, 'updated_by', e.updated_by,
    'created_at', e.created_at, 'updated_at', e.updated_at)
$$;

-- A live, visible entity or not_found (RLS hides other workspaces' page_items).
create function atoms_private.visible_entity(entity uuid) returns public.atoms_entities
  language plpgsql stable
  set search_path = pg_catalog, public
as $$
declare
  e public.atoms_entities;
begin
  select * into e from public.atoms_entities where id = entity and deleted_at is null;
  if not found or atoms_private.member_role(e.workspace_id) is null then
    perform atoms_private.fail('not_found', 'entity not found');
  end if;
  return e;
end
$$;

-- { workspace_id, type?, name_contains?, limit?, cursor? } -> { items, next_cursor }
-- Stable order: created_at, then id. The cursor is opaque.
create function public.atoms_entity_list(args jsonb) returns jsonb
  language plpgsql stable
  set search_path = pg_catalog, public
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  kind text := atoms_private.arg_type(args, 'type', false);
  fragment text := atoms_private.arg_text(args, 'name_contains', false, 200);
  lim integer := atoms_private.arg_int(args, 'limit', 50, 1, 200);
  pos jsonb := atoms_private.decode_cursor(atoms_private.arg_text(args, 'cursor', false, 500));
  page_items jsonb;
begin
  perform atoms_private.require_role(ws_id, 'viewer');
  with page as (
    select atoms_private.entity_json(e) as item, e.created_at, e.id
    from public.atoms_entities e
    where e.workspace_id = ws_id and e.deleted_at is null
      and (kind is null or e.type = kind)
      and (fragment is null or e.name ilike '%' || replace(replace(replace(fragment, '\', '\\'), '%', '\%'), '_', '\_') || '%')
      and (pos is null or (e.created_at, e.id) > ((pos ->> 't')::timestamptz, (pos ->> 'i')::uuid))
    order by e.created_at, e.id
    limit lim + 1
  )
  select coalesce(jsonb_agg(p.item order by p.created_at, p.id), '[]') into page_items from page p;
  return atoms_private.keyset_page(page_items, lim);
end
$$;

-- { id (workspace), limit?, cursor? } -> { items, next_cursor }: entities of type `project`.
create function public.atoms_workspace_projects(args jsonb) returns jsonb
  language plpgsql stable
  set search_path = pg_catalog, public
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'id');
begin
  return public.atoms_entity_list(
    (args - 'id') || jsonb_build_object('workspace_id', ws_id, 'type', 'project'));
end
$$;

-- { workspace_id, type, name, metadata? } -> entity
-- { workspace_id, entities: [{type, name, metadata?}, ...] } -> { items: [entity] }  (all or nothing)
create function public.atoms_entity_create(args jsonb) returns jsonb
  language plpgsql
  set search_path = pg_catalog, public
as $$
declare
  uid uuid := atoms_private.require_user();
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  batch jsonb := args -> 'entities';
  spec jsonb;
  created jsonb := '[]';
  e public.atoms_entities;
  i integer := 0;
begin
  perform atoms_private.require_role(ws_id, 'editor');
  if batch is not null then
    if jsonb_typeof(batch) <> 'array' or jsonb_array_length(batch) = 0 then
      perform atoms_private.fail('invalid_argument', 'entities must be a non-empty array');
    end if;
    if jsonb_array_length(batch) > 500 then
      perform atoms_private.fail('invalid_argument', 'at most 500 entities per call');
    end if;
  end if;
  for spec in select value from jsonb_array_elements(coalesce(batch, jsonb_build_array(args))) loop
    if jsonb_typeof(spec) <> 'object' then
      perform atoms_private.fail('invalid_argument', format('entities[%s] must be an object', i));
    end if;
    e.id := gen_random_uuid();
    e.type := atoms_private.arg_type(spec, 'type');
    e.name := btrim(atoms_private.arg_text(spec, 'name', true, 500));
    e.metadata := atoms_private.arg_object(spec, 'metadata', '{}');
    insert into public.atoms_entities (id, workspace_id, type, name, metadata, created_by, updated_by)
    values (e.id, ws_id, e.type, e.name, e.metadata, uid, uid);
    select * into e from public.atoms_entities where id = e.id;
    created := created || jsonb_build_array(atoms_private.entity_json(e));
    perform atoms_private.audit(ws_id, uid, 'entity.create', 'entity', e.id,
      jsonb_build_object('type', e.type, 'name', e.name));
    i := i + 1;
  end loop;
  if batch is null then
    return created -> 0;
  end if;
  return jsonb_build_object('items', created);
end
$$;

-- { id, include_relationships? } -> entity (+ relationships: { outgoing, incoming })
create function public.atoms_entity_get(args jsonb) returns jsonb
  language plpgsql stable
  set search_path = pg_catalog, public
as $$
declare
  e public.atoms_entities := atoms_private.visible_entity(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'id'));
  result jsonb := atoms_private.entity_json(e);
begin
  if atoms_private.arg_bool(args, 'include_relationships', false) then
    result := result || jsonb_build_object('relationships', jsonb_build_object(
      'outgoing', (select coalesce(jsonb_agg(jsonb_build_object(
                     'id', r.id, 'type', r.type, 'metadata', r.metadata,
                     'entity', jsonb_build_object('id', t.id, 'type', t.type, 'name', t.name))
                   order by r.created_at, r.id), '[]')
                   from public.atoms_relationships r
                   join public.atoms_entities t on t.id = r.target_id and t.deleted_at is null
                   where r.source_id = e.id and r.deleted_at is null),
      'incoming', (select coalesce(jsonb_agg(jsonb_build_object(
                     'id', r.id, 'type', r.type, 'metadata', r.metadata,
                     'entity', jsonb_build_object('id', s.id, 'type', s.type, 'name', s.name))
                   order by r.created_at, r.id), '[]')
                   from public.atoms_relationships r
                   join public.atoms_entities s on s.id = r.source_id and s.deleted_at is null
                   where r.target_id = e.id and r.deleted_at is null)));
  end if;
  return result;
end
$$;

-- { id, name?, type?, metadata?, metadata_mode?: merge|replace, expected_version? } -> entity
create function public.atoms_entity_update(args jsonb) returns jsonb
  language plpgsql
  set search_path = pg_catalog, public
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
  -- Lock the row, then compare versions: concurrent updates serialize here.
  select * into e from public.atoms_entities where id = e.id for update;
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
create function public.atoms_entity_delete(args jsonb) returns jsonb
  language plpgsql
  set search_path = pg_catalog, public
as $$
declare
  uid uuid := atoms_private.require_user();
  e public.atoms_entities := atoms_private.visible_entity(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'id'));
  edges integer;
begin
  perform atoms_private.require_role(e.workspace_id, 'editor');
  update public.atoms_relationships set deleted_at = now(), updated_at = clock_timestamp()
  where (source_id = e.id or target_id = e.id) and deleted_at is null;
  get diagnostics edges = row_count;
  update public.atoms_entities set deleted_at = now(), updated_at = clock_timestamp(), updated_by = uid
  where id = e.id;
  perform atoms_private.audit(e.workspace_id, uid, 'entity.delete', 'entity', e.id,
    jsonb_build_object('relationships_deleted', edges));
  return jsonb_build_object('id', e.id, 'deleted', true, 'relationships_deleted', edges);
end
$$;

-- { workspace_id, query, type?, limit? } -> { items: [entity + score, snippet, match] }
-- Ranked full-text search (websearch syntax); when it finds nothing, trigram similarity on
-- names catches typos.
create function public.atoms_entity_search(args jsonb) returns jsonb
  language plpgsql stable
  set search_path = pg_catalog, public, extensions
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
  -- Rank first (ids and scores only), then build JSON and headlines for the top hits alone.
  select coalesce(jsonb_agg(atoms_private.entity_json(e) || jsonb_build_object(
           'score', round(hit.score::numeric, 4),
           'match', 'fulltext',
           'snippet', ts_headline('english', e.name || ' — ' || coalesce(
               (select string_agg(value, ' ') from jsonb_each_text(e.metadata)), ''),
             tsq, 'StartSel=<mark>, StopSel=</mark>, MaxWords=24, MinWords=6, MaxFragments=2'))
         order by hit.score desc, hit.id), '[]') into items
  from (
    select e.id, ts_rank_cd(e.search, tsq) as score
    from public.atoms_entities e
    where e.workspace_id = ws_id and e.deleted_at is null
      and (kind is null or e.type = kind)
      and e.search @@ tsq
    order by 2 desc, e.id
    limit lim
  ) hit
  join public.atoms_entities e on e.id = hit.id;
  if jsonb_array_length(items) = 0 then
    -- Typo tolerance: nearest names by trigram word similarity (KNN on the GiST index).
    select coalesce(jsonb_agg(atoms_private.entity_json(e) || jsonb_build_object(
             'score', round(hit.score::numeric, 4), 'match', 'fuzzy', 'snippet', e.name)
           order by hit.score desc, hit.id), '[]') into items
    from (
      select e.id, word_similarity(q, e.name) as score
      from public.atoms_entities e
      where e.workspace_id = ws_id and e.deleted_at is null
        and (kind is null or e.type = kind)
        and q <% e.name
      order by q <<-> e.name
      limit lim
    ) hit
    join public.atoms_entities e on e.id = hit.id;
  end if;
  return jsonb_build_object('items', items, 'query', q);
end
$$;
