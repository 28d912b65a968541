-- Workspace operations. Each takes one jsonb argument and returns jsonb; PostgREST calls them
-- as POST /rpc/<name> with the raw JSON body (single unnamed jsonb parameter).

create function atoms_private.workspace_json(w public.atoms_workspaces, role text) returns jsonb
  language sql stable
  set search_path = pg_catalog, public
as $$
  select jsonb_build_object(
    'id', w.id, 'name', w.name, 'description', w.description, 'settings', w.settings,
    'role', role, 'created_at', w.created_at, 'updated_at', w.updated_at)
$$;

-- {} -> the caller's profile; the first call by a new `sub` creates its atoms_users row.
create function public.atoms_user_me(args jsonb) returns jsonb
  language plpgsql
  set search_path = pg_catalog, public
as $$
declare
  uid uuid := atoms_private.require_user();
begin
  return (select jsonb_build_object('id', u.id, 'external_id', u.external_id, 'email', u.email,
            'display_name', u.display_name, 'created_at', u.created_at)
          from public.atoms_users u where u.id = uid);
end
$$;

-- { limit?, cursor? } -> { items: [workspace], next_cursor }
create function public.atoms_workspace_list(args jsonb) returns jsonb
  language plpgsql stable
  set search_path = pg_catalog, public
as $$
declare
  lim integer;
  pos jsonb;
  page_items jsonb;
begin
  args := atoms_private.require_object(args);
  lim := atoms_private.arg_int(args, 'limit', 50, 1, 200);
  pos := atoms_private.decode_cursor(atoms_private.arg_text(args, 'cursor', false, 500));
  with page as (
    select atoms_private.workspace_json(w, m.role) as item, w.created_at, w.id
    from public.atoms_workspaces w
    join public.atoms_workspace_members m on m.workspace_id = w.id
    join public.atoms_users u on u.id = m.user_id and u.external_id = (auth.jwt() ->> 'sub')
    where w.deleted_at is null
      and (pos is null or (w.created_at, w.id) > ((pos ->> 't')::timestamptz, (pos ->> 'i')::uuid))
    order by w.created_at, w.id
    limit lim + 1
  )
  select coalesce(jsonb_agg(p.item order by p.created_at, p.id), '[]') into page_items from page p;
  return atoms_private.keyset_page(page_items, lim);
end
$$;

-- { name, description?, settings? } -> workspace (the caller becomes its owner)
create function public.atoms_workspace_create(args jsonb) returns jsonb
  language plpgsql
  set search_path = pg_catalog, public
as $$
declare
  uid uuid := atoms_private.require_user();
  ws public.atoms_workspaces;
begin
  args := atoms_private.require_object(args);
  ws.id := gen_random_uuid();
  ws.name := btrim(atoms_private.arg_text(args, 'name', true, 200));
  ws.description := coalesce(atoms_private.arg_text(args, 'description', false, 5000), '');
  ws.settings := atoms_private.arg_object(args, 'settings', '{}');
  insert into public.atoms_workspaces (id, name, description, settings, created_by)
  values (ws.id, ws.name, ws.description, ws.settings, uid);
  insert into public.atoms_workspace_members (workspace_id, user_id, role) values (ws.id, uid, 'owner');
  perform atoms_private.audit(ws.id, uid, 'workspace.create', 'workspace', ws.id,
    jsonb_build_object('name', ws.name));
  select * into ws from public.atoms_workspaces where id = ws.id;
  return atoms_private.workspace_json(ws, 'owner');
end
$$;

-- { id } -> workspace
create function public.atoms_workspace_get(args jsonb) returns jsonb
  language plpgsql stable
  set search_path = pg_catalog, public
as $$
declare
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'id');
  role text := atoms_private.require_role(ws_id, 'viewer');
  ws public.atoms_workspaces;
begin
  select * into ws from public.atoms_workspaces where id = ws_id;
  return atoms_private.workspace_json(ws, role);
end
$$;

-- { id, name?, description?, settings? (merged; null removes a key) } -> workspace
create function public.atoms_workspace_update(args jsonb) returns jsonb
  language plpgsql
  set search_path = pg_catalog, public
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
  where w.id = ws_id;
  perform atoms_private.audit(ws_id, uid, 'workspace.update', 'workspace', ws_id,
    jsonb_strip_nulls(jsonb_build_object('name', new_name, 'description_changed', new_description is not null,
      'settings', settings_patch)));
  select * into ws from public.atoms_workspaces where id = ws_id;
  return atoms_private.workspace_json(ws, role);
end
$$;

-- { id } -> { id, deleted: true }   (owner only; soft delete)
create function public.atoms_workspace_delete(args jsonb) returns jsonb
  language plpgsql
  set search_path = pg_catalog, public
as $$
declare
  uid uuid := atoms_private.require_user();
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'id');
begin
  perform atoms_private.require_role(ws_id, 'owner');
  update public.atoms_workspaces set deleted_at = now(), updated_at = now() where id = ws_id;
  perform atoms_private.audit(ws_id, uid, 'workspace.delete', 'workspace', ws_id);
  return jsonb_build_object('id', ws_id, 'deleted', true);
end
$$;

-- { id } -> { workspace, entities_by_type, relationships, members, last_activity_at }
create function public.atoms_workspace_info(args jsonb) returns jsonb
  language plpgsql stable
  set search_path = pg_catalog, public
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
    'members', (
      select coalesce(jsonb_agg(jsonb_build_object(
               'user_id', u.id, 'display_name', u.display_name, 'role', m.role, 'joined_at', m.created_at)
             order by m.created_at), '[]')
      from public.atoms_workspace_members m join public.atoms_users u on u.id = m.user_id
      where m.workspace_id = ws_id),
    'last_activity_at', greatest(
      ws.updated_at,
      (select max(at) from public.atoms_audit_log where workspace_id = ws_id)));
end
$$;

-- { workspace_id, user: <sub>, role: owner|editor|viewer } -> member   (owner only)
-- The user must have signed in once (their atoms_users row exists).
create function public.atoms_workspace_member_set(args jsonb) returns jsonb
  language plpgsql
  set search_path = pg_catalog, public
as $$
declare
  uid uuid := atoms_private.require_user();
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  sub text := atoms_private.arg_text(args, 'user', true, 255);
  new_role text := atoms_private.arg_text(args, 'role', true, 10);
  member_id uuid;
begin
  perform atoms_private.require_role(ws_id, 'owner');
  if new_role not in ('owner', 'editor', 'viewer') then
    perform atoms_private.fail('invalid_argument', 'role must be owner, editor or viewer');
  end if;
  member_id := atoms_private.user_id_of(sub);
  if member_id is null then
    perform atoms_private.fail('failed_precondition', 'that user has not signed in to Atoms yet');
  end if;
  if member_id = uid and new_role <> 'owner' then
    perform atoms_private.fail('failed_precondition', 'an owner cannot demote themselves; make another owner first');
  end if;
  insert into public.atoms_workspace_members (workspace_id, user_id, role) values (ws_id, member_id, new_role)
  on conflict (workspace_id, user_id) do update set role = excluded.role;
  perform atoms_private.audit(ws_id, uid, 'workspace.member_set', 'user', member_id,
    jsonb_build_object('role', new_role));
  return jsonb_build_object('workspace_id', ws_id, 'user_id', member_id, 'role', new_role);
end
$$;

-- { workspace_id, user: <sub> } -> { removed: true }   (owner only; not yourself)
create function public.atoms_workspace_member_remove(args jsonb) returns jsonb
  language plpgsql
  set search_path = pg_catalog, public
as $$
declare
  uid uuid := atoms_private.require_user();
  ws_id uuid := atoms_private.arg_uuid(atoms_private.require_object(args), 'workspace_id');
  member_id uuid := atoms_private.user_id_of(atoms_private.arg_text(args, 'user', true, 255));
begin
  perform atoms_private.require_role(ws_id, 'owner');
  if member_id = uid then
    perform atoms_private.fail('failed_precondition', 'an owner cannot remove themselves');
  end if;
  delete from public.atoms_workspace_members where workspace_id = ws_id and user_id = member_id;
  if not found then
    perform atoms_private.fail('not_found', 'that user is not a member of this workspace');
  end if;
  perform atoms_private.audit(ws_id, uid, 'workspace.member_remove', 'user', member_id);
  return jsonb_build_object('workspace_id', ws_id, 'user_id', member_id, 'removed', true);
end
$$;
