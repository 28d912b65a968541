-- Hardening, part 5: row-level security and privileges for the model of part 1.
--
--   authenticated  EXECUTE on the public atoms_* functions; nothing else (no table privilege,
--                  not even SELECT: EXPLAIN's row estimates would leak other tenants' values
--                  from the planner's statistics; no usage on atoms_private).
--   atoms_api      the functions' owner: reads as the caller may, writes as the domain rules
--                  allow (editors write content, owners manage members and delete workspaces,
--                  anyone may leave); audit rows and runs are only ever inserted.
--
-- atoms_api's policies test membership as `array_position(<caller's workspaces>, workspace_id)
-- is not null`: the functions always narrow by workspace or id themselves, and this form is a
-- plain filter the planner estimates as passing nearly every row. (The indexable
-- `workspace_id = any(…)` multiplies with the function's own `workspace_id = $1` in the
-- planner's estimate, which then expects a handful of rows and picks plans that read a whole
-- large workspace: 150-650 ms reads of a 50,000-edge hub.)

do $$
declare
  t text;
  p record;
begin
  foreach t in array array['atoms_users', 'atoms_workspaces', 'atoms_workspace_members', 'atoms_entities',
                           'atoms_relationships', 'atoms_workflows', 'atoms_workflow_runs', 'atoms_audit_log'] loop
    for p in select policyname from pg_policies where schemaname = 'public' and tablename = t loop
      execute format('drop policy %I on public.%I', p.policyname, t);
    end loop;
  end loop;
end
$$;

-- Users: yourself and the people you share a workspace with.
create policy users_read on public.atoms_users for select to atoms_api
  using (
    external_id = (select atoms_private.caller_sub())
    or exists (
      select 1 from public.atoms_workspace_members theirs
      where theirs.user_id = atoms_users.id
        and array_position((select atoms_private.caller_workspaces('viewer')), theirs.workspace_id) is not null
    )
  );
create policy users_sign_up on public.atoms_users for insert to atoms_api
  with check (external_id = (select atoms_private.caller_sub()));
create policy users_update_self on public.atoms_users for update to atoms_api
  using (external_id = (select atoms_private.caller_sub()))
  with check (external_id = (select atoms_private.caller_sub()));
create policy users_lookup on public.atoms_users for select to atoms_lookup using (true);
create policy users_provision on public.atoms_users for insert to atoms_lookup
  with check (email is null and display_name is null);

-- Workspaces: members read live ones; the creator inserts; owners and editors update.
create policy workspaces_read_api on public.atoms_workspaces for select to atoms_api
  using (array_position((select atoms_private.caller_workspaces('viewer')), id) is not null);
create policy workspaces_create on public.atoms_workspaces for insert to atoms_api
  with check (created_by = atoms_private.current_user_id());
create policy workspaces_update on public.atoms_workspaces for update to atoms_api
  using (deleted_at is null and array_position((select atoms_private.caller_workspaces('editor')), id) is not null)
  with check (array_position((select atoms_private.caller_workspaces('editor')), id) is not null);
create policy workspaces_lookup on public.atoms_workspaces for select to atoms_lookup using (true);

-- Members: visible to fellow members; owners manage; the creator adds the first owner; anyone
-- may remove their own membership (leave).
create policy members_read_api on public.atoms_workspace_members for select to atoms_api
  using (array_position((select atoms_private.caller_workspaces('viewer')), workspace_id) is not null);
create policy members_add on public.atoms_workspace_members for insert to atoms_api
  with check (
    array_position((select atoms_private.caller_workspaces('owner')), workspace_id) is not null
    or (role = 'owner' and user_id = atoms_private.current_user_id()
        and atoms_private.can_bootstrap(workspace_id))
  );
create policy members_change on public.atoms_workspace_members for update to atoms_api
  using (array_position((select atoms_private.caller_workspaces('owner')), workspace_id) is not null)
  with check (array_position((select atoms_private.caller_workspaces('owner')), workspace_id) is not null);
create policy members_remove on public.atoms_workspace_members for delete to atoms_api
  using (array_position((select atoms_private.caller_workspaces('owner')), workspace_id) is not null
         or user_id = atoms_private.current_user_id());
create policy members_lookup on public.atoms_workspace_members for select to atoms_lookup using (true);

-- Entities, relationships, workflows: members read; owners and editors write live rows.
create policy entities_read_api on public.atoms_entities for select to atoms_api
  using (array_position((select atoms_private.caller_workspaces('viewer')), workspace_id) is not null);
create policy entities_create on public.atoms_entities for insert to atoms_api
  with check (array_position((select atoms_private.caller_workspaces('editor')), workspace_id) is not null);
create policy entities_lookup on public.atoms_entities for select to atoms_lookup using (true);
create policy entities_update on public.atoms_entities for update to atoms_api
  using (deleted_at is null and array_position((select atoms_private.caller_workspaces('editor')), workspace_id) is not null)
  with check (array_position((select atoms_private.caller_workspaces('editor')), workspace_id) is not null);

create policy relationships_read_api on public.atoms_relationships for select to atoms_api
  using (array_position((select atoms_private.caller_workspaces('viewer')), workspace_id) is not null);
create policy relationships_create on public.atoms_relationships for insert to atoms_api
  with check (array_position((select atoms_private.caller_workspaces('editor')), workspace_id) is not null);
create policy relationships_update on public.atoms_relationships for update to atoms_api
  using (deleted_at is null and array_position((select atoms_private.caller_workspaces('editor')), workspace_id) is not null)
  with check (array_position((select atoms_private.caller_workspaces('editor')), workspace_id) is not null);

create policy workflows_read_api on public.atoms_workflows for select to atoms_api
  using (array_position((select atoms_private.caller_workspaces('viewer')), workspace_id) is not null);
create policy workflows_create on public.atoms_workflows for insert to atoms_api
  with check (array_position((select atoms_private.caller_workspaces('editor')), workspace_id) is not null);
create policy workflows_update on public.atoms_workflows for update to atoms_api
  using (deleted_at is null and array_position((select atoms_private.caller_workspaces('editor')), workspace_id) is not null)
  with check (array_position((select atoms_private.caller_workspaces('editor')), workspace_id) is not null);

-- Runs: members read; editors execute (runs are never updated).
create policy runs_read_api on public.atoms_workflow_runs for select to atoms_api
  using (array_position((select atoms_private.caller_workspaces('viewer')), workspace_id) is not null);
create policy runs_record on public.atoms_workflow_runs for insert to atoms_api
  with check (array_position((select atoms_private.caller_workspaces('editor')), workspace_id) is not null
              and started_by = atoms_private.current_user_id());

-- Audit: members read their workspace's trail and everyone their own actions; the functions
-- write rows as the caller, never change them.
create policy audit_read on public.atoms_audit_log for select to atoms_api
  using (
    (workspace_id is not null and workspace_id = any ((select atoms_private.caller_workspaces('viewer'))::uuid[]))
    or actor_id = atoms_private.current_user_id()
  );
create policy audit_record on public.atoms_audit_log for insert to atoms_api
  with check (actor_id = atoms_private.current_user_id());

-- Privileges.
revoke all on
  public.atoms_users, public.atoms_workspaces, public.atoms_workspace_members,
  public.atoms_entities, public.atoms_relationships, public.atoms_workflows,
  public.atoms_workflow_runs, public.atoms_audit_log
  from public, anon, authenticated, atoms_api, atoms_lookup;
grant select, insert, update on
  public.atoms_users, public.atoms_workspaces, public.atoms_workspace_members,
  public.atoms_entities, public.atoms_relationships, public.atoms_workflows
  to atoms_api;
grant delete on public.atoms_workspace_members to atoms_api;
grant select, insert on public.atoms_workflow_runs, public.atoms_audit_log to atoms_api;
grant select on public.atoms_users, public.atoms_workspaces, public.atoms_workspace_members,
  public.atoms_entities to atoms_lookup;
grant insert on public.atoms_users to atoms_lookup;
revoke all on sequence public.atoms_audit_log_id_seq from public, anon, authenticated;
grant usage on sequence public.atoms_audit_log_id_seq to atoms_api;

grant select, insert, update on atoms_private.membership_locks to atoms_api;

grant usage on schema public to atoms_api, atoms_lookup;
grant usage on schema atoms_private to atoms_api, atoms_lookup;
revoke usage on schema atoms_private from authenticated;

-- Functions: owners, SECURITY, search_path and EXECUTE grants (part 1).
call atoms_private.seal();
