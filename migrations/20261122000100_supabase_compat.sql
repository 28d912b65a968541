-- Supabase compatibility for plain Postgres.
--
-- On Supabase the roles, the auth schema and auth.jwt() already exist and this file changes
-- nothing (every statement is guarded, and grants are only made on objects created here). On
-- plain Postgres (local development, tests, RDS) it creates them, so that row-level security
-- behaves exactly as it does behind PostgREST: callers run as `authenticated` with their JWT
-- claims in the `request.jwt.claims` setting.

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;

  if not exists (select 1 from pg_namespace where nspname = 'auth') then
    create schema auth;
    grant usage on schema auth to anon, authenticated, service_role;
  end if;

  if not exists (
    select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'auth' and p.proname = 'jwt'
  ) then
    create function auth.jwt() returns jsonb
      language sql stable
      as $fn$
        select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
      $fn$;
    grant execute on function auth.jwt() to anon, authenticated, service_role;
  end if;
end
$$;

grant usage on schema public to anon, authenticated, service_role;
