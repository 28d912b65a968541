-- The Atoms knowledge graph: users, workspaces and their members, typed entities,
-- relationships between them, workflows and their runs, and the audit log.
--
-- Every table carries the atoms_ prefix and lives in public (PostgREST exposes public).
-- Identity is the token's `sub` (text): WorkOS ids such as user_01... are not UUIDs.

create extension if not exists pg_trgm;

create table public.atoms_users (
  id uuid primary key default gen_random_uuid(),
  external_id text not null unique check (length(external_id) between 1 and 255),
  email text check (email is null or length(email) <= 320),
  display_name text check (display_name is null or length(display_name) <= 200),
  created_at timestamptz not null default now()
);

create table public.atoms_workspaces (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(btrim(name)) between 1 and 200),
  description text not null default '' check (length(description) <= 5000),
  settings jsonb not null default '{}' check (jsonb_typeof(settings) = 'object'),
  created_by uuid not null references public.atoms_users (id),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  deleted_at timestamptz
);

create table public.atoms_workspace_members (
  workspace_id uuid not null references public.atoms_workspaces (id) on delete cascade,
  user_id uuid not null references public.atoms_users (id) on delete cascade,
  role text not null check (role in ('owner', 'editor', 'viewer')),
  created_at timestamptz not null default now(),
  primary key (workspace_id, user_id)
);
-- "my workspaces": membership by user.
create index atoms_workspace_members_user_idx on public.atoms_workspace_members (user_id);

create table public.atoms_entities (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.atoms_workspaces (id) on delete cascade,
  type text not null check (type ~ '^[a-z][a-z0-9_]{0,62}$'),
  name text not null check (length(btrim(name)) between 1 and 500),
  metadata jsonb not null default '{}' check (jsonb_typeof(metadata) = 'object'),
  search tsvector generated always as (
    setweight(to_tsvector('english'::regconfig, name), 'A')
    || setweight(jsonb_to_tsvector('english'::regconfig, metadata, '["string"]'), 'B')
  ) stored,
  version integer not null default 1 check (version >= 1),
  created_by uuid not null references public.atoms_users (id),
  updated_by uuid not null references public.atoms_users (id),
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  deleted_at timestamptz,
  -- Lets relationships require both ends in one workspace with a composite foreign key.
  unique (workspace_id, id)
);
-- Listing: stable keyset order (created_at, id) per workspace, live rows only.
create index atoms_entities_list_idx on public.atoms_entities (workspace_id, created_at, id)
  where deleted_at is null;
-- Filtering by type (and "projects" = type 'project').
create index atoms_entities_type_idx on public.atoms_entities (workspace_id, type, created_at, id)
  where deleted_at is null;
-- Recently updated / last activity.
create index atoms_entities_updated_idx on public.atoms_entities (workspace_id, updated_at desc);
-- Ranked full-text search.
create index atoms_entities_search_idx on public.atoms_entities using gin (search);
-- Typo-tolerant search on names: GiST answers "nearest by word similarity" (KNN, `<<->`)
-- directly, ~10x faster than ranking every trigram match (measured with atoms bench db).
create index atoms_entities_name_trgm_idx on public.atoms_entities using gist (name gist_trgm_ops);
-- Structured queries on metadata (containment, key existence).
create index atoms_entities_metadata_idx on public.atoms_entities using gin (metadata jsonb_path_ops);

create table public.atoms_relationships (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.atoms_workspaces (id) on delete cascade,
  source_id uuid not null,
  target_id uuid not null,
  type text not null check (type ~ '^[a-z][a-z0-9_]{0,62}$'),
  metadata jsonb not null default '{}' check (jsonb_typeof(metadata) = 'object'),
  created_by uuid not null references public.atoms_users (id),
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  deleted_at timestamptz,
  foreign key (workspace_id, source_id) references public.atoms_entities (workspace_id, id) on delete cascade,
  foreign key (workspace_id, target_id) references public.atoms_entities (workspace_id, id) on delete cascade
);
-- One live edge per (source, target, type).
create unique index atoms_relationships_unique_idx
  on public.atoms_relationships (source_id, target_id, type) where deleted_at is null;
-- Outgoing and incoming traversal, by type.
create index atoms_relationships_out_idx on public.atoms_relationships (source_id, type)
  where deleted_at is null;
create index atoms_relationships_in_idx on public.atoms_relationships (target_id, type)
  where deleted_at is null;
create index atoms_relationships_workspace_idx on public.atoms_relationships (workspace_id, type)
  where deleted_at is null;

create table public.atoms_workflows (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.atoms_workspaces (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 200),
  description text not null default '' check (length(description) <= 5000),
  steps jsonb not null check (jsonb_typeof(steps) = 'array'),
  created_by uuid not null references public.atoms_users (id),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  deleted_at timestamptz
);
create unique index atoms_workflows_name_idx on public.atoms_workflows (workspace_id, lower(name))
  where deleted_at is null;

create table public.atoms_workflow_runs (
  id uuid primary key default gen_random_uuid(),
  workflow_id uuid not null references public.atoms_workflows (id) on delete cascade,
  workspace_id uuid not null references public.atoms_workspaces (id) on delete cascade,
  status text not null check (status in ('succeeded', 'failed')),
  idempotency_key text check (idempotency_key is null or length(idempotency_key) between 1 and 200),
  outputs jsonb not null default '[]',
  failed_step integer,
  error jsonb,
  started_by uuid not null references public.atoms_users (id),
  started_at timestamptz not null default now(),
  finished_at timestamptz not null default now()
);
-- A retried execute with the same key finds the first run.
create unique index atoms_workflow_runs_idempotency_idx
  on public.atoms_workflow_runs (workflow_id, idempotency_key) where idempotency_key is not null;
create index atoms_workflow_runs_workflow_idx on public.atoms_workflow_runs (workflow_id, started_at desc);

create table public.atoms_audit_log (
  id bigint generated always as identity primary key,
  workspace_id uuid references public.atoms_workspaces (id) on delete cascade,
  actor_id uuid not null references public.atoms_users (id),
  action text not null,
  target_type text not null,
  target_id uuid,
  request_id text,
  details jsonb not null default '{}',
  at timestamptz not null default now()
);
create index atoms_audit_log_workspace_idx on public.atoms_audit_log (workspace_id, at desc);
create index atoms_audit_log_actor_idx on public.atoms_audit_log (actor_id, at desc);
