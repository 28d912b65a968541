-- The tools' argument names become the functions' own (issue 7: "argument names are the public
-- contract"), so the MCP tool layer stays a pass-through — `arguments` minus `operation` is the
-- function's JSON argument:
--   * objects are addressed as workspace_id, entity_id, relationship_id, workflow_id, run_id;
--   * a workspace's free-form object is `metadata` (stored in `settings`);
--   * batches are `items`; `types` filters lists and searches; list_relationships and the graph
--     follow outgoing edges by default; searches page by cursor; every page is at most 200;
--   * workflow steps are {operation: "<tool>.<operation>", arguments}, with ${steps.N.<path>}
--     and ${inputs.<key>} references; execute takes `inputs`;
--   * structured filters ({field, op, value}) apply to query, advanced search and export.

-- An optional array of type identifiers (`types`), or null.
create function atoms_private.arg_types(args jsonb, key text) returns text[]
  language plpgsql immutable
as $$
declare
  raw jsonb := args -> key;
begin
  if raw is null or raw = 'null' then
    return null;
  end if;
  if jsonb_typeof(raw) <> 'array' or jsonb_array_length(raw) not between 1 and 50
     or exists (select 1 from jsonb_array_elements(raw) v
                where jsonb_typeof(v) <> 'string' or (v #>> '{}') !~ '^[a-z][a-z0-9_]{0,62}$') then
    perform atoms_private.fail('invalid_argument', format(
      '%s must be an array of 1 to 50 types (lowercase identifiers: a-z, 0-9, _; starting with a letter)', key));
  end if;
  return array(select jsonb_array_elements_text(raw));
end
$$;

-- The SQL predicates (" and …" each) of a `filters` array of {field, op, value}: whitelisted
-- fields, fixed operators, quoted literals (query_predicate). At most 20 filters.
create function atoms_private.filter_sql(filters jsonb) returns text
  language plpgsql stable
as $$
declare
  filter jsonb;
  predicates text := '';
begin
  if filters is null or filters = 'null' then
    return '';
  end if;
  if jsonb_typeof(filters) <> 'array' or jsonb_array_length(filters) > 20 then
    perform atoms_private.fail('invalid_argument', 'filters must be an array of at most 20 {field, op, value} objects');
  end if;
  for filter in select value from jsonb_array_elements(filters) loop
    if jsonb_typeof(filter) <> 'object' then
      perform atoms_private.fail('invalid_argument', 'each filter is an object {field, op, value}');
    end if;
    predicates := predicates || ' and ' || atoms_private.query_predicate(filter);
  end loop;
  return predicates;
end
$$;

-- " and e.created_at >= …" / " and e.created_at < …" for created_after / created_before.
create function atoms_private.created_range_sql(args jsonb) returns text
  language plpgsql stable
as $$
declare
  after timestamptz := atoms_private.arg_timestamp(args, 'created_after');
  before timestamptz := atoms_private.arg_timestamp(args, 'created_before');
begin
  return case when after is not null then format(' and e.created_at >= %L::timestamptz', after) else '' end
      || case when before is not null then format(' and e.created_at < %L::timestamptz', before) else '' end;
end
$$;

drop function atoms_private.fulltext_hits(uuid, tsquery, text, integer);
drop function atoms_private.nearest_names(uuid, text, text, integer);

create or replace function atoms_private.workspace_json(w public.atoms_workspaces, role text) returns jsonb
  language sql stable
as $$
  select jsonb_build_object(
    'id', w.id, 'name', w.name, 'description', w.description, 'metadata', w.settings,
    'role', role, 'created_at', w.created_at, 'updated_at', w.updated_at)
$$;

-- { name, description?, metadata? } -> workspace (the caller becomes its owner)
create or replace function public.atoms_workspace_create(args jsonb) returns jsonb
  language plpgsql
as $$
declare
  uid uuid := atoms_private.require_user();
  ws public.atoms_workspaces;
begin
  args := atoms_private.require_object(args);
  ws.id := gen_random_uuid();
  ws.name := btrim(atoms_private.arg_text(args, 'name', true, 200));
  ws.description := coalesce(atoms_private.arg_text(args, 'description', false, 5000), '');
  ws.settings := atoms_private.arg_object(args, 'metadata', '{}');
  insert into public.atoms_workspaces (id, name, description, settings, created_by)
  values (ws.id, ws.name, ws.description, ws.settings, uid);
  insert into public.atoms_workspace_members (workspace_id, user_id, role) values (ws.id, uid, 'owner');
  perform atoms_private.audit(ws.id, uid, 'workspace.create', 'workspace', ws.id,
    jsonb_build_object('name', ws.name));
  select * into ws from public.atoms_workspaces where id = ws.id;
  return atoms_private.workspace_json(ws, 'owner');
end
$$;

-- { workspace_id } -> workspace
create or replace function public.atoms_workspace_get(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  role text := atoms_private.require_role(ws_id, 'viewer');
  ws public.atoms_workspaces;
begin
  select * into ws from public.atoms_workspaces where id = ws_id;
  return atoms_private.workspace_json(ws, role);
end
$$;

-- { workspace_id, name?, description?, metadata? (merged; null removes a key) } -> workspace
create or replace function public.atoms_workspace_update(args jsonb) returns jsonb
  language plpgsql
as $$
declare
  uid uuid := atoms_private.require_user();
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  role text := atoms_private.require_role(ws_id, 'editor');
  new_name text := btrim(atoms_private.arg_text(args, 'name', false, 200));
  new_description text := atoms_private.arg_text(args, 'description', false, 5000);
  settings_patch jsonb := atoms_private.arg_object(args, 'metadata');
  ws public.atoms_workspaces;
begin
  if new_name = '' then
    perform atoms_private.fail('invalid_argument', 'name must not be empty');
  end if;
  update public.atoms_workspaces w set
    name = coalesce(new_name, w.name),
    description = coalesce(new_description, w.description),
    settings = case when settings_patch is null then w.settings
                    else atoms_private.merge_metadata(w.settings, settings_patch) end,
    updated_at = now()
  where w.id = ws_id and w.deleted_at is null
  returning * into ws;
  if not found then
    perform atoms_private.fail('not_found', 'workspace not found');
  end if;
  perform atoms_private.audit(ws_id, uid, 'workspace.update', 'workspace', ws_id,
    jsonb_strip_nulls(jsonb_build_object('name', new_name, 'description_changed', new_description is not null,
      'metadata', settings_patch)));
  return atoms_private.workspace_json(ws, role);
end
$$;

-- { workspace_id } -> { id, deleted: true }   (owner only; soft delete)
create or replace function public.atoms_workspace_delete(args jsonb) returns jsonb
  language plpgsql
as $$
declare
  uid uuid := atoms_private.require_user();
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
begin
  perform atoms_private.require_role(ws_id, 'owner');
  update public.atoms_workspaces set deleted_at = now(), updated_at = now()
  where id = ws_id and deleted_at is null;
  if not found then
    perform atoms_private.fail('not_found', 'workspace not found');
  end if;
  perform atoms_private.audit(ws_id, uid, 'workspace.delete', 'workspace', ws_id);
  return jsonb_build_object('id', ws_id, 'deleted', true);
end
$$;

-- { workspace_id } -> { workspace, entities_by_type, relationships, members, last_activity_at }
-- Members are listed by member id, name and role (those who have not acted here yet by role
-- only): never their email or sign-in subject.
create or replace function public.atoms_workspace_info(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  role text := atoms_private.require_role(ws_id, 'viewer');
  ws public.atoms_workspaces;
begin
  select * into ws from public.atoms_workspaces where id = ws_id;
  return jsonb_build_object(
    'workspace', atoms_private.workspace_json(ws, role),
    'entities_by_type', (
      select coalesce(jsonb_object_agg(type, n), '{}')
      from (select type, count(*) n from public.atoms_entities
            where workspace_id = ws_id and deleted_at is null group by type) t),
    'entity_count', (select count(*) from public.atoms_entities where workspace_id = ws_id and deleted_at is null),
    'relationship_count', (select count(*) from public.atoms_relationships where workspace_id = ws_id and deleted_at is null),
    -- A member who has not acted in this workspace yet (just added, perhaps never signed in)
    -- shows as `hidden`, without id or name: adding someone reveals nothing about them.
    'members', (
      select coalesce(jsonb_agg(case when active.yes then jsonb_build_object(
               'member_id', u.id, 'display_name', u.display_name, 'role', m.role, 'joined_at', m.created_at)
             else jsonb_build_object('hidden', true, 'role', m.role, 'joined_at', m.created_at) end
             order by m.created_at), '[]')
      from public.atoms_workspace_members m join public.atoms_users u on u.id = m.user_id
      cross join lateral (select u.id = atoms_private.current_user_id() or exists (
        select 1 from public.atoms_audit_log a where a.actor_id = u.id and a.workspace_id = ws_id) as yes) active
      where m.workspace_id = ws_id),
    'last_activity_at', greatest(
      ws.updated_at,
      (select max(at) from public.atoms_audit_log where workspace_id = ws_id)));
end
$$;

-- { workspace_id, limit?, cursor? } -> { items, next_cursor }: entities of type `project`.
create or replace function public.atoms_workspace_projects(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
begin
  return public.atoms_entity_list(
    (args - 'types' - 'sort') || jsonb_build_object('workspace_id', ws_id, 'type', 'project'));
end
$$;

-- { workspace_id, type, name, metadata? } -> entity
-- { workspace_id, items: [{type, name, metadata?}, ...] } -> { items: [entity] }  (all or nothing)
create or replace function public.atoms_entity_create(args jsonb) returns jsonb
  language plpgsql
as $$
declare
  uid uuid := atoms_private.require_user();
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  batch jsonb := args -> 'items';
  spec jsonb;
  created jsonb := '[]';
  e public.atoms_entities;
  i integer := 0;
begin
  perform atoms_private.require_role(ws_id, 'editor');
  if batch is not null then
    if jsonb_typeof(batch) <> 'array' or jsonb_array_length(batch) = 0 then
      perform atoms_private.fail('invalid_argument', 'items must be a non-empty array of {type, name, metadata?}');
    end if;
    if jsonb_array_length(batch) > 500 then
      perform atoms_private.fail('invalid_argument', 'items holds at most 500 entities per call');
    end if;
  end if;
  for spec in select value from jsonb_array_elements(coalesce(batch, jsonb_build_array(args))) loop
    if jsonb_typeof(spec) <> 'object' then
      perform atoms_private.fail('invalid_argument', format('items[%s] must be an object', i));
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

-- { entity_id, include_relationships? } -> entity (+ relationships: { outgoing, incoming: the first 50
-- each, outgoing_next_cursor, incoming_next_cursor: null when that was all, else a cursor for
-- atoms_relationship_list with direction out / in }). Bounded however many edges an entity has.
create or replace function public.atoms_entity_get(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  e public.atoms_entities := atoms_private.visible_entity(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'entity_id'));
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

-- { entity_id, name?, type?, metadata?, metadata_mode?: merge|replace, expected_version? } -> entity
create or replace function public.atoms_entity_update(args jsonb) returns jsonb
  language plpgsql
as $$
declare
  uid uuid := atoms_private.require_user();
  e public.atoms_entities := atoms_private.visible_entity(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'entity_id'));
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
      format('entity %s was changed since you read it (version %s, you sent %s): read it again', e.id, e.version, expected));
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

-- { entity_id, expected_version? } -> { id, deleted: true, relationships_deleted }   (soft; its relationships go with it)
create or replace function public.atoms_entity_delete(args jsonb) returns jsonb
  language plpgsql
as $$
declare
  uid uuid := atoms_private.require_user();
  e public.atoms_entities := atoms_private.visible_entity(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'entity_id'));
  expected integer := atoms_private.arg_int(args, 'expected_version', null, 1, 2147483647);
  edges integer;
begin
  perform atoms_private.require_role(e.workspace_id, 'editor');
  select * into e from public.atoms_entities where id = e.id and deleted_at is null for update;
  if not found then
    perform atoms_private.fail('not_found', 'entity not found');
  end if;
  if expected is not null and e.version <> expected then
    perform atoms_private.fail('conflict',
      format('entity %s was changed since you read it (version %s, you sent %s): read it again', e.id, e.version, expected));
  end if;
  update public.atoms_entities set deleted_at = now(), updated_at = clock_timestamp(), updated_by = uid
  where id = e.id;
  update public.atoms_relationships set deleted_at = now(), updated_at = clock_timestamp()
  where (source_id = e.id or target_id = e.id) and deleted_at is null;
  get diagnostics edges = row_count;
  perform atoms_private.audit(e.workspace_id, uid, 'entity.delete', 'entity', e.id,
    jsonb_build_object('relationships_deleted', edges));
  return jsonb_build_object('id', e.id, 'deleted', true, 'relationships_deleted', edges);
end
$$;

-- { workspace_id, type?, types?, name_contains?, sort?: {field, direction}, limit?, cursor? }
--   -> { items, next_cursor }
-- Newest-last by default (created_at, id) on the list index; any other sort is a structured
-- query (atoms_query_entities) with the same filters.
create or replace function public.atoms_entity_list(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  kind text := atoms_private.arg_type(args, 'type', false);
  kinds text[] := atoms_private.arg_types(args, 'types');
  fragment text := atoms_private.arg_text(args, 'name_contains', false, 200);
  sort jsonb := atoms_private.arg_object(args, 'sort');
  lim integer := atoms_private.arg_int(args, 'limit', 50, 1, 200);
  pos record;
  page_items jsonb;
begin
  perform atoms_private.require_role(ws_id, 'viewer');
  if sort is not null and sort is distinct from '{"field": "created_at"}'
     and sort is distinct from '{"field": "created_at", "direction": "asc"}' then
    return public.atoms_query_entities(jsonb_strip_nulls(jsonb_build_object(
      'workspace_id', ws_id, 'sort', sort, 'limit', lim, 'cursor', args -> 'cursor',
      'filters', (select coalesce(jsonb_agg(f), '[]') from (
        select jsonb_build_object('field', 'type', 'op', 'eq', 'value', kind) f where kind is not null
        union all
        select jsonb_build_object('field', 'type', 'op', 'in', 'value', to_jsonb(kinds)) where kinds is not null
        union all
        select jsonb_build_object('field', 'name', 'op', 'contains', 'value', fragment) where fragment is not null) x))));
  end if;
  pos := atoms_private.keyset_position(atoms_private.arg_text(args, 'cursor', false, 500));
  with page as (
    select atoms_private.entity_json(e) as item, e.created_at, e.id
    from public.atoms_entities e
    where e.workspace_id = ws_id and e.deleted_at is null
      and (kind is null or e.type = kind)
      and (kinds is null or e.type = any (kinds))
      and (fragment is null or e.name ilike '%' || replace(replace(replace(fragment, '\', '\\'), '%', '\%'), '_', '\_') || '%')
      and (pos.t is null or (e.created_at, e.id) > (pos.t, pos.i))
    order by e.created_at, e.id
    limit lim + 1
  )
  select coalesce(jsonb_agg(p.item order by p.created_at, p.id), '[]') into page_items from page p;
  return atoms_private.keyset_page(page_items, lim);
end
$$;

-- Search helpers, run as atoms_lookup (see 20261129000100): hits `skip`..`skip + lim` of one
-- workspace, which the calling function has checked and whose rows it re-reads under its own
-- policies. Without row-level security on this query the GIN index serves `@@` and the
-- (workspace, name) GiST index serves `<%` with its KNN order.
create function atoms_private.fulltext_hits(ws uuid, tsq tsquery, kinds text[], lim integer, skip integer)
  returns table (id uuid, score real)
  language sql stable
as $$
  select e.id, ts_rank_cd(e.search, tsq)
  from public.atoms_entities e
  where e.workspace_id = ws and e.deleted_at is null
    and (kinds is null or e.type = any (kinds))
    and e.search @@ tsq
  order by 2 desc, e.id
  limit lim offset skip
$$;

-- A word similarity of 0.3 admits a dropped, doubled, swapped or changed letter in a name
-- ("Lovlace", "Turnig", "Analitical"); pg_trgm's default 0.6 admits only the mildest typos.
create function atoms_private.nearest_names(ws uuid, q text, kinds text[], lim integer, skip integer)
  returns table (id uuid, score real)
  language sql stable
  set pg_trgm.word_similarity_threshold = 0.3
as $$
  select e.id, word_similarity(q, e.name)
  from public.atoms_entities e
  where e.workspace_id = ws and e.deleted_at is null
    and (kinds is null or e.type = any (kinds))
    and q <% e.name
  order by q <<-> e.name, e.id
  limit lim offset skip
$$;

-- { workspace_id, query, type?, types?, limit? (default 50, max 200), cursor? }
--   -> { items: [entity + score, snippet, match], query, next_cursor }
-- Ranked full-text search (GIN); when it finds nothing, the nearest names by trigram similarity
-- catch typos (`match`: fulltext | fuzzy). A cursor continues the same ranking (it names the
-- query and the kind of match it pages through).
create or replace function public.atoms_entity_search(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  q text := btrim(atoms_private.arg_text(args, 'query', true, 500));
  kind text := atoms_private.arg_type(args, 'type', false);
  kinds text[] := coalesce(atoms_private.arg_types(args, 'types'), case when kind is not null then array[kind] end);
  lim integer := atoms_private.arg_int(args, 'limit', 50, 1, 200);
  pos jsonb := atoms_private.decode_cursor(atoms_private.arg_text(args, 'cursor', false, 500));
  skip integer := 0;
  mode text := 'fulltext';
  tsq tsquery := websearch_to_tsquery('english', q);
  items jsonb := '[]';
begin
  perform atoms_private.require_role(ws_id, 'viewer');
  if pos is not null then
    if pos ->> 'q' is distinct from md5(q) or pos ->> 'm' not in ('fulltext', 'fuzzy')
       or not coalesce(case when jsonb_typeof(pos -> 'o') = 'number'
                            then (pos ->> 'o')::numeric between 1 and 100000 end, false) then
      perform atoms_private.fail('invalid_argument', 'cursor belongs to another search: repeat the query without it');
    end if;
    skip := (pos ->> 'o')::integer;
    mode := pos ->> 'm';
  end if;
  if mode = 'fulltext' then
    select coalesce(jsonb_agg(atoms_private.entity_json(e) || jsonb_build_object(
             'score', round(hit.score::numeric, 4),
             'match', 'fulltext',
             'snippet', ts_headline('english', e.name || ' — ' || coalesce(
                 (select string_agg(value, ' ') from jsonb_each_text(e.metadata)), ''),
               tsq, 'StartSel=<mark>, StopSel=</mark>, MaxWords=24, MinWords=6, MaxFragments=2'))
           order by hit.score desc, hit.id), '[]') into items
    from atoms_private.fulltext_hits(ws_id, tsq, kinds, lim + 1, skip) hit
    join public.atoms_entities e on e.id = hit.id;
    if jsonb_array_length(items) = 0 and skip = 0 then
      mode := 'fuzzy';
    end if;
  end if;
  if mode = 'fuzzy' then
    select coalesce(jsonb_agg(atoms_private.entity_json(e) || jsonb_build_object(
             'score', round(hit.score::numeric, 4), 'match', 'fuzzy', 'snippet', e.name)
           order by hit.score desc, hit.id), '[]') into items
    from atoms_private.nearest_names(ws_id, q, kinds, lim + 1, skip) hit
    join public.atoms_entities e on e.id = hit.id;
  end if;
  return jsonb_build_object('items', items - lim, 'query', q,
    'next_cursor', case when jsonb_array_length(items) > lim then
      atoms_private.encode_cursor(jsonb_build_object('o', skip + lim, 'm', mode, 'q', md5(q))) end);
end
$$;

-- { entity_id, direction?: out (default)|in|both, type?, types?, limit?, cursor? } -> { items, next_cursor }
-- Each direction is one keyset range scan on its own index; `both` merges the two pages.
create or replace function public.atoms_relationship_list(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  e public.atoms_entities := atoms_private.visible_entity(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'entity_id'));
  direction text := coalesce(atoms_private.arg_text(args, 'direction', false, 4), 'out');
  kinds text[] := atoms_private.arg_types(args, 'types');
  kind text := atoms_private.arg_type(args, 'type', false);
  lim integer := atoms_private.arg_int(args, 'limit', 50, 1, 200);
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
       and (kind is null or r.type = kind) and (kinds is null or r.type = any (kinds))
       and (pos.t is null or (r.created_at, r.id) > (pos.t, pos.i))
     order by r.created_at, r.id limit lim + 1)
    union all
    -- A self-loop is listed once, as outgoing, when both directions are asked for.
    (select r, 'in', r.source_id, r.target_id, r.created_at, r.id
     from public.atoms_relationships r
     where direction in ('in', 'both') and r.target_id = e.id and r.deleted_at is null
       and (direction = 'in' or r.source_id <> e.id)
       and (kind is null or r.type = kind) and (kinds is null or r.type = any (kinds))
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

-- { relationship_id, type?, metadata?, metadata_mode?: merge|replace } -> relationship
create or replace function public.atoms_relationship_update(args jsonb) returns jsonb
  language plpgsql
as $$
declare
  uid uuid := atoms_private.require_user();
  r public.atoms_relationships := atoms_private.visible_relationship(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'relationship_id'));
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

-- { relationship_id } -> { id, deleted: true }
create or replace function public.atoms_relationship_delete(args jsonb) returns jsonb
  language plpgsql
as $$
declare
  uid uuid := atoms_private.require_user();
  r public.atoms_relationships := atoms_private.visible_relationship(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'relationship_id'));
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

-- { entity_id, depth? (1-5, default 2), direction?: out (default)|in|both, types?: [..], max_nodes? (default 200, max 1000) }
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
  direction text := coalesce(atoms_private.arg_text(args, 'direction', false, 4), 'out');
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
  types := atoms_private.arg_types(args, 'types');
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

-- Tool operations a workflow step may run, and the database function behind each.
create or replace function atoms_private.step_function(op text) returns text
  language sql immutable
as $$
  select case op
    when 'entity_tool.create_entity' then 'atoms_entity_create'
    when 'entity_tool.read_entity' then 'atoms_entity_get'
    when 'entity_tool.update_entity' then 'atoms_entity_update'
    when 'entity_tool.delete_entity' then 'atoms_entity_delete'
    when 'entity_tool.list_entities' then 'atoms_entity_list'
    when 'entity_tool.search_entities' then 'atoms_entity_search'
    when 'relationship_tool.create_relationship' then 'atoms_relationship_create'
    when 'relationship_tool.list_relationships' then 'atoms_relationship_list'
    when 'relationship_tool.update_relationship' then 'atoms_relationship_update'
    when 'relationship_tool.delete_relationship' then 'atoms_relationship_delete'
    when 'relationship_tool.get_relationship_graph' then 'atoms_relationship_graph'
    when 'query_tool.query_entities' then 'atoms_query_entities'
    when 'query_tool.advanced_search' then 'atoms_search_advanced'
  end
$$;

-- Validates a steps array: 1..50 steps of {operation, arguments}, known operations, object
-- arguments, references only to earlier steps.
create or replace function atoms_private.validate_steps(steps jsonb) returns void
  language plpgsql immutable
as $$
declare
  step jsonb;
  i integer := 0;
  referenced integer;
begin
  if steps is null or jsonb_typeof(steps) <> 'array' or jsonb_array_length(steps) = 0 then
    perform atoms_private.fail('invalid_argument', 'steps must be a non-empty array of {operation, arguments}');
  end if;
  if jsonb_array_length(steps) > 50 then
    perform atoms_private.fail('invalid_argument', 'a workflow has at most 50 steps');
  end if;
  for step in select value from jsonb_array_elements(steps) loop
    if jsonb_typeof(step) <> 'object' or atoms_private.step_function(step ->> 'operation') is null then
      perform atoms_private.fail('invalid_argument', format(
        'steps[%s].operation must be one of entity_tool.create_entity, entity_tool.read_entity, '
        'entity_tool.update_entity, entity_tool.delete_entity, entity_tool.list_entities, '
        'entity_tool.search_entities, relationship_tool.create_relationship, '
        'relationship_tool.list_relationships, relationship_tool.update_relationship, '
        'relationship_tool.delete_relationship, relationship_tool.get_relationship_graph, '
        'query_tool.query_entities, query_tool.advanced_search', i));
    end if;
    if jsonb_typeof(coalesce(step -> 'arguments', '{}')) <> 'object' then
      perform atoms_private.fail('invalid_argument', format('steps[%s].arguments must be an object', i));
    end if;
    for referenced in
      select m[1]::integer from regexp_matches(coalesce(step -> 'arguments', '{}')::text, '\$\{steps\.([0-9]+)', 'g') as m
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
create or replace function atoms_private.dispatch(op text, args jsonb, workspace uuid) returns jsonb
  language plpgsql
as $$
declare
  fn text := atoms_private.step_function(op);
  scoped constant text[] := array['entity_tool.create_entity', 'entity_tool.list_entities',
    'entity_tool.search_entities', 'query_tool.query_entities', 'query_tool.advanced_search'];
  anchor uuid;
  result jsonb;
begin
  if op = any (scoped) then
    if args ? 'workspace_id' and args ->> 'workspace_id' is distinct from workspace::text then
      perform atoms_private.fail('invalid_argument', 'workflow steps stay in the workflow''s workspace');
    end if;
    args := args || jsonb_build_object('workspace_id', workspace);
  elsif op in ('entity_tool.read_entity', 'entity_tool.update_entity', 'entity_tool.delete_entity',
               'relationship_tool.list_relationships', 'relationship_tool.get_relationship_graph') then
    anchor := (select workspace_id from public.atoms_entities
               where id = atoms_private.arg_uuid(args, 'entity_id') and deleted_at is null);
  elsif op = 'relationship_tool.create_relationship' then
    anchor := (select workspace_id from public.atoms_entities
               where id = atoms_private.arg_uuid(args, 'source_id') and deleted_at is null);
  elsif op in ('relationship_tool.update_relationship', 'relationship_tool.delete_relationship') then
    anchor := (select workspace_id from public.atoms_relationships
               where id = atoms_private.arg_uuid(args, 'relationship_id') and deleted_at is null);
  end if;
  if not (op = any (scoped)) and anchor is distinct from workspace then
    perform atoms_private.fail('not_found', format('%s: target not found in this workspace', op));
  end if;
  execute format('select public.%I($1)', fn) into result using args;
  return result;
end
$$;

-- One reference "steps.N.path" / "inputs.path" (without ${}) -> the JSON value it names.
create or replace function atoms_private.resolve_ref(ref text, outputs jsonb, input jsonb) returns jsonb
  language plpgsql immutable
as $$
declare
  m text[] := regexp_match(ref, '^(steps\.([0-9]+)|inputs)((\.[A-Za-z0-9_]+)*)$');
  path text[];
  resolved jsonb;
begin
  if m is null then
    perform atoms_private.fail('invalid_argument',
      format('${%s} is not a reference: use ${steps.<n>.<field>} or ${inputs.<field>}', ref));
  end if;
  path := coalesce(string_to_array(nullif(substr(m[3], 2), ''), '.'), '{}');
  if m[1] = 'inputs' then
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

-- { workspace_id, name, description?, steps: [{operation, arguments}] } -> workflow
create or replace function public.atoms_workflow_create(args jsonb) returns jsonb
  language plpgsql
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

-- { workflow_id } -> { id, deleted: true }
create or replace function public.atoms_workflow_delete(args jsonb) returns jsonb
  language plpgsql
as $$
declare
  uid uuid := atoms_private.require_user();
  w public.atoms_workflows := atoms_private.visible_workflow(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'workflow_id'));
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

-- { workflow_id, inputs?, dry_run?, idempotency_key? } -> run (status succeeded | failed)
--   dry run: { dry_run: true, status, outputs | failed_step + error } and nothing persists.
-- started_at / finished_at are the wall-clock times the steps began and ended.
create or replace function public.atoms_workflow_execute(args jsonb) returns jsonb
  language plpgsql
as $$
declare
  uid uuid := atoms_private.require_user();
  w public.atoms_workflows := atoms_private.visible_workflow(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'workflow_id'));
  input jsonb := atoms_private.arg_object(args, 'inputs', '{}');
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
      outputs := outputs || jsonb_build_array(atoms_private.dispatch(step ->> 'operation',
        atoms_private.resolve_refs(coalesce(step -> 'arguments', '{}'), outputs, input), w.workspace_id));
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
        'step', step_index, 'operation', w.steps -> step_index ->> 'operation');
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
-- { workspace_id, filters?: [{field, op, value}], sort?: {field, direction: asc|desc}, created_after?,
--   created_before?, limit?, cursor? }
--   -> { items, next_cursor }
-- Sort fields: name, type, version, created_at, updated_at, metadata.<key> (as text); ties by id.
create or replace function public.atoms_query_entities(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  sort jsonb := coalesce(atoms_private.arg_object(args, 'sort'), '{"field": "created_at"}');
  sort_field text := coalesce(atoms_private.arg_text(sort, 'field', false, 80), 'created_at');
  direction text := lower(coalesce(atoms_private.arg_text(sort, 'direction', false, 4), 'asc'));
  lim integer := atoms_private.arg_int(args, 'limit', 50, 1, 200);
  pos jsonb := atoms_private.decode_cursor(atoms_private.arg_text(args, 'cursor', false, 2000));
  sort_expr text;
  sort_kind text;
  predicates text;
  sql text;
  page_items jsonb;
  more boolean;
  last jsonb;
begin
  perform atoms_private.require_role(ws_id, 'viewer');
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
  predicates := atoms_private.filter_sql(args -> 'filters') || atoms_private.created_range_sql(args);
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
  begin
    execute sql into page_items, more;
  exception when data_exception then
    perform atoms_private.fail('invalid_argument',
      'a filter value does not fit its field or operator (e.g. an ilike pattern ending in a lone backslash, a value out of range): check filters');
  end;
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

-- { workspace_id, query?, types?, filters?, metadata?: {containment}, created_after?, created_before?,
--   updated_after?, updated_before?, limit? (default 50, max 200), cursor? }
--   -> { items (ranked by relevance when a query is given, else newest first), total, next_cursor }
-- A query without a full-text hit falls back to the nearest names (typos), as search does.
-- A cursor continues the same search (it carries a digest of the other arguments).
create or replace function public.atoms_search_advanced(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  q text := nullif(btrim(coalesce(atoms_private.arg_text(args, 'query', false, 500), '')), '');
  kinds text[] := atoms_private.arg_types(args, 'types');
  containment jsonb := atoms_private.arg_object(args, 'metadata');
  updated_after timestamptz := atoms_private.arg_timestamp(args, 'updated_after');
  updated_before timestamptz := atoms_private.arg_timestamp(args, 'updated_before');
  lim integer := atoms_private.arg_int(args, 'limit', 50, 1, 200);
  pos jsonb := atoms_private.decode_cursor(atoms_private.arg_text(args, 'cursor', false, 500));
  digest text := md5((args - 'cursor' - 'limit')::text);
  skip integer := 0;
  tsq tsquery := case when q is not null then websearch_to_tsquery('english', q) end;
  matches text;
  fuzzy uuid[];
  rank text;
  ordering text;
  total bigint;
  items jsonb;
begin
  perform atoms_private.require_role(ws_id, 'viewer');
  if pos is not null then
    if pos ->> 'h' is distinct from digest
       or not coalesce(case when jsonb_typeof(pos -> 'o') = 'number'
                            then (pos ->> 'o')::numeric between 1 and 100000 end, false) then
      perform atoms_private.fail('invalid_argument', 'cursor belongs to another search: repeat it without the cursor');
    end if;
    skip := (pos ->> 'o')::integer;
  end if;
  matches := format(' from public.atoms_entities e where e.workspace_id = %L and e.deleted_at is null', ws_id)
    || atoms_private.filter_sql(args -> 'filters') || atoms_private.created_range_sql(args)
    || case when kinds is not null then format(' and e.type = any (%L::text[])', kinds) else '' end
    || case when containment is not null then format(' and e.metadata @> %L::jsonb', containment) else '' end
    || case when updated_after is not null then format(' and e.updated_at >= %L::timestamptz', updated_after) else '' end
    || case when updated_before is not null then format(' and e.updated_at < %L::timestamptz', updated_before) else '' end;
  rank := case when tsq is not null then format('ts_rank_cd(e.search, %L::tsquery)', tsq) else 'null::real' end;
  ordering := format('%s desc nulls last, e.created_at desc, e.id', rank);
  begin
    if tsq is not null then
      execute 'select count(*)' || matches || format(' and e.search @@ %L::tsquery', tsq) into total;
      if total > 0 then
        matches := matches || format(' and e.search @@ %L::tsquery', tsq);
      else
        -- No full-text hit: the names nearest to the query (typos), among which the other
        -- conditions hold, nearest first.
        fuzzy := array(select h.id from atoms_private.nearest_names(ws_id, q, kinds, 200, 0) h);
        matches := matches || format(' and e.id = any (%L::uuid[])', fuzzy);
        rank := format('(1 - array_position(%L::uuid[], e.id)::real / 1000)', fuzzy);
        ordering := format('%s desc, e.id', rank);
      end if;
    end if;
    execute 'select count(*)' || matches into total;
    execute format(
    'select coalesce(jsonb_agg(atoms_private.entity_json(e)
              || jsonb_strip_nulls(jsonb_build_object(''score'', round(x.rank::numeric, 4))) order by x.n), ''[]'')
     from (select e.id, %s as rank, row_number() over (order by %s) as n %s order by %s limit %s offset %s) x
     join public.atoms_entities e on e.id = x.id',
    rank, ordering, matches, ordering, lim + 1, skip) into items;
  exception when data_exception then
    perform atoms_private.fail('invalid_argument',
      'a filter value does not fit its field or operator (e.g. an ilike pattern ending in a lone backslash, a value out of range): check filters');
  end;
  return jsonb_build_object('items', items - lim, 'total', total,
    'next_cursor', case when jsonb_array_length(items) > lim then
      atoms_private.encode_cursor(jsonb_build_object('o', skip + lim, 'h', digest)) end);
end
$$;

-- { workspace_id, kind: entities|relationships, types?: [..], filters? (entities), limit? (default 1000, max 5000),
--   cursor? }
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
  types := atoms_private.arg_types(args, 'types');
  if kind = 'relationships' and args -> 'filters' is not null and args -> 'filters' <> 'null' then
    perform atoms_private.fail('invalid_argument', 'filters apply to entity exports (kind entities)');
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
    begin
    execute format(
      'select coalesce(jsonb_agg(item order by created_at, id), ''[]'')
       from (select atoms_private.entity_json(e) as item, e.created_at, e.id
             from public.atoms_entities e
             where e.workspace_id = $1 and e.deleted_at is null and ($2::text[] is null or e.type = any ($2))
               and (e.created_xid is null or pg_visible_in_snapshot(e.created_xid, $3))
               and ($4::timestamptz is null or (e.created_at, e.id) > ($4, $5)) %s
             order by e.created_at, e.id limit $6) x',
      atoms_private.filter_sql(args -> 'filters'))
      into page_items using ws_id, types, snap, after.t, after.i, lim + 1;
  exception when data_exception then
    perform atoms_private.fail('invalid_argument',
      'a filter value does not fit its field or operator (e.g. an ilike pattern ending in a lone backslash, a value out of range): check filters');
  end;
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

-- Workflows saved before this migration: {op, args} steps with the old operation names and
-- argument keys become {operation, arguments} with the tool names (relationship lists keep
-- listing both directions, as they did).
alter table public.atoms_workflows no force row level security;
update public.atoms_workflows w set steps = (
  select jsonb_agg(
    case when s ? 'operation' then s else jsonb_build_object(
      'operation', case s ->> 'op'
        when 'entity.create' then 'entity_tool.create_entity'
        when 'entity.get' then 'entity_tool.read_entity'
        when 'entity.update' then 'entity_tool.update_entity'
        when 'entity.delete' then 'entity_tool.delete_entity'
        when 'entity.list' then 'entity_tool.list_entities'
        when 'entity.search' then 'entity_tool.search_entities'
        when 'relationship.create' then 'relationship_tool.create_relationship'
        when 'relationship.update' then 'relationship_tool.update_relationship'
        when 'relationship.delete' then 'relationship_tool.delete_relationship'
        when 'relationship.list' then 'relationship_tool.list_relationships'
        else s ->> 'op' end,
      'arguments', replace((
        case
          when s ->> 'op' in ('entity.get', 'entity.update', 'entity.delete') and a ? 'id'
            then (a - 'id') || jsonb_build_object('entity_id', a -> 'id')
          when s ->> 'op' in ('relationship.update', 'relationship.delete') and a ? 'id'
            then (a - 'id') || jsonb_build_object('relationship_id', a -> 'id')
          when s ->> 'op' = 'entity.create' and a ? 'entities'
            then (a - 'entities') || jsonb_build_object('items', a -> 'entities')
          when s ->> 'op' = 'relationship.list' and not a ? 'direction'
            then a || '{"direction": "both"}'
          else a end)::text, '${input.', '${inputs.')::jsonb)
    end order by n)
  from jsonb_array_elements(w.steps) with ordinality as t(s, n),
       lateral (select coalesce(s -> 'args', '{}') as a) args)
where exists (select 1 from jsonb_array_elements(w.steps) s where s ? 'op');
alter table public.atoms_workflows force row level security;


call atoms_private.seal();
