-- Internal helpers in a schema PostgREST does not expose: identity, membership, argument
-- parsing, errors and audit. The public atoms_* functions are built from these.
--
-- Errors use SQLSTATEs PostgREST turns into HTTP statuses (PTxxx -> xxx); DETAIL carries the
-- stable code the library maps to MCP tool error codes:
--   PT400 invalid_argument, PT401 unauthenticated, PT403 permission_denied,
--   PT404 not_found, PT409 conflict, PT412 failed_precondition.

create schema if not exists atoms_private;
grant usage on schema atoms_private to authenticated, service_role;

create function atoms_private.fail(code text, message text) returns void
  language plpgsql immutable
  set search_path = pg_catalog
as $$
begin
  raise exception using
    errcode = case code
      when 'invalid_argument' then 'PT400'
      when 'unauthenticated' then 'PT401'
      when 'permission_denied' then 'PT403'
      when 'not_found' then 'PT404'
      when 'conflict' then 'PT409'
      when 'failed_precondition' then 'PT412'
      else 'PT500'
    end,
    message = message,
    detail = code;
end
$$;

-- The caller's user id, or null when the caller has no atoms_users row yet.
-- SECURITY DEFINER so that RLS policies can call it without recursing into atoms_users' policy.
create function atoms_private.current_user_id() returns uuid
  language sql stable security definer
  set search_path = pg_catalog, public
as $$
  select id from public.atoms_users where external_id = (auth.jwt() ->> 'sub')
$$;

-- The caller's role in a live workspace, or null (not a member, deleted, or absent).
create function atoms_private.member_role(workspace uuid) returns text
  language sql stable security definer
  set search_path = pg_catalog, public
as $$
  select m.role
  from public.atoms_workspace_members m
  join public.atoms_workspaces w on w.id = m.workspace_id and w.deleted_at is null
  join public.atoms_users u on u.id = m.user_id
  where m.workspace_id = workspace and u.external_id = (auth.jwt() ->> 'sub')
$$;

-- The user id of an external id (`sub`), for owners adding members. SECURITY DEFINER because
-- the users policy only shows people you already share a workspace with.
create function atoms_private.user_id_of(sub text) returns uuid
  language sql stable security definer
  set search_path = pg_catalog, public
as $$
  select id from public.atoms_users where external_id = sub
$$;

-- The live workspaces where the caller holds at least `minimum` (viewer < editor < owner).
-- RLS policies compare against this array wrapped in a scalar subquery, so Postgres evaluates
-- it once per statement (an InitPlan) instead of once per row.
create function atoms_private.caller_workspaces(minimum text) returns uuid[]
  language sql stable security definer
  set search_path = pg_catalog, public
as $$
  select coalesce(array_agg(m.workspace_id), '{}')
  from public.atoms_workspace_members m
  join public.atoms_workspaces w on w.id = m.workspace_id and w.deleted_at is null
  join public.atoms_users u on u.id = m.user_id
  where u.external_id = (auth.jwt() ->> 'sub')
    and case minimum when 'owner' then m.role = 'owner'
                     when 'editor' then m.role in ('owner', 'editor')
                     else true end
$$;

-- True while the caller created `workspace` and nobody is a member yet: lets the creator
-- insert the first (owner) membership row.
create function atoms_private.can_bootstrap(workspace uuid) returns boolean
  language sql stable security definer
  set search_path = pg_catalog, public
as $$
  select exists (
    select 1 from public.atoms_workspaces w
    join public.atoms_users u on u.id = w.created_by
    where w.id = workspace and u.external_id = (auth.jwt() ->> 'sub')
      and not exists (select 1 from public.atoms_workspace_members m where m.workspace_id = w.id)
  )
$$;

-- The caller's user id; the first call by a new `sub` creates its atoms_users row.
create function atoms_private.require_user() returns uuid
  language plpgsql
  set search_path = pg_catalog, public
as $$
declare
  claims jsonb := auth.jwt();
  sub text := claims ->> 'sub';
  uid uuid;
begin
  if sub is null or length(sub) = 0 then
    perform atoms_private.fail('unauthenticated', 'the request carries no user identity (sub)');
  end if;
  select id into uid from public.atoms_users where external_id = sub;
  if uid is null then
    uid := gen_random_uuid();
    insert into public.atoms_users (id, external_id, email, display_name)
    values (uid, sub, left(claims ->> 'email', 320), left(coalesce(claims ->> 'name', claims ->> 'email'), 200))
    on conflict (external_id) do nothing;
    select id into uid from public.atoms_users where external_id = sub;
  end if;
  return uid;
end
$$;

-- Requires the caller to hold at least `minimum` (viewer < editor < owner) in `workspace`.
-- Non-members get not_found, exactly like a workspace that does not exist: existence is never
-- revealed to outsiders.
create function atoms_private.require_role(workspace uuid, minimum text) returns text
  language plpgsql stable
  set search_path = pg_catalog, public
as $$
declare
  actual text := atoms_private.member_role(workspace);
  rank_of constant jsonb := '{"viewer": 1, "editor": 2, "owner": 3}';
begin
  if actual is null then
    perform atoms_private.fail('not_found', 'workspace not found');
  end if;
  if (rank_of ->> actual)::int < (rank_of ->> minimum)::int then
    perform atoms_private.fail('permission_denied',
      format('this needs the %s role in the workspace; you are %s', minimum, actual));
  end if;
  return actual;
end
$$;

create function atoms_private.request_id() returns text
  language sql stable
  set search_path = pg_catalog
as $$
  select left(nullif(current_setting('request.headers', true), '')::jsonb ->> 'x-request-id', 200)
$$;

create function atoms_private.audit(
  workspace uuid, actor uuid, action text, target_type text, target uuid, details jsonb default '{}'
) returns void
  language sql
  set search_path = pg_catalog, public
as $$
  insert into public.atoms_audit_log (workspace_id, actor_id, action, target_type, target_id, request_id, details)
  values (workspace, actor, action, target_type, target, atoms_private.request_id(), coalesce(details, '{}'))
$$;

-- Argument readers: each raises invalid_argument naming the argument.

create function atoms_private.require_object(args jsonb) returns jsonb
  language plpgsql immutable
  set search_path = pg_catalog
as $$
begin
  if args is null or jsonb_typeof(args) <> 'object' then
    perform atoms_private.fail('invalid_argument', 'arguments must be a JSON object');
  end if;
  return args;
end
$$;

create function atoms_private.arg_uuid(args jsonb, key text, required boolean default true) returns uuid
  language plpgsql immutable
  set search_path = pg_catalog
as $$
declare
  raw jsonb := args -> key;
begin
  if raw is null or raw = 'null' then
    if required then
      perform atoms_private.fail('invalid_argument', format('%s is required', key));
    end if;
    return null;
  end if;
  if jsonb_typeof(raw) <> 'string'
     or (raw #>> '{}') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    perform atoms_private.fail('invalid_argument', format('%s must be a UUID string', key));
  end if;
  return (raw #>> '{}')::uuid;
end
$$;

create function atoms_private.arg_text(
  args jsonb, key text, required boolean default true, max_length integer default 500
) returns text
  language plpgsql immutable
  set search_path = pg_catalog
as $$
declare
  raw jsonb := args -> key;
  value text;
begin
  if raw is null or raw = 'null' then
    if required then
      perform atoms_private.fail('invalid_argument', format('%s is required', key));
    end if;
    return null;
  end if;
  if jsonb_typeof(raw) <> 'string' then
    perform atoms_private.fail('invalid_argument', format('%s must be a string', key));
  end if;
  value := raw #>> '{}';
  if required and length(btrim(value)) = 0 then
    perform atoms_private.fail('invalid_argument', format('%s must not be empty', key));
  end if;
  if length(value) > max_length then
    perform atoms_private.fail('invalid_argument', format('%s is longer than %s characters', key, max_length));
  end if;
  return value;
end
$$;

create function atoms_private.arg_int(
  args jsonb, key text, default_value integer, min_value integer, max_value integer
) returns integer
  language plpgsql immutable
  set search_path = pg_catalog
as $$
declare
  raw jsonb := args -> key;
  value numeric;
begin
  if raw is null or raw = 'null' then
    return default_value;
  end if;
  if jsonb_typeof(raw) <> 'number' then
    perform atoms_private.fail('invalid_argument', format('%s must be a number', key));
  end if;
  value := raw::text::numeric;
  if value <> trunc(value) or value < min_value or value > max_value then
    perform atoms_private.fail('invalid_argument',
      format('%s must be a whole number between %s and %s', key, min_value, max_value));
  end if;
  return value::integer;
end
$$;

create function atoms_private.arg_bool(args jsonb, key text, default_value boolean) returns boolean
  language plpgsql immutable
  set search_path = pg_catalog
as $$
declare
  raw jsonb := args -> key;
begin
  if raw is null or raw = 'null' then
    return default_value;
  end if;
  if jsonb_typeof(raw) <> 'boolean' then
    perform atoms_private.fail('invalid_argument', format('%s must be true or false', key));
  end if;
  return raw::text::boolean;
end
$$;

create function atoms_private.arg_object(args jsonb, key text, default_value jsonb default null) returns jsonb
  language plpgsql immutable
  set search_path = pg_catalog
as $$
declare
  raw jsonb := args -> key;
begin
  if raw is null or raw = 'null' then
    return default_value;
  end if;
  if jsonb_typeof(raw) <> 'object' then
    perform atoms_private.fail('invalid_argument', format('%s must be a JSON object', key));
  end if;
  return raw;
end
$$;

create function atoms_private.arg_type(args jsonb, key text, required boolean default true) returns text
  language plpgsql immutable
  set search_path = pg_catalog
as $$
declare
  value text := atoms_private.arg_text(args, key, required, 63);
begin
  if value is not null and value !~ '^[a-z][a-z0-9_]{0,62}$' then
    perform atoms_private.fail('invalid_argument',
      format('%s must be a lowercase identifier (a-z, 0-9, _; starting with a letter)', key));
  end if;
  return value;
end
$$;

create function atoms_private.arg_timestamp(args jsonb, key text) returns timestamptz
  language plpgsql stable
  set search_path = pg_catalog
as $$
declare
  raw text := atoms_private.arg_text(args, key, false, 64);
begin
  if raw is null then
    return null;
  end if;
  begin
    return raw::timestamptz;
  exception when others then
    perform atoms_private.fail('invalid_argument', format('%s must be an ISO 8601 timestamp', key));
  end;
end
$$;

-- Opaque keyset cursors: base64 of a small JSON object.
create function atoms_private.encode_cursor(pos jsonb) returns text
  language sql immutable
  set search_path = pg_catalog
as $$
  select translate(encode(convert_to(pos::text, 'UTF8'), 'base64'), E'+/\n=', '-_')
$$;

create function atoms_private.decode_cursor(token text) returns jsonb
  language plpgsql immutable
  set search_path = pg_catalog
as $$
declare
  padded text;
begin
  if token is null then
    return null;
  end if;
  padded := translate(token, '-_', '+/');
  padded := padded || repeat('=', (4 - length(padded) % 4) % 4);
  return convert_from(decode(padded, 'base64'), 'UTF8')::jsonb;
exception when others then
  perform atoms_private.fail('invalid_argument', 'cursor is not one this server issued');
  return null;
end
$$;

-- A keyset page: `page_rows` holds the first limit + 1 rows of an ordered query (JSON objects
-- with created_at and id); the extra row only tells that more exist. -> { items, next_cursor }
create function atoms_private.keyset_page(page_rows jsonb, lim integer) returns jsonb
  language sql immutable
  set search_path = pg_catalog
as $$
  select case when jsonb_array_length(page_rows) > lim then
      jsonb_build_object('items', page_rows - lim, 'next_cursor', atoms_private.encode_cursor(
        jsonb_build_object('t', page_rows -> (lim - 1) ->> 'created_at', 'i', page_rows -> (lim - 1) ->> 'id')))
    else jsonb_build_object('items', page_rows, 'next_cursor', null)
  end
$$;

-- Merge-patch of metadata: keys in `patch` replace, keys set to null are removed.
create function atoms_private.merge_metadata(base jsonb, patch jsonb) returns jsonb
  language sql immutable
  set search_path = pg_catalog
as $$
  select (base || patch) - coalesce(
    (select array_agg(key) from jsonb_each(patch) where value = 'null'::jsonb), '{}'::text[])
$$;
