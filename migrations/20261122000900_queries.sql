-- Queries over a workspace's entities: structured query (whitelisted fields, fixed operator
-- set, keyset pagination), advanced search (full text + filters + date ranges), statistics,
-- and bounded export pages. Dynamic SQL is built only from whitelisted identifiers and
-- quote_literal'ed values (format %I / %L): user input never becomes SQL text.

-- The SQL expression for a queryable field, and its value type (text | number | timestamp | uuid | json).
create function atoms_private.query_field(field text, out expr text, out kind text)
  language plpgsql immutable
  set search_path = pg_catalog
as $$
begin
  case field
    when 'id' then expr := 'e.id'; kind := 'uuid';
    when 'type' then expr := 'e.type'; kind := 'text';
    when 'name' then expr := 'e.name'; kind := 'text';
    when 'version' then expr := 'e.version'; kind := 'number';
    when 'created_at' then expr := 'e.created_at'; kind := 'timestamp';
    when 'updated_at' then expr := 'e.updated_at'; kind := 'timestamp';
    else
      if field ~ '^metadata\.[A-Za-z0-9_]{1,64}$' then
        expr := format('e.metadata -> %L', substr(field, 10));
        kind := 'json';
      else
        perform atoms_private.fail('invalid_argument', format(
          'unknown field %L: use id, type, name, version, created_at, updated_at or metadata.<key>', field));
      end if;
  end case;
end
$$;

-- A literal of `kind` from a JSON value, validated (raises invalid_argument).
create function atoms_private.query_literal(value jsonb, kind text, field text) returns text
  language plpgsql stable
  set search_path = pg_catalog
as $$
begin
  if value is null or value = 'null' then
    perform atoms_private.fail('invalid_argument', format('%s: a value is required', field));
  end if;
  case kind
    when 'json' then
      return format('%L::jsonb', value::text);
    when 'number' then
      if jsonb_typeof(value) <> 'number' then
        perform atoms_private.fail('invalid_argument', format('%s compares with a number', field));
      end if;
      return format('%L::numeric', value::text);
    when 'timestamp' then
      begin
        return format('%L::timestamptz', (value #>> '{}')::timestamptz::text);
      exception when others then
        perform atoms_private.fail('invalid_argument', format('%s compares with an ISO 8601 timestamp', field));
      end;
    when 'uuid' then
      begin
        return format('%L::uuid', (value #>> '{}')::uuid::text);
      exception when others then
        perform atoms_private.fail('invalid_argument', format('%s compares with a UUID', field));
      end;
    else
      if jsonb_typeof(value) <> 'string' then
        perform atoms_private.fail('invalid_argument', format('%s compares with a string', field));
      end if;
      return format('%L', value #>> '{}');
  end case;
  return null;
end
$$;

-- One filter {field, op, value} as a SQL predicate.
create function atoms_private.query_predicate(filter jsonb) returns text
  language plpgsql stable
  set search_path = pg_catalog
as $$
declare
  field text := atoms_private.arg_text(filter, 'field', true, 80);
  op text := atoms_private.arg_text(filter, 'op', true, 10);
  value jsonb := filter -> 'value';
  f record := atoms_private.query_field(field);
  comparison text;
  sortable text;
begin
  if op = 'exists' then
    if f.kind <> 'json' then
      perform atoms_private.fail('invalid_argument', 'exists applies to metadata.<key> fields');
    end if;
    return format('e.metadata ? %L', substr(field, 10))
      || case when value = 'false' then ' = false' else '' end;
  end if;
  if op = 'in' then
    if jsonb_typeof(value) <> 'array' or jsonb_array_length(value) not between 1 and 100 then
      perform atoms_private.fail('invalid_argument', format('%s in: value must be an array of 1 to 100 values', field));
    end if;
    return format('%s in (%s)', f.expr, (
      select string_agg(atoms_private.query_literal(v, f.kind, field), ', ') from jsonb_array_elements(value) v));
  end if;
  if op in ('contains', 'ilike') then
    if jsonb_typeof(value) <> 'string' and not (op = 'contains' and f.kind = 'json') then
      perform atoms_private.fail('invalid_argument', format('%s %s: value must be a string', field, op));
    end if;
    if op = 'contains' and f.kind = 'json' and jsonb_typeof(value) <> 'string' then
      return format('%s @> %L::jsonb', f.expr, value::text);
    end if;
    sortable := case when f.kind = 'json' then format('(%s #>> ''{}'')', f.expr) else f.expr || '::text' end;
    if op = 'ilike' then
      return format('%s ilike %L', sortable, value #>> '{}');
    end if;
    return format('%s ilike %L', sortable,
      '%' || replace(replace(replace(value #>> '{}', '\', '\\'), '%', '\%'), '_', '\_') || '%');
  end if;
  comparison := case op
    when 'eq' then '=' when 'neq' then '<>' when 'lt' then '<' when 'lte' then '<='
    when 'gt' then '>' when 'gte' then '>=' end;
  if comparison is null then
    perform atoms_private.fail('invalid_argument', format(
      'unknown operator %L: use eq, neq, lt, lte, gt, gte, in, contains, ilike or exists', op));
  end if;
  if f.kind = 'json' and op not in ('eq', 'neq') then
    -- Ordering on metadata compares numbers as numbers and strings as strings.
    if jsonb_typeof(value) = 'number' then
      return format('(case when jsonb_typeof(%1$s) = ''number'' then (%1$s)::text::numeric end) %2$s %3$L::numeric',
        f.expr, comparison, value::text);
    end if;
    return format('(%s #>> ''{}'') %s %L', f.expr, comparison, value #>> '{}');
  end if;
  if f.kind = 'json' and op = 'neq' then
    return format('%s is distinct from %s', f.expr, atoms_private.query_literal(value, f.kind, field));
  end if;
  return format('%s %s %s', f.expr, comparison, atoms_private.query_literal(value, f.kind, field));
end
$$;

-- { workspace_id, filters?: [{field, op, value}], sort?: {field, direction: asc|desc}, limit?, cursor? }
--   -> { items, next_cursor }
-- Sort fields: name, type, version, created_at, updated_at, metadata.<key> (as text); ties by id.
create function public.atoms_query_entities(args jsonb) returns jsonb
  language plpgsql stable
  set search_path = pg_catalog, public
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
create function public.atoms_search_advanced(args jsonb) returns jsonb
  language plpgsql stable
  set search_path = pg_catalog, public, extensions
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
    select e.*, case when tsq is not null then ts_rank_cd(e.search, tsq) end as rank
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
      select jsonb_agg(item order by rank desc nulls last, created_at desc, id)
      from (
        select atoms_private.entity_json(row(m.id, m.workspace_id, m.type, m.name, m.metadata, m.search,
                 m.version, m.created_by, m.updated_by, m.created_at, m.updated_at, m.deleted_at)::public.atoms_entities)
               || jsonb_strip_nulls(jsonb_build_object('score', round(m.rank::numeric, 4))) as item,
               m.rank, m.created_at, m.id
        from matches m
        order by m.rank desc nulls last, m.created_at desc, m.id
        limit lim) top), '[]'))
    into result;
  return result;
end
$$;

-- { workspace_id } -> { entities_by_type, relationships_by_type, created_per_day (30 days),
--   most_connected (top 10 by degree) }
create function public.atoms_stats(args jsonb) returns jsonb
  language plpgsql stable
  set search_path = pg_catalog, public
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
begin
  perform atoms_private.require_role(ws_id, 'viewer');
  return jsonb_build_object(
    'entities_by_type', (select coalesce(jsonb_object_agg(type, n), '{}') from (
        select type, count(*) n from public.atoms_entities
        where workspace_id = ws_id and deleted_at is null group by type) t),
    'relationships_by_type', (select coalesce(jsonb_object_agg(type, n), '{}') from (
        select type, count(*) n from public.atoms_relationships
        where workspace_id = ws_id and deleted_at is null group by type) t),
    'created_per_day', (select jsonb_agg(jsonb_build_object('day', d::date, 'count', coalesce(c.n, 0)) order by d)
      from generate_series(current_date - 29, current_date, interval '1 day') d
      left join (select created_at::date as day, count(*) n from public.atoms_entities
                 where workspace_id = ws_id and deleted_at is null and created_at >= current_date - 29
                 group by 1) c on c.day = d::date),
    'most_connected', (select coalesce(jsonb_agg(jsonb_build_object('id', e.id, 'type', e.type,
        'name', e.name, 'degree', d.degree) order by d.degree desc, e.id), '[]')
      from (select node, count(*) degree from (
              select source_id node from public.atoms_relationships where workspace_id = ws_id and deleted_at is null
              union all
              select target_id from public.atoms_relationships where workspace_id = ws_id and deleted_at is null) ends
            group by node order by count(*) desc, node limit 10) d
      join public.atoms_entities e on e.id = d.node and e.deleted_at is null));
end
$$;

-- { workspace_id, kind: entities|relationships, types?: [..], limit? (default 1000, max 5000), cursor? }
--   -> { kind, rows, next_cursor }   (the library renders json / ndjson / csv)
create function public.atoms_export(args jsonb) returns jsonb
  language plpgsql stable
  set search_path = pg_catalog, public
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  kind text := coalesce(atoms_private.arg_text(args, 'kind', false, 20), 'entities');
  lim integer := atoms_private.arg_int(args, 'limit', 1000, 1, 5000);
  pos jsonb := atoms_private.decode_cursor(atoms_private.arg_text(args, 'cursor', false, 500));
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
  if kind = 'entities' then
    select coalesce(jsonb_agg(item order by created_at, id), '[]') into page_items
    from (select atoms_private.entity_json(e) as item, e.created_at, e.id
          from public.atoms_entities e
          where e.workspace_id = ws_id and e.deleted_at is null and (types is null or e.type = any (types))
            and (pos is null or (e.created_at, e.id) > ((pos ->> 't')::timestamptz, (pos ->> 'i')::uuid))
          order by e.created_at, e.id limit lim + 1) x;
  else
    select coalesce(jsonb_agg(item order by created_at, id), '[]') into page_items
    from (select atoms_private.relationship_json(r) as item, r.created_at, r.id
          from public.atoms_relationships r
          where r.workspace_id = ws_id and r.deleted_at is null and (types is null or r.type = any (types))
            and (pos is null or (r.created_at, r.id) > ((pos ->> 't')::timestamptz, (pos ->> 'i')::uuid))
          order by r.created_at, r.id limit lim + 1) x;
  end if;
  page_items := atoms_private.keyset_page(page_items, lim);
  return jsonb_build_object('kind', kind, 'rows', page_items -> 'items', 'next_cursor', page_items -> 'next_cursor');
end
$$;

-- Only the atoms_* API is callable by API roles; helpers stay internal.
revoke execute on all functions in schema public from public, anon;
revoke execute on all functions in schema atoms_private from public, anon;
grant execute on all functions in schema public to authenticated, service_role;
grant execute on all functions in schema atoms_private to authenticated, service_role;
