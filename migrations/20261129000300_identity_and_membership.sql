-- Hardening, part 3: identity and membership helpers on atoms_private.caller_sub(), membership
-- changes that reveal nothing and keep an owner, and cursors that fail as invalid_argument.
-- (SECURITY, owner and search_path come from atoms_private.seal(), called in part 5.)

-- The caller's user id, or null when the caller has no atoms_users row yet. (atoms_lookup)
create or replace function atoms_private.current_user_id() returns uuid
  language sql stable
as $$
  select u.id from public.atoms_users u where u.external_id = (select atoms_private.caller_sub())
$$;

-- The caller's role in a live workspace, or null (not a member, deleted, or absent). (atoms_lookup)
create or replace function atoms_private.member_role(workspace uuid) returns text
  language sql stable
as $$
  select m.role
  from public.atoms_workspace_members m
  join public.atoms_workspaces w on w.id = m.workspace_id and w.deleted_at is null
  where m.workspace_id = workspace and m.user_id = atoms_private.current_user_id()
$$;

-- The live workspaces where the caller holds at least `minimum` (viewer < editor < owner).
-- Policies wrap it in a scalar subquery (one InitPlan per statement). (atoms_lookup)
create or replace function atoms_private.caller_workspaces(minimum text) returns uuid[]
  language sql stable
as $$
  select coalesce(pg_catalog.array_agg(m.workspace_id), '{}'::uuid[])
  from public.atoms_workspace_members m
  join public.atoms_workspaces w on w.id = m.workspace_id and w.deleted_at is null
  where m.user_id = atoms_private.current_user_id()
    and case minimum when 'owner' then m.role = 'owner'
                     when 'editor' then m.role in ('owner', 'editor')
                     else true end
$$;

-- True while the caller created `workspace` and nobody is a member yet. (atoms_lookup)
create or replace function atoms_private.can_bootstrap(workspace uuid) returns boolean
  language sql stable
as $$
  select exists (
    select 1 from public.atoms_workspaces w
    where w.id = workspace and w.created_by = atoms_private.current_user_id()
      and not exists (select 1 from public.atoms_workspace_members m where m.workspace_id = w.id)
  )
$$;

-- The user id of a subject, or null. Only atoms_api may call it. (atoms_lookup)
create or replace function atoms_private.user_id_of(sub text) returns uuid
  language sql stable
as $$
  select u.id from public.atoms_users u where u.external_id = sub
$$;

-- Up to two user ids whose email is `address` (case-insensitive). (atoms_lookup)
create function atoms_private.users_with_email(address text) returns uuid[]
  language sql stable
as $$
  select coalesce(pg_catalog.array_agg(x.id), '{}'::uuid[]) from (
    select u.id from public.atoms_users u
    where lower(u.email) = lower(address) and u.email is not null
    order by u.created_at limit 2) x
$$;

-- The user id of a subject, creating a bare row (no email, no name) when it has never signed
-- in: adding someone by subject reveals nothing about whether they exist. (atoms_lookup)
create function atoms_private.provision_user(sub text) returns uuid
  language plpgsql
as $$
declare
  uid uuid;
begin
  insert into public.atoms_users (external_id) values (sub) on conflict (external_id) do nothing;
  select u.id into uid from public.atoms_users u where u.external_id = sub;
  return uid;
end
$$;

-- The caller's user id; the first call by a new `sub` creates its row, and a row provisioned
-- by someone who added this subject to a workspace gets the caller's email and name.
create or replace function atoms_private.require_user() returns uuid
  language plpgsql
as $$
declare
  claims jsonb := atoms_private.claims();
  sub text := nullif(claims ->> 'sub', '');
  uid uuid;
  known_email text;
  known_name text;
begin
  if sub is null then
    perform atoms_private.fail('unauthenticated', 'the request carries no user identity (sub)');
  end if;
  -- A REPEATABLE READ snapshot taken before a concurrent membership change would let a demoted
  -- member act on stale rights (READ COMMITTED re-reads; SERIALIZABLE aborts the conflict).
  if pg_catalog.current_setting('transaction_isolation') = 'repeatable read' then
    perform atoms_private.fail('failed_precondition', 'Atoms operations run at READ COMMITTED or SERIALIZABLE isolation');
  end if;
  if length(sub) > 255 then
    perform atoms_private.fail('unauthenticated', 'the user identity (sub) is longer than 255 characters');
  end if;
  select u.id, u.email, u.display_name into uid, known_email, known_name
  from public.atoms_users u where u.external_id = sub;
  if uid is null then
    insert into public.atoms_users (external_id, email, display_name)
    values (sub, left(claims ->> 'email', 320), left(claims ->> 'name', 200))
    on conflict (external_id) do nothing;
    select u.id into uid from public.atoms_users u where u.external_id = sub;
  elsif (known_email is null and claims ->> 'email' is not null)
     or (known_name is null and claims ->> 'name' is not null) then
    update public.atoms_users set
      email = coalesce(email, left(claims ->> 'email', 320)),
      display_name = coalesce(display_name, left(claims ->> 'name', 200))
    where id = uid;
  end if;
  return uid;
end
$$;

-- A JSON object decoded from an opaque cursor, or null; anything else is invalid_argument.
create or replace function atoms_private.decode_cursor(token text) returns jsonb
  language plpgsql immutable
as $$
declare
  padded text;
  decoded jsonb;
begin
  if token is null then
    return null;
  end if;
  begin
    padded := translate(token, '-_', '+/');
    padded := padded || repeat('=', (4 - length(padded) % 4) % 4);
    decoded := convert_from(decode(padded, 'base64'), 'UTF8')::jsonb;
  exception when others then
    decoded := null;
  end;
  if decoded is null or jsonb_typeof(decoded) <> 'object' then
    perform atoms_private.fail('invalid_argument', 'cursor is not one this server issued');
  end if;
  return decoded;
end
$$;

-- The (created_at, id) position of a keyset cursor; both null without a cursor.
create function atoms_private.keyset_position(token text, out t timestamptz, out i uuid)
  language plpgsql stable
as $$
declare
  pos jsonb := atoms_private.decode_cursor(token);
begin
  if pos is null then
    return;
  end if;
  begin
    t := (pos ->> 't')::timestamptz;
    i := (pos ->> 'i')::uuid;
  exception when others then
    t := null;
  end;
  if t is null or i is null then
    perform atoms_private.fail('invalid_argument', 'cursor is not one this server issued');
  end if;
end
$$;

-- Serialises membership changes of one workspace until commit (any member may leave, so no
-- lock that needs editor rights): two owners demoting each other one after the other, never at
-- once. Under REPEATABLE READ a concurrent change makes this fail (40001) instead of working on
-- a stale snapshot.
create function atoms_private.lock_membership(workspace uuid) returns void
  language sql
as $$
  insert into atoms_private.membership_locks (workspace_id) values (workspace)
  on conflict (workspace_id) do update set workspace_id = excluded.workspace_id
$$;

-- Fails unless the workspace still has an owner (checked after a change, before commit; as
-- atoms_lookup, which sees every membership even after the caller left).
create function atoms_private.require_an_owner(workspace uuid, action text) returns void
  language plpgsql
as $$
begin
  if not exists (select 1 from public.atoms_workspace_members m
                 where m.workspace_id = workspace and m.role = 'owner') then
    perform atoms_private.fail('failed_precondition',
      format('%s would leave the workspace without an owner: make another member owner first', action));
  end if;
end
$$;

-- The member a membership call names: `user_id` (the sign-in subject), `user_email` (someone
-- who has signed in with it) or `member_id` (a current member's id, as workspace info lists it).
-- `provision`: create a bare user for a subject that never signed in.
create function atoms_private.resolve_member(workspace uuid, args jsonb, provision boolean) returns uuid
  language plpgsql
as $$
declare
  sub text := atoms_private.arg_text(args, 'user_id', false, 255);
  address text := atoms_private.arg_text(args, 'user_email', false, 320);
  member uuid := atoms_private.arg_uuid(args, 'member_id', false);
  matches uuid[];
begin
  if (sub is not null)::int + (address is not null)::int + (member is not null)::int <> 1 then
    perform atoms_private.fail('invalid_argument',
      'give exactly one of user_id (the sign-in subject), user_email or member_id');
  end if;
  if member is not null then
    if not exists (select 1 from public.atoms_workspace_members m
                   where m.workspace_id = workspace and m.user_id = member) then
      perform atoms_private.fail('not_found', 'that person is not a member of this workspace');
    end if;
    return member;
  end if;
  if sub is not null then
    if btrim(sub) = '' then
      perform atoms_private.fail('invalid_argument', 'user_id must not be empty');
    end if;
    if provision then
      return atoms_private.provision_user(sub);
    end if;
    return atoms_private.user_id_of(sub);
  end if;
  if not provision then
    -- Removal: only this workspace's members can be named, so nothing is learned about others.
    select array_agg(m.user_id) into matches
    from public.atoms_workspace_members m join public.atoms_users u on u.id = m.user_id
    where m.workspace_id = workspace and lower(u.email) = lower(address);
    if cardinality(matches) > 1 then
      perform atoms_private.fail('failed_precondition',
        'more than one member of this workspace uses that email: remove the person by member_id');
    end if;
    return matches[1];
  end if;
  matches := atoms_private.users_with_email(address);
  if cardinality(matches) > 1 then
    perform atoms_private.fail('failed_precondition',
      'more than one Atoms account uses that email: add the person by user_id instead');
  end if;
  if cardinality(matches) = 0 then
    perform atoms_private.fail('not_found',
      'nobody has signed in to Atoms with that email yet: ask them to sign in once, then add them again (or add them by user_id)');
  end if;
  return matches[1];
end
$$;

-- { workspace_id, user_id | user_email | member_id, role: owner|editor|viewer } -> member   (owners only)
-- Adding by user_id works before that person ever signed in; adding by user_email needs them
-- to have signed in with it. The answer carries only what the caller supplied plus the role:
-- never the other person's email, subject or member id.
create or replace function public.atoms_workspace_member_set(args jsonb) returns jsonb
  language plpgsql
as $$
declare
  uid uuid := atoms_private.require_user();
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  new_role text := atoms_private.arg_text(args, 'role', true, 10);
  member_id uuid;
begin
  perform atoms_private.require_role(ws_id, 'viewer');
  perform atoms_private.lock_membership(ws_id);
  perform atoms_private.require_role(ws_id, 'owner');
  if new_role not in ('owner', 'editor', 'viewer') then
    perform atoms_private.fail('invalid_argument', 'role must be owner, editor or viewer');
  end if;
  member_id := atoms_private.resolve_member(ws_id, args, true);
  insert into public.atoms_workspace_members (workspace_id, user_id, role) values (ws_id, member_id, new_role)
  on conflict (workspace_id, user_id) do update set role = excluded.role;
  perform atoms_private.require_an_owner(ws_id, 'this change');
  perform atoms_private.audit(ws_id, uid, 'workspace.member_set', 'user', member_id,
    jsonb_build_object('role', new_role));
  return jsonb_strip_nulls(jsonb_build_object('workspace_id', ws_id, 'user_id', args ->> 'user_id',
    'user_email', args ->> 'user_email', 'member_id', args ->> 'member_id', 'role', new_role));
end
$$;

-- { workspace_id, user_id | user_email | member_id } -> { removed: true }
-- Owners remove anyone; every member may remove themselves (leave). The last owner stays.
create or replace function public.atoms_workspace_member_remove(args jsonb) returns jsonb
  language plpgsql
as $$
declare
  uid uuid := atoms_private.require_user();
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  member_id uuid;
begin
  perform atoms_private.require_role(ws_id, 'viewer');
  perform atoms_private.lock_membership(ws_id);
  member_id := atoms_private.resolve_member(ws_id, args, false);
  if member_id is distinct from uid then
    perform atoms_private.require_role(ws_id, 'owner');
  else
    perform atoms_private.require_role(ws_id, 'viewer');
  end if;
  delete from public.atoms_workspace_members where workspace_id = ws_id and user_id = member_id;
  if not found then
    perform atoms_private.fail('not_found', 'that person is not a member of this workspace');
  end if;
  perform atoms_private.require_an_owner(ws_id, case when member_id = uid then 'leaving' else 'this removal' end);
  perform atoms_private.audit(ws_id, uid,
    case when member_id = uid then 'workspace.member_leave' else 'workspace.member_remove' end,
    'user', member_id);
  return jsonb_strip_nulls(jsonb_build_object('workspace_id', ws_id, 'user_id', args ->> 'user_id',
    'user_email', args ->> 'user_email', 'member_id', args ->> 'member_id', 'removed', true));
end
$$;

-- { limit?, cursor? } -> { items: [workspace], next_cursor }
create or replace function public.atoms_workspace_list(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  lim integer;
  pos record;
  page_items jsonb;
begin
  args := atoms_private.require_object(args);
  lim := atoms_private.arg_int(args, 'limit', 50, 1, 200);
  pos := atoms_private.keyset_position(atoms_private.arg_text(args, 'cursor', false, 500));
  with page as (
    select atoms_private.workspace_json(w, m.role) as item, w.created_at, w.id
    from public.atoms_workspaces w
    join public.atoms_workspace_members m on m.workspace_id = w.id
    where m.user_id = atoms_private.current_user_id() and w.deleted_at is null
      and (pos.t is null or (w.created_at, w.id) > (pos.t, pos.i))
    order by w.created_at, w.id
    limit lim + 1
  )
  select coalesce(jsonb_agg(p.item order by p.created_at, p.id), '[]') into page_items from page p;
  return atoms_private.keyset_page(page_items, lim);
end
$$;

-- { id, name?, description?, settings? (merged; null removes a key) } -> workspace
create or replace function public.atoms_workspace_update(args jsonb) returns jsonb
  language plpgsql
as $$
declare
  uid uuid := atoms_private.require_user();
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'id');
  role text := atoms_private.require_role(ws_id, 'editor');
  new_name text := btrim(atoms_private.arg_text(args, 'name', false, 200));
  new_description text := atoms_private.arg_text(args, 'description', false, 5000);
  settings_patch jsonb := atoms_private.arg_object(args, 'settings');
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
      'settings', settings_patch)));
  return atoms_private.workspace_json(ws, role);
end
$$;

-- { id } -> { id, deleted: true }   (owner only; soft delete)
create or replace function public.atoms_workspace_delete(args jsonb) returns jsonb
  language plpgsql
as $$
declare
  uid uuid := atoms_private.require_user();
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'id');
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

-- { id } -> { workspace, entities_by_type, relationships, members, last_activity_at }
-- Members are listed by member id, name and role (those who have not acted here yet by role
-- only): never their email or sign-in subject.
create or replace function public.atoms_workspace_info(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'id');
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
