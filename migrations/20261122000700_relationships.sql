-- Relationship operations: create, list, update, delete, and bounded graph traversal.

create function atoms_private.relationship_json(r public.atoms_relationships) returns jsonb
  language sql stable
  set search_path = pg_catalog, public
as $$
  select jsonb_build_object(
    'id', r.id, 'workspace_id', r.workspace_id, 'source_id', r.source_id, 'target_id', r.target_id,
    'type', r.type, 'metadata', r.metadata, 'created_by', r.created_by,
    'created_at', r.created_at, 'updated_at', r.updated_at)
$$;

create function atoms_private.visible_relationship(relationship uuid) returns public.atoms_relationships
  language plpgsql stable
  set search_path = pg_catalog, public
as $$
declare
  r public.atoms_relationships;
begin
  select * into r from public.atoms_relationships where id = relationship and deleted_at is null;
  if not found or atoms_private.member_role(r.workspace_id) is null then
    perform atoms_private.fail('not_found', 'relationship not found');
  end if;
  return r;
end
$$;

-- { source_id, target_id, type, metadata? } -> relationship
create function public.atoms_relationship_create(args jsonb) returns jsonb
  language plpgsql
  set search_path = pg_catalog, public
as $$
declare
  uid uuid := atoms_private.require_user();
  source public.atoms_entities := atoms_private.visible_entity(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'source_id'));
  target public.atoms_entities := atoms_private.visible_entity(atoms_private.arg_uuid(args, 'target_id'));
  kind text := atoms_private.arg_type(args, 'type');
  meta jsonb := atoms_private.arg_object(args, 'metadata', '{}');
  r public.atoms_relationships;
begin
  if source.workspace_id <> target.workspace_id then
    perform atoms_private.fail('invalid_argument', 'source and target must be in the same workspace');
  end if;
  perform atoms_private.require_role(source.workspace_id, 'editor');
  r.id := gen_random_uuid();
  begin
    insert into public.atoms_relationships (id, workspace_id, source_id, target_id, type, metadata, created_by)
    values (r.id, source.workspace_id, source.id, target.id, kind, meta, uid);
  exception when unique_violation then
    perform atoms_private.fail('conflict',
      format('a %s relationship from this source to this target already exists', kind));
  end;
  perform atoms_private.audit(source.workspace_id, uid, 'relationship.create', 'relationship', r.id,
    jsonb_build_object('type', kind, 'source_id', source.id, 'target_id', target.id));
  select * into r from public.atoms_relationships where id = r.id;
  return atoms_private.relationship_json(r);
end
$$;

-- { entity_id, direction?: in|out|both, type?, limit?, cursor? } -> { items, next_cursor }
-- Each item carries the entity at the other end.
create function public.atoms_relationship_list(args jsonb) returns jsonb
  language plpgsql stable
  set search_path = pg_catalog, public
as $$
declare
  e public.atoms_entities := atoms_private.visible_entity(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'entity_id'));
  direction text := coalesce(atoms_private.arg_text(args, 'direction', false, 4), 'both');
  kind text := atoms_private.arg_type(args, 'type', false);
  lim integer := atoms_private.arg_int(args, 'limit', 100, 1, 500);
  pos jsonb := atoms_private.decode_cursor(atoms_private.arg_text(args, 'cursor', false, 500));
  page_items jsonb;
begin
  if direction not in ('in', 'out', 'both') then
    perform atoms_private.fail('invalid_argument', 'direction must be in, out or both');
  end if;
  with page as (
    select atoms_private.relationship_json(r) || jsonb_build_object(
             'direction', case when r.source_id = e.id then 'out' else 'in' end,
             'entity', jsonb_build_object('id', o.id, 'type', o.type, 'name', o.name)) as item,
           r.created_at, r.id
    from public.atoms_relationships r
    join public.atoms_entities o
      on o.id = case when r.source_id = e.id then r.target_id else r.source_id end
     and o.deleted_at is null
    where r.deleted_at is null
      and ((direction in ('out', 'both') and r.source_id = e.id)
        or (direction in ('in', 'both') and r.target_id = e.id))
      and (kind is null or r.type = kind)
      and (pos is null or (r.created_at, r.id) > ((pos ->> 't')::timestamptz, (pos ->> 'i')::uuid))
    order by r.created_at, r.id
    limit lim + 1
  )
  select coalesce(jsonb_agg(p.item order by p.created_at, p.id), '[]') into page_items from page p;
  return atoms_private.keyset_page(page_items, lim);
end
$$;

-- { id, type?, metadata?, metadata_mode?: merge|replace } -> relationship
create function public.atoms_relationship_update(args jsonb) returns jsonb
  language plpgsql
  set search_path = pg_catalog, public
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
    where id = r.id;
  exception when unique_violation then
    perform atoms_private.fail('conflict',
      format('a %s relationship between these entities already exists', new_type));
  end;
  perform atoms_private.audit(r.workspace_id, uid, 'relationship.update', 'relationship', r.id,
    jsonb_strip_nulls(jsonb_build_object('type', new_type, 'metadata_mode',
      case when patch is not null then mode end)));
  select * into r from public.atoms_relationships where id = r.id;
  return atoms_private.relationship_json(r);
end
$$;

-- { id } -> { id, deleted: true }
create function public.atoms_relationship_delete(args jsonb) returns jsonb
  language plpgsql
  set search_path = pg_catalog, public
as $$
declare
  uid uuid := atoms_private.require_user();
  r public.atoms_relationships := atoms_private.visible_relationship(
    atoms_private.arg_uuid(atoms_private.require_object(args), 'id'));
begin
  perform atoms_private.require_role(r.workspace_id, 'editor');
  update public.atoms_relationships set deleted_at = now(), updated_at = clock_timestamp() where id = r.id;
  perform atoms_private.audit(r.workspace_id, uid, 'relationship.delete', 'relationship', r.id);
  return jsonb_build_object('id', r.id, 'deleted', true);
end
$$;

-- { entity_id, depth? (1-5, default 2), direction?: in|out|both, types?: [..], max_nodes? (default 200, max 1000) }
--   -> { root, nodes, edges, truncated }
-- Breadth-first and cycle-safe (each node is visited once). When the graph is larger than
-- max_nodes (or edges exceed 4 x max_nodes), the result is cut and `truncated` is true —
-- never a silent truncation.
create function public.atoms_relationship_graph(args jsonb) returns jsonb
  language plpgsql stable
  set search_path = pg_catalog, public
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
  truncated boolean := false;
  level integer := 0;
  nodes jsonb;
  edges jsonb;
  edge_count integer;
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
    select array_agg(distinct n) into discovered from (
      select r.target_id as n from public.atoms_relationships r
      where direction in ('out', 'both') and r.source_id = any (frontier) and r.deleted_at is null
        and (types is null or r.type = any (types))
      union
      select r.source_id from public.atoms_relationships r
      where direction in ('in', 'both') and r.target_id = any (frontier) and r.deleted_at is null
        and (types is null or r.type = any (types))
    ) step
    join public.atoms_entities e on e.id = step.n and e.deleted_at is null
    where not (step.n = any (visited));
    discovered := coalesce(discovered, '{}');
    if cardinality(visited) + cardinality(discovered) > max_nodes then
      truncated := true;
      discovered := discovered[1:max_nodes - cardinality(visited)];
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
  select count(*) into edge_count
  from public.atoms_relationships r
  where r.source_id = any (visited) and r.target_id = any (visited) and r.deleted_at is null
    and (types is null or r.type = any (types));
  if edge_count > 4 * max_nodes then
    truncated := true;
  end if;
  select coalesce(jsonb_agg(jsonb_build_object('id', x.id, 'source_id', x.source_id,
           'target_id', x.target_id, 'type', x.type) order by x.created_at, x.id), '[]')
    into edges
  from (
    select r.* from public.atoms_relationships r
    where r.source_id = any (visited) and r.target_id = any (visited) and r.deleted_at is null
      and (types is null or r.type = any (types))
    order by r.created_at, r.id
    limit 4 * max_nodes
  ) x;
  return jsonb_build_object('root', root.id, 'depth', depth, 'nodes', coalesce(nodes, '[]'),
    'edges', edges, 'truncated', truncated);
end
$$;
