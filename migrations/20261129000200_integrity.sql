-- Hardening, part 2: integrity the schema itself holds, and indexes for bounded pages.
--
-- Data fix-ups run with row-level security relaxed for the table owner inside this transaction
-- only (a plain, non-superuser owner is otherwise bound by the forced policies too).

-- A run belongs to a workflow of its own workspace: (workspace_id, workflow_id) references the
-- workflow as a pair, so a run can never be filed under another workspace's workflow.
alter table public.atoms_workflows add constraint atoms_workflows_workspace_id_key unique (workspace_id, id);
alter table public.atoms_workflow_runs no force row level security;
-- Only forged rows (written straight into the table before the functions owned every write)
-- can disagree with their workflow's workspace.
delete from public.atoms_workflow_runs r
using public.atoms_workflows w
where w.id = r.workflow_id and w.workspace_id <> r.workspace_id;
alter table public.atoms_workflow_runs force row level security;
alter table public.atoms_workflow_runs drop constraint atoms_workflow_runs_workflow_id_fkey;
alter table public.atoms_workflow_runs add constraint atoms_workflow_runs_workflow_fkey
  foreign key (workspace_id, workflow_id) references public.atoms_workflows (workspace_id, id) on delete cascade;

-- Display names never default to an email any more (fellow members would see it): clear the
-- ones that were copied from the email.
alter table public.atoms_users no force row level security;
update public.atoms_users set display_name = null where display_name = email;
alter table public.atoms_users force row level security;
-- Adding a member by email.
create index atoms_users_email_idx on public.atoms_users (lower(email)) where email is not null;
-- "Has this member acted in this workspace?" (workspace info shows only those by name).
create index atoms_audit_log_actor_workspace_idx on public.atoms_audit_log (actor_id, workspace_id);

-- The transaction that created a row, so an export can pin the set of rows it pages through
-- to the snapshot it started from (rows from before this migration: null = always visible).
alter table public.atoms_entities add column created_xid xid8;
alter table public.atoms_entities alter column created_xid set default pg_current_xact_id();
alter table public.atoms_relationships add column created_xid xid8;
alter table public.atoms_relationships alter column created_xid set default pg_current_xact_id();

-- Typo search inside one workspace: GiST on (workspace, name trigrams) answers the KNN query
-- "nearest names in this workspace" without visiting other workspaces' rows.
create extension if not exists btree_gist;
create index atoms_entities_workspace_name_trgm_idx on public.atoms_entities
  using gist (workspace_id, name gist_trgm_ops) where deleted_at is null;
drop index public.atoms_entities_name_trgm_idx;

-- Keyset pages of an entity's edges and of a workspace's edges, without sorting the whole set.
create index atoms_relationships_source_page_idx on public.atoms_relationships (source_id, created_at, id)
  where deleted_at is null;
create index atoms_relationships_target_page_idx on public.atoms_relationships (target_id, created_at, id)
  where deleted_at is null;
create index atoms_relationships_workspace_page_idx on public.atoms_relationships (workspace_id, created_at, id)
  where deleted_at is null;

-- Keyset pages of a workspace's workflows.
create index atoms_workflows_list_idx on public.atoms_workflows (workspace_id, created_at, id)
  where deleted_at is null;

-- One row per workspace whose membership is being changed: the functions lock it (insert ... on
-- conflict do update) to serialise membership changes of that workspace. API roles cannot
-- reach this table, so nobody can hold the lock from outside a function (an advisory lock
-- key could be taken by any session).
create table atoms_private.membership_locks (
  workspace_id uuid primary key references public.atoms_workspaces (id) on delete cascade
);
