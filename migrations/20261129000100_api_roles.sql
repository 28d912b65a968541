-- Hardening, part 1: the roles that own the API, closed defaults, and `atoms_private.seal()`.
--
-- The security model (ARCHITECTURE.md, "Database security model"):
--   * `authenticated` (every signed-in caller, through PostgREST or the direct adapter) may only
--     EXECUTE the public atoms_* functions. It holds no privilege on any table (not even SELECT:
--     under row-level security the planner's statistics, visible through EXPLAIN's estimates,
--     would still leak other tenants' values) and none on the atoms_private schema.
--   * `atoms_api` owns the public atoms_* functions, which are SECURITY DEFINER: every write goes
--     through a domain function (its checks, its audit row, its transaction). atoms_api is not a
--     superuser, has NOBYPASSRLS, and the tables FORCE row-level security, so the policies written
--     for atoms_api still hold inside the functions (RLS stays the last line of defence).
--   * `atoms_lookup` owns the few SECURITY DEFINER helpers that policies and functions use to
--     read memberships (caller_workspaces, member_role, ...) and the two search helpers. It may
--     read users, workspaces, memberships and entities (its own permissive policies) and
--     provision a bare user row; nothing else. The membership helpers run as atoms_lookup, so
--     policies never recurse into themselves, whatever role owns the tables (superuser,
--     Supabase's postgres, or a plain RDS owner). The search helpers return ids of one workspace
--     that the calling function has already checked, and the function re-reads those rows under
--     its own policies: they exist because under row-level security a non-leakproof operator
--     (`@@`, `<%`) can never be an index condition, so full-text and trigram indexes would
--     otherwise go unused.
--   * Identity is the `sub` claim of the `request.jwt.claims` setting (what PostgREST sets and
--     Supabase's auth.jwt() reads), via atoms_private.caller_sub(); never auth.uid().
--   * Every function runs with `search_path = pg_catalog, pg_temp` (pg_temp last, so a temporary
--     type or table cannot shadow a catalog one), except the few small SQL functions that must
--     stay inlinable (no SET clause): the per-row JSON builders (executable by no API role) and
--     claims()/caller_sub() (every name in them schema-qualified).

do $$
declare
  me record;
  r record;
begin
  select * into me from pg_roles where rolname = current_user;
  if not exists (select 1 from pg_roles where rolname = 'atoms_api') then
    create role atoms_api nologin noinherit nobypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'atoms_lookup') then
    create role atoms_lookup nologin noinherit nobypassrls;
  end if;
  for r in select rolname, rolsuper, rolbypassrls from pg_roles where rolname in ('atoms_api', 'atoms_lookup') loop
    if r.rolsuper or r.rolbypassrls then
      raise exception 'role % must be neither superuser nor BYPASSRLS (row-level security must apply to it)', r.rolname;
    end if;
  end loop;
  -- Taking ownership of functions for these roles needs membership in them (superusers have it).
  if not me.rolsuper then
    begin
      execute format('grant atoms_api, atoms_lookup to %I', current_user);
    exception when insufficient_privilege then
      raise exception using
        message = format('atoms migrate: role %s cannot grant itself atoms_api and atoms_lookup', current_user),
        hint = 'run the migrations as a superuser, or as a role with CREATEROLE (the database owner on RDS/Supabase)';
    end;
  end if;
end
$$;

-- Nobody but the migration role creates objects in public: a function or operator planted there
-- could otherwise shadow a catalog one for any code whose search_path includes public.
do $$
begin
  revoke create on schema public from public;
  revoke create on schema public from anon, authenticated, service_role;
exception when insufficient_privilege then
  raise notice 'public schema: CREATE could not be revoked (not its owner); check it by hand';
end
$$;

-- Objects created by later migrations start closed: no EXECUTE for PUBLIC, no table or sequence
-- privilege for the API roles until a migration grants it explicitly.
alter default privileges revoke execute on functions from public;
alter default privileges in schema public revoke all on tables from anon, authenticated;
alter default privileges in schema public revoke all on sequences from anon, authenticated;
alter default privileges in schema public revoke all on functions from anon, authenticated;

-- The request's JWT claims, exactly as PostgREST sets them (and as Supabase's auth.jwt() reads
-- them); the direct adapter sets the same setting. Every name is schema-qualified and there is
-- no SET clause, so the planner inlines it (it runs several times per operation).
create function atoms_private.claims() returns jsonb
  language sql stable
as $$
  select coalesce(nullif(pg_catalog.current_setting('request.jwt.claims', true), ''), '{}')::pg_catalog.jsonb
$$;

-- The caller's subject (`sub` claim), or null. Inlined like claims().
create function atoms_private.caller_sub() returns text
  language sql stable
as $$
  select nullif(atoms_private.claims() operator(pg_catalog.->>) 'sub', '')
$$;

-- Brings every function to the model above; every migration that adds or replaces a function
-- ends with `call atoms_private.seal();` (CREATE OR REPLACE resets SECURITY and SET clauses).
create procedure atoms_private.seal()
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
declare
  -- SECURITY DEFINER helpers owned by atoms_lookup (membership reads without policy recursion).
  lookup_helpers constant text[] := array['current_user_id', 'member_role', 'caller_workspaces',
    'can_bootstrap', 'user_id_of', 'users_with_email', 'provision_user', 'require_an_owner',
    'fulltext_hits', 'nearest_names'];
  -- Per-row JSON builders: no SET clause, so the planner inlines them.
  inlined constant text[] := array['entity_json', 'relationship_json', 'workspace_json',
    'workflow_json', 'run_json', 'claims', 'caller_sub'];
  -- Functions that use pg_trgm operators, wherever the extension lives (public here,
  -- `extensions` on Supabase); nobody but the migration role may create objects there.
  trigram_users constant text[] := array['nearest_names'];
  trigram_schema text := (select n.nspname from pg_catalog.pg_extension x
                          join pg_catalog.pg_namespace n on n.oid = x.extnamespace
                          where x.extname = 'pg_trgm');
  f record;
begin
  -- ALTER ... OWNER needs the new owner to hold CREATE on the schema; only for this procedure.
  grant create on schema public, atoms_private to atoms_api, atoms_lookup;
  for f in
    select p.oid::regprocedure as signature, p.proname as name, n.nspname as schema
    from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where (n.nspname = 'public' and p.proname like 'atoms\_%') or n.nspname = 'atoms_private'
  loop
    execute format('revoke all on routine %s from public, anon, authenticated, service_role', f.signature);
    if f.name = 'seal' then
      continue;
    elsif f.schema = 'public' then
      execute format('alter routine %s owner to atoms_api', f.signature);
      execute format('alter routine %s security definer', f.signature);
      execute format('alter routine %s set search_path = pg_catalog, pg_temp', f.signature);
      execute format('grant execute on routine %s to authenticated, service_role', f.signature);
    elsif f.name = any (lookup_helpers) then
      execute format('alter routine %s owner to atoms_lookup', f.signature);
      execute format('alter routine %s security definer', f.signature);
      if f.name = any (trigram_users) then
        execute format('alter routine %s set search_path = pg_catalog, %I, pg_temp', f.signature, trigram_schema);
      else
        execute format('alter routine %s set search_path = pg_catalog, pg_temp', f.signature);
      end if;
      execute format('grant execute on routine %s to atoms_api', f.signature);
    else
      execute format('alter routine %s security invoker', f.signature);
      if f.name = any (inlined) then
        execute format('alter routine %s reset search_path', f.signature);
      else
        execute format('alter routine %s set search_path = pg_catalog, pg_temp', f.signature);
      end if;
      execute format('grant execute on routine %s to atoms_api, atoms_lookup', f.signature);
    end if;
  end loop;
  -- The trigram search helper (run as atoms_lookup) calls pg_trgm's functions and operators.
  for f in
    select p.oid::regprocedure as signature from pg_catalog.pg_proc p
    join pg_catalog.pg_depend d on d.classid = 'pg_catalog.pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e'
    join pg_catalog.pg_extension x on x.oid = d.refobjid and x.extname = 'pg_trgm'
  loop
    execute format('grant execute on routine %s to atoms_lookup', f.signature);
  end loop;
  revoke create on schema public, atoms_private from atoms_api, atoms_lookup;
end
$$;
revoke all on procedure atoms_private.seal() from public;
