-- Row-level security on every atoms_ table, forced (the table owner is subject to it too).
-- Policies key on auth.jwt() ->> 'sub' through atoms_private helpers and on workspace
-- membership. `service_role` bypasses RLS, as on Supabase; `anon` gets nothing.
-- The atoms_* functions check roles themselves to give precise errors; these policies are the
-- last line of defence for any other path to the tables (e.g. PostgREST table endpoints).
--
-- Membership is the security boundary; soft deletion is not. SELECT policies deliberately do not
-- filter `deleted_at`: Postgres checks an UPDATE's new row against the SELECT policies, so a
-- policy hiding deleted rows would forbid the soft delete itself. The atoms_* functions never
-- return soft-deleted rows; a deleted workspace hides everything in it (caller_workspaces lists
-- live workspaces only).

alter table public.atoms_users enable row level security;
alter table public.atoms_users force row level security;
alter table public.atoms_workspaces enable row level security;
alter table public.atoms_workspaces force row level security;
alter table public.atoms_workspace_members enable row level security;
alter table public.atoms_workspace_members force row level security;
alter table public.atoms_entities enable row level security;
alter table public.atoms_entities force row level security;
alter table public.atoms_relationships enable row level security;
alter table public.atoms_relationships force row level security;
alter table public.atoms_workflows enable row level security;
alter table public.atoms_workflows force row level security;
alter table public.atoms_workflow_runs enable row level security;
alter table public.atoms_workflow_runs force row level security;
alter table public.atoms_audit_log enable row level security;
alter table public.atoms_audit_log force row level security;

-- Users: yourself, and the people you share a workspace with.
create policy atoms_users_select on public.atoms_users for select to authenticated
  using (
    external_id = (auth.jwt() ->> 'sub')
    or exists (
      select 1 from public.atoms_workspace_members theirs
      where theirs.user_id = atoms_users.id
        and theirs.workspace_id = any ((select atoms_private.caller_workspaces('viewer'))::uuid[])
    )
  );
create policy atoms_users_insert on public.atoms_users for insert to authenticated
  with check (external_id = (auth.jwt() ->> 'sub'));
create policy atoms_users_update on public.atoms_users for update to authenticated
  using (external_id = (auth.jwt() ->> 'sub'))
  with check (external_id = (auth.jwt() ->> 'sub'));

-- Workspaces: members see live ones; the creator inserts; owners and editors update.
create policy atoms_workspaces_select on public.atoms_workspaces for select to authenticated
  using (id = any ((select atoms_private.caller_workspaces('viewer'))::uuid[]));
create policy atoms_workspaces_insert on public.atoms_workspaces for insert to authenticated
  with check (created_by = atoms_private.current_user_id());
create policy atoms_workspaces_update on public.atoms_workspaces for update to authenticated
  using (deleted_at is null and id = any ((select atoms_private.caller_workspaces('editor'))::uuid[]))
  with check (id = any ((select atoms_private.caller_workspaces('editor'))::uuid[]));

-- Members: visible to fellow members; owners manage; the creator adds the first owner.
create policy atoms_members_select on public.atoms_workspace_members for select to authenticated
  using (workspace_id = any ((select atoms_private.caller_workspaces('viewer'))::uuid[]));
create policy atoms_members_insert on public.atoms_workspace_members for insert to authenticated
  with check (
    workspace_id = any ((select atoms_private.caller_workspaces('owner'))::uuid[])
    or (role = 'owner' and user_id = atoms_private.current_user_id()
        and atoms_private.can_bootstrap(workspace_id))
  );
create policy atoms_members_update on public.atoms_workspace_members for update to authenticated
  using (workspace_id = any ((select atoms_private.caller_workspaces('owner'))::uuid[]))
  with check (workspace_id = any ((select atoms_private.caller_workspaces('owner'))::uuid[]));
create policy atoms_members_delete on public.atoms_workspace_members for delete to authenticated
  using (workspace_id = any ((select atoms_private.caller_workspaces('owner'))::uuid[]));

-- Entities, relationships, workflows: members read live rows; owners and editors write.
create policy atoms_entities_select on public.atoms_entities for select to authenticated
  using (workspace_id = any ((select atoms_private.caller_workspaces('viewer'))::uuid[]));
create policy atoms_entities_insert on public.atoms_entities for insert to authenticated
  with check (workspace_id = any ((select atoms_private.caller_workspaces('editor'))::uuid[]));
create policy atoms_entities_update on public.atoms_entities for update to authenticated
  using (deleted_at is null and workspace_id = any ((select atoms_private.caller_workspaces('editor'))::uuid[]))
  with check (workspace_id = any ((select atoms_private.caller_workspaces('editor'))::uuid[]));

create policy atoms_relationships_select on public.atoms_relationships for select to authenticated
  using (workspace_id = any ((select atoms_private.caller_workspaces('viewer'))::uuid[]));
create policy atoms_relationships_insert on public.atoms_relationships for insert to authenticated
  with check (workspace_id = any ((select atoms_private.caller_workspaces('editor'))::uuid[]));
create policy atoms_relationships_update on public.atoms_relationships for update to authenticated
  using (deleted_at is null and workspace_id = any ((select atoms_private.caller_workspaces('editor'))::uuid[]))
  with check (workspace_id = any ((select atoms_private.caller_workspaces('editor'))::uuid[]));

create policy atoms_workflows_select on public.atoms_workflows for select to authenticated
  using (workspace_id = any ((select atoms_private.caller_workspaces('viewer'))::uuid[]));
create policy atoms_workflows_insert on public.atoms_workflows for insert to authenticated
  with check (workspace_id = any ((select atoms_private.caller_workspaces('editor'))::uuid[]));
create policy atoms_workflows_update on public.atoms_workflows for update to authenticated
  using (deleted_at is null and workspace_id = any ((select atoms_private.caller_workspaces('editor'))::uuid[]))
  with check (workspace_id = any ((select atoms_private.caller_workspaces('editor'))::uuid[]));

-- Runs: members read; owners and editors execute (runs are never updated).
create policy atoms_runs_select on public.atoms_workflow_runs for select to authenticated
  using (workspace_id = any ((select atoms_private.caller_workspaces('viewer'))::uuid[]));
create policy atoms_runs_insert on public.atoms_workflow_runs for insert to authenticated
  with check (workspace_id = any ((select atoms_private.caller_workspaces('editor'))::uuid[])
              and started_by = atoms_private.current_user_id());

-- Audit: members read their workspace's trail; rows are written as yourself, never changed.
create policy atoms_audit_select on public.atoms_audit_log for select to authenticated
  using (
    (workspace_id is not null and workspace_id = any ((select atoms_private.caller_workspaces('viewer'))::uuid[]))
    or actor_id = atoms_private.current_user_id()
  );
create policy atoms_audit_insert on public.atoms_audit_log for insert to authenticated
  with check (actor_id = atoms_private.current_user_id());

-- Privileges: authenticated reads and writes through the policies above (no DELETE: rows are
-- soft-deleted, except memberships); service_role has everything; anon has nothing.
revoke all on all tables in schema public from anon;
grant select, insert, update on
  public.atoms_users, public.atoms_workspaces, public.atoms_workspace_members,
  public.atoms_entities, public.atoms_relationships, public.atoms_workflows,
  public.atoms_workflow_runs, public.atoms_audit_log
  to authenticated;
grant delete on public.atoms_workspace_members to authenticated;
revoke update on public.atoms_audit_log, public.atoms_workflow_runs from authenticated;
grant all on
  public.atoms_users, public.atoms_workspaces, public.atoms_workspace_members,
  public.atoms_entities, public.atoms_relationships, public.atoms_workflows,
  public.atoms_workflow_runs, public.atoms_audit_log
  to service_role;
grant usage on all sequences in schema public to authenticated, service_role;
