//! The database's security model under attack, with direct SQL exactly as a caller could send it
//! through PostgREST's table endpoints or a leaked `set role authenticated` session: no caller
//! writes a table except through the domain functions, reads stay filtered by membership, the
//! private helpers are closed, `search_path` cannot be hijacked, a plain (non-superuser) owner
//! runs the schema, and new objects start closed.

mod support;

use atoms::config::Config;
use atoms::db::{Db, Identity};
use serde_json::{Value, json};
use support::sql::{Session, execute_as, text_as};

const TABLES: [&str; 8] = [
    "atoms_users",
    "atoms_workspaces",
    "atoms_workspace_members",
    "atoms_entities",
    "atoms_relationships",
    "atoms_workflows",
    "atoms_workflow_runs",
    "atoms_audit_log",
];

/// A workspace of Alice's with an editor (Bob), a viewer (Carol), and an outsider (Dave) who owns
/// a workspace of his own; one of every kind of row.
struct Fixture {
    url: String,
    workspace: String,
    daves_workspace: String,
    workflow: String,
}

async fn call(db: &Db, who: &str, function: &str, args: Value) -> Value {
    db.rpc(function, &args, &Identity::new(who)).await.unwrap_or_else(|e| panic!("{function}: {e:?}"))
}

async fn fixture() -> Fixture {
    let url = support::postgres::fresh_database().await;
    let db = Db::direct(&url, &Config::embedded().database).expect("adapter");
    let ws = call(&db, "alice", "atoms_workspace_create", json!({"name": "A"})).await["id"].clone();
    for (who, role) in [("bob", "editor"), ("carol", "viewer")] {
        call(&db, who, "atoms_user_me", json!({})).await;
        call(
            &db,
            "alice",
            "atoms_workspace_member_set",
            json!({"workspace_id": ws, "user_id": who, "role": role}),
        )
        .await;
    }
    let a = call(
        &db,
        "alice",
        "atoms_entity_create",
        json!({"workspace_id": ws, "type": "doc", "name": "secret"}),
    )
    .await["id"]
        .clone();
    let b =
        call(&db, "alice", "atoms_entity_create", json!({"workspace_id": ws, "type": "doc", "name": "plan"}))
            .await["id"]
            .clone();
    call(&db, "alice", "atoms_relationship_create", json!({"source_id": a, "target_id": b, "type": "cites"}))
        .await;
    let steps = json!([{"operation": "entity_tool.create_entity", "arguments": {"type": "doc", "name": "${inputs.name}"}}]);
    let workflow =
        call(&db, "alice", "atoms_workflow_create", json!({"workspace_id": ws, "name": "W", "steps": steps}))
            .await;
    call(
        &db,
        "alice",
        "atoms_workflow_execute",
        json!({"workflow_id": workflow["id"], "inputs": {"name": "x"}}),
    )
    .await;
    let daves = call(&db, "dave", "atoms_workspace_create", json!({"name": "D"})).await;
    Fixture {
        url: url.expose().to_owned(),
        workspace: ws.as_str().expect("id").to_owned(),
        daves_workspace: daves["id"].as_str().expect("id").to_owned(),
        workflow: workflow["id"].as_str().expect("id").to_owned(),
    }
}

/// A harmless-looking write per table and kind, each of which the old grants allowed somewhere.
fn writes(table: &str, f: &Fixture) -> Vec<String> {
    let column = match table {
        "atoms_users" => "display_name",
        "atoms_workspace_members" => "role",
        "atoms_relationships" => "type",
        "atoms_workflow_runs" => "status",
        "atoms_audit_log" => "details",
        _ => "name",
    };
    vec![
        format!("insert into public.{table} default values"),
        format!("update public.{table} set {column} = {column}"),
        format!("delete from public.{table}"),
        format!("truncate public.{table}"),
        // The review's exploits, verbatim in spirit.
        format!("update public.atoms_workspaces set deleted_at = now() where id = '{}'", f.workspace),
        format!(
            "insert into public.atoms_workflow_runs (workflow_id, workspace_id, status, idempotency_key, started_by) \
             select '{}', '{}', 'succeeded', 'k', id from public.atoms_users",
            f.workflow, f.daves_workspace
        ),
        format!(
            "insert into public.atoms_audit_log (workspace_id, actor_id, action, target_type, at) \
             select '{}', id, 'forged', 'workspace', now() + interval '10 years' from public.atoms_users",
            f.workspace
        ),
    ]
}

#[tokio::test]
async fn no_caller_writes_a_table_except_through_the_functions() {
    let f = fixture().await;
    for who in ["alice", "bob", "carol", "dave"] {
        for table in TABLES {
            for sql in writes(table, &f) {
                assert_eq!(
                    execute_as(&f.url, "authenticated", who, &sql).await,
                    Err("42501".to_owned()),
                    "{who} as authenticated: {sql}"
                );
            }
        }
    }
    for table in TABLES {
        for sql in writes(table, &f) {
            assert_eq!(execute_as(&f.url, "anon", "", &sql).await, Err("42501".to_owned()), "anon: {sql}");
        }
    }
    // Nothing happened: the workspace is live, no forged run or audit row exists.
    let admin = Session::connect(&f.url).await;
    let live =
        format!("select count(*) from atoms_workspaces where id = '{}' and deleted_at is null", f.workspace);
    assert_eq!(admin.text(&live).await, Ok("1".to_owned()));
    assert_eq!(admin.text("select count(*) from atoms_workflow_runs").await, Ok("1".to_owned()));
    assert_eq!(
        admin.text("select count(*) from atoms_audit_log where action = 'forged'").await,
        Ok("0".to_owned())
    );
}

#[tokio::test]
async fn callers_read_only_through_the_functions() {
    // Not even SELECT: under RLS the planner still uses every tenant's column statistics, and
    // EXPLAIN's row estimates would leak other tenants' names character by character.
    let f = fixture().await;
    for table in TABLES {
        for sql in
            [format!("select count(*) from public.{table}"), format!("explain select * from public.{table}")]
        {
            for (role, who) in [("authenticated", "alice"), ("authenticated", "dave"), ("anon", "")] {
                assert_eq!(
                    execute_as(&f.url, role, who, &sql).await,
                    Err("42501".to_owned()),
                    "{role} {who}: {sql}"
                );
            }
        }
    }
    // The membership lock cannot be taken (or even seen) from outside a function.
    let lock = format!("insert into atoms_private.membership_locks values ('{}')", f.workspace);
    assert_eq!(execute_as(&f.url, "authenticated", "alice", &lock).await, Err("42501".to_owned()));
    assert_eq!(
        text_as(&f.url, "service_role", "", "(select count(*) from public.atoms_entities)").await,
        Ok("3".to_owned())
    );
}

#[tokio::test]
async fn repeatable_read_transactions_are_refused() {
    // A snapshot taken before a concurrent demotion would let the demoted member act on stale
    // rights (and let two owners demote each other).
    let f = fixture().await;
    let session = Session::connect(&f.url).await;
    session.batch("begin isolation level repeatable read").await;
    session.batch("set local role authenticated").await;
    session.batch(r#"select set_config('request.jwt.claims', '{"sub":"bob"}', true)"#).await;
    let args = json!({"workspace_id": f.workspace, "type": "doc", "name": "stale"});
    assert_eq!(session.call("atoms_entity_create", &args).await, Err("PT412".to_owned()));
}

#[tokio::test]
async fn private_helpers_are_closed_to_api_roles() {
    let f = fixture().await;
    for helper in [
        "atoms_private.user_id_of('alice')",
        "atoms_private.users_with_email('alice@example.com')",
        "atoms_private.provision_user('mallory')",
        "atoms_private.member_role(gen_random_uuid())",
        "atoms_private.require_user()",
        "atoms_private.audit(gen_random_uuid(), gen_random_uuid(), 'x', 'x', null)",
        // The search helpers read entities unfiltered: only the functions may call them.
        "(select count(*) from atoms_private.fulltext_hits(gen_random_uuid(), 'x'::tsquery, null, 10, 0))",
        "(select count(*) from atoms_private.nearest_names(gen_random_uuid(), 'x', null, 10, 0))",
    ] {
        for role in ["authenticated", "anon"] {
            assert_eq!(
                text_as(&f.url, role, "dave", helper).await,
                Err("42501".to_owned()),
                "{role}: {helper}"
            );
        }
    }
    assert_eq!(
        execute_as(&f.url, "authenticated", "dave", "call atoms_private.seal()").await,
        Err("42501".to_owned())
    );
    for helper in ["atoms_private.caller_workspaces('viewer')", "atoms_private.current_user_id()"] {
        assert_eq!(
            text_as(&f.url, "authenticated", "dave", helper).await,
            Err("42501".to_owned()),
            "{helper}"
        );
    }
}

#[tokio::test]
async fn search_path_cannot_be_hijacked() {
    let f = fixture().await;
    // API roles cannot plant objects in public.
    for sql in [
        "create table public.planted (x int)",
        "create function public.array_agg(uuid) returns uuid[] language sql as 'select null::uuid[]'",
    ] {
        assert_eq!(execute_as(&f.url, "authenticated", "dave", sql).await, Err("42501".to_owned()), "{sql}");
    }
    // A temporary type named like a catalog one never runs inside a function: the domain's check
    // would record who evaluated it.
    let session = Session::connect(&f.url).await;
    session.begin("authenticated", "alice").await;
    session
        .execute(
            "create function pg_temp.spy(v pg_catalog.jsonb) returns boolean language sql as \
             $$ select pg_catalog.set_config('atoms.spied', current_user, false) is not null $$",
        )
        .await
        .expect("temporary function");
    session
        .execute("create domain pg_temp.jsonb as pg_catalog.jsonb check (pg_temp.spy(value))")
        .await
        .expect("domain");
    session.execute("create domain pg_temp.uuid as pg_catalog.text").await.expect("domain");
    let listed = session.call("atoms_workspace_list", &json!({})).await.expect("list");
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        session.text("current_setting('atoms.spied', true)").await,
        Ok(String::new()),
        "no code ran as the definer"
    );
    session.rollback().await;

    // Even an aggregate someone with CREATE planted in public cannot change whose workspaces
    // the membership helper returns.
    let admin = Session::connect(&f.url).await;
    admin.batch("create function public.forget(uuid[], uuid) returns uuid[] language sql as 'select ''{}''::uuid[]'").await;
    admin.batch("create aggregate public.array_agg(uuid) (sfunc = public.forget, stype = uuid[], initcond = '{}')").await;
    let session = Session::connect(&f.url).await;
    session.begin("authenticated", "alice").await;
    let listed = session.call("atoms_workspace_list", &json!({})).await.expect("list");
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1), "membership unaffected");
    session.rollback().await;
}

#[tokio::test]
async fn new_objects_start_closed_and_old_defaults_are_revoked() {
    let f = fixture().await;
    let admin = Session::connect(&f.url).await;
    admin.batch("create table public.atoms_future (x int); create function public.atoms_future_fn() returns int language sql as 'select 1'").await;
    for (check, expected) in [
        ("has_table_privilege('authenticated', 'public.atoms_future', 'select')", "false"),
        ("has_table_privilege('anon', 'public.atoms_future', 'select')", "false"),
        ("has_function_privilege('authenticated', 'public.atoms_future_fn()', 'execute')", "false"),
        ("has_function_privilege('anon', 'public.atoms_future_fn()', 'execute')", "false"),
    ] {
        assert_eq!(admin.text(check).await, Ok(expected.to_owned()), "{check}");
    }
    for table in TABLES {
        for privilege in ["insert", "update", "delete", "truncate", "trigger", "references"] {
            for role in ["authenticated", "anon"] {
                let check = format!("has_table_privilege('{role}', 'public.{table}', '{privilege}')");
                assert_eq!(admin.text(&check).await, Ok("false".to_owned()), "{check}");
            }
        }
    }
}

#[tokio::test]
async fn a_plain_owner_role_runs_the_whole_schema() {
    // An owner that is neither superuser nor BYPASSRLS (as on RDS), and a member of
    // `authenticated` so its connections can act as callers: migrations apply, and the
    // functions work without "new row violates row-level security" or recursion.
    let admin_url = support::postgres::fresh_database().await;
    let admin = Session::connect(admin_url.expose()).await;
    let owner = format!("atoms_owner_{}", uuid::Uuid::new_v4().simple());
    let database = format!("atoms_plain_{}", uuid::Uuid::new_v4().simple());
    admin
        .batch(&format!(
            "create role {owner} login password '{owner}' createrole nosuperuser nobypassrls; \
             grant authenticated to {owner}"
        ))
        .await;
    admin.batch(&format!("create database {database} owner {owner}")).await;
    let url = support::postgres::url_as(&admin_url, &owner, &owner, &database);
    atoms::db::migrate::migrate(&url).await.expect("migrations apply as a plain owner");

    let db = Db::direct(&url, &Config::embedded().database).expect("adapter");
    let ws = call(&db, "alice", "atoms_workspace_create", json!({"name": "Plain"})).await;
    call(&db, "bob", "atoms_user_me", json!({})).await;
    call(
        &db,
        "alice",
        "atoms_workspace_member_set",
        json!({"workspace_id": ws["id"], "user_id": "bob", "role": "editor"}),
    )
    .await;
    call(
        &db,
        "bob",
        "atoms_entity_create",
        json!({"workspace_id": ws["id"], "type": "doc", "name": "Lovelace"}),
    )
    .await;
    let found =
        call(&db, "alice", "atoms_entity_search", json!({"workspace_id": ws["id"], "query": "Lovelase"}))
            .await;
    assert_eq!(found["items"][0]["name"], "Lovelace");
    let listed = call(&db, "bob", "atoms_workspace_list", json!({})).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    let outsider =
        db.rpc("atoms_entity_list", &json!({"workspace_id": ws["id"]}), &Identity::new("dave")).await;
    assert_eq!(outsider.map_err(|e| e.code()), Err("not_found"));
}
