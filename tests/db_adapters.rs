//! Adapter behaviour beyond the happy path: timeouts, outages, connection reuse after errors,
//! PostgREST authentication modes.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use atoms::config::{DatabaseConfig, PostgrestIdentity, SupabaseConfig};
use atoms::db::{Db, DbError, Identity};
use atoms::secret::Secret;
use serde_json::json;

fn config(pool_size: usize, timeout_ms: u64) -> DatabaseConfig {
    let mut config = atoms::config::Config::embedded().database;
    config.pool_size = pool_size;
    config.statement_timeout = Duration::from_millis(timeout_ms);
    config
}

fn alice() -> Identity {
    Identity::new("user_01ALICE")
}

#[tokio::test]
async fn a_blocked_statement_times_out_and_the_pool_recovers() {
    let url = support::postgres::fresh_database().await;
    let db = Db::direct(&url, &config(1, 400)).expect("adapter");
    let ws = db.rpc("atoms_workspace_create", &json!({"name": "T"}), &alice()).await.expect("create");
    let entity = db
        .rpc("atoms_entity_create", &json!({"workspace_id": ws["id"], "type": "doc", "name": "D"}), &alice())
        .await
        .expect("entity");

    // Another session holds the row lock, so the update waits until the statement timeout.
    let (mut admin, connection) =
        tokio_postgres::connect(url.expose(), tokio_postgres::NoTls).await.expect("admin");
    tokio::spawn(connection);
    let lock = admin.transaction().await.expect("begin");
    lock.execute(
        "select 1 from atoms_entities where id = $1::text::uuid for update",
        &[&entity["id"].as_str()],
    )
    .await
    .expect("lock");
    let started = Instant::now();
    let error =
        db.rpc("atoms_entity_update", &json!({"entity_id": entity["id"], "name": "x"}), &alice()).await;
    assert_eq!(error, Err(DbError::Timeout));
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    lock.rollback().await.expect("release");

    // The single pooled connection is usable again (its aborted transaction was rolled back).
    let fine =
        db.rpc("atoms_entity_update", &json!({"entity_id": entity["id"], "name": "y"}), &alice()).await;
    assert_eq!(fine.expect("after timeout")["name"], "y");
    let invalid = db.rpc("atoms_entity_update", &json!({"entity_id": "nope"}), &alice()).await;
    assert_eq!(invalid.map_err(|e| e.code()), Err("invalid_argument"));
    let again = db.rpc("atoms_entity_get", &json!({"entity_id": entity["id"]}), &alice()).await;
    assert_eq!(again.expect("after an error")["version"], 2);
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable_quickly() {
    let url = Secret::new(format!("postgres://postgres@127.0.0.1:{}/atoms", support::free_port()));
    let db = Db::direct(&url, &config(2, 1000)).expect("adapter");
    let started = Instant::now();
    let error = db.rpc("atoms_user_me", &json!({}), &alice()).await.expect_err("down");
    assert_eq!(error.code(), "unavailable", "{error:?}");
    assert!(!error.to_string().contains("127.0.0.1"), "no connection details: {error}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(db.ping().await.map_err(|e| e.code()), Err("unavailable"));
}

#[tokio::test]
async fn only_atoms_functions_can_be_called() {
    let url = support::postgres::fresh_database().await;
    let db = Db::direct(&url, &config(1, 1000)).expect("adapter");
    for name in ["pg_sleep", "atoms_x; drop table atoms_users", "ATOMS_USER_ME"] {
        let error = db.rpc(name, &json!({}), &alice()).await.expect_err("refused");
        assert_eq!(error.code(), "invalid_argument", "{name}");
    }
}

fn postgrest(base: &str, anon_key: &str, identity: PostgrestIdentity) -> Db {
    let config = SupabaseConfig {
        url: reqwest::Url::parse(base).expect("url"),
        anon_key: Secret::new(anon_key),
        identity,
    };
    Db::Postgrest(Arc::new(atoms::db::postgrest::PostgrestDb::new(
        config,
        reqwest::Client::new(),
        Duration::from_secs(5),
    )))
}

fn mint() -> PostgrestIdentity {
    PostgrestIdentity::Mint { jwt_secret: Secret::new(support::postgrest::JWT_SECRET) }
}

#[tokio::test]
async fn postgrest_forward_mode_sends_the_callers_token() {
    let url = support::postgres::fresh_database().await;
    let base = support::postgrest::start(url.expose()).await;
    let db = postgrest(&base, support::postgrest::ANON_KEY, PostgrestIdentity::Forward);

    let without = db.rpc("atoms_user_me", &json!({}), &alice()).await.expect_err("no token");
    assert_eq!(without.code(), "unauthenticated");

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let secret = Secret::new(support::postgrest::JWT_SECRET);
    let claims = json!({"sub": "user_01ALICE", "role": "authenticated"});
    let mut caller = alice();
    caller.bearer = Some(Secret::new(atoms::db::jwt::mint(&claims, &secret, now)));
    let me = db.rpc("atoms_user_me", &json!({}), &caller).await.expect("forwarded token works");
    assert_eq!(me["external_id"], "user_01ALICE");

    caller.bearer = Some(Secret::new(atoms::db::jwt::mint(&claims, &secret, now - 3600)));
    let expired = db.rpc("atoms_user_me", &json!({}), &caller).await.expect_err("expired");
    assert_eq!(expired.code(), "unauthenticated");

    let forged = Secret::new("another-secret-another-secret-another-secret");
    caller.bearer = Some(Secret::new(atoms::db::jwt::mint(&claims, &forged, now)));
    let rejected = db.rpc("atoms_user_me", &json!({}), &caller).await.expect_err("forged");
    assert_eq!(rejected.code(), "unauthenticated");
}

#[tokio::test]
async fn postgrest_errors_map_to_stable_codes() {
    let url = support::postgres::fresh_database().await;
    let base = support::postgrest::start(url.expose()).await;
    let wrong_key = postgrest(&base, "not-the-anon-key", mint());
    assert_eq!(
        wrong_key.rpc("atoms_user_me", &json!({}), &alice()).await.map_err(|e| e.code()),
        Err("unauthenticated")
    );

    let db = postgrest(&base, support::postgrest::ANON_KEY, mint());
    let missing = db.rpc("atoms_no_such_thing", &json!({}), &alice()).await.expect_err("404");
    assert_eq!(missing.code(), "not_found");
    db.ping().await.expect("PostgREST root answers");

    let down = postgrest(&format!("http://127.0.0.1:{}", support::free_port()), "k", mint());
    let error = down.rpc("atoms_user_me", &json!({}), &alice()).await.expect_err("down");
    assert_eq!(error.code(), "unavailable");
}

/// A fresh database with `sql` (test-only functions) run in it as the administrator.
async fn database_with(sql: &str) -> Secret {
    let url = support::postgres::fresh_database().await;
    let (admin, connection) =
        tokio_postgres::connect(url.expose(), tokio_postgres::NoTls).await.expect("admin");
    tokio::spawn(connection);
    admin.batch_execute(sql).await.expect("test functions");
    url
}

#[tokio::test]
async fn a_function_returning_null_gives_null_not_the_callers_claims() {
    let url = database_with(
        "create function public.atoms_test_null(jsonb) returns jsonb language sql as 'select null::jsonb';
         grant execute on function public.atoms_test_null(jsonb) to authenticated;",
    )
    .await;
    let db = Db::direct(&url, &config(1, 1000)).expect("adapter");
    let mut caller = alice();
    caller.email = Some("alice@example.com".to_owned());
    assert_eq!(db.rpc("atoms_test_null", &json!({}), &caller).await, Ok(serde_json::Value::Null));
    let base = support::postgrest::start(url.expose()).await;
    let postgrest = postgrest(&base, support::postgrest::ANON_KEY, mint());
    assert_eq!(postgrest.rpc("atoms_test_null", &json!({}), &caller).await, Ok(serde_json::Value::Null));
}

#[tokio::test]
async fn a_call_dropped_mid_query_never_leaves_an_aborted_transaction_in_the_pool() {
    let url = database_with(
        "create function public.atoms_test_slow_failure(jsonb) returns jsonb language plpgsql as
           $$ begin perform pg_sleep(0.3); raise exception 'failed late'; end $$;
         grant execute on function public.atoms_test_slow_failure(jsonb) to authenticated;",
    )
    .await;
    let db = Db::direct(&url, &config(1, 2000)).expect("adapter");
    db.rpc("atoms_user_me", &json!({}), &alice()).await.expect("the one connection is open");
    // The caller gives up (client disconnect, timeout wrapper) while the function still runs.
    let dropped = tokio::time::timeout(
        Duration::from_millis(50),
        db.rpc("atoms_test_slow_failure", &json!({}), &alice()),
    )
    .await;
    assert!(dropped.is_err(), "the call was dropped mid-query");
    let next = db.rpc("atoms_user_me", &json!({}), &alice()).await;
    assert_eq!(next.expect("the next caller gets a clean connection")["external_id"], "user_01ALICE");
}

#[tokio::test]
async fn postgres_own_error_messages_never_reach_callers() {
    let url = database_with(
        "create function public.atoms_test_cast(jsonb) returns jsonb language sql
           as $$ select to_jsonb(($1 ->> 'id')::uuid) $$;
         create table public.atoms_test_private (secret_column text);
         revoke all on public.atoms_test_private from public, authenticated;
         create function public.atoms_test_private_read(jsonb) returns jsonb language sql
           as $$ select to_jsonb(count(*)) from public.atoms_test_private $$;
         create table public.atoms_test_unique (name text unique);
         create function public.atoms_test_insert(jsonb) returns jsonb language sql
           security definer set search_path = public as $$ insert into public.atoms_test_unique values ($1 ->> 'name') returning to_jsonb(name) $$;
         grant execute on all functions in schema public to authenticated;",
    )
    .await;
    let direct = Db::direct(&url, &config(1, 1000)).expect("adapter");
    let base = support::postgrest::start(url.expose()).await;
    let through_postgrest = postgrest(&base, support::postgrest::ANON_KEY, mint());
    for db in [&direct, &through_postgrest] {
        let forged = db.rpc("atoms_test_cast", &json!({"id": "alice@example.com"}), &alice()).await;
        let forged = forged.expect_err("not a uuid");
        assert_eq!(forged.code(), "invalid_argument");
        assert!(!forged.to_string().contains("alice@example.com"), "input echoed: {forged}");

        let private = db.rpc("atoms_test_private_read", &json!({}), &alice()).await.expect_err("denied");
        assert_eq!(private.code(), "permission_denied");
        assert!(!private.to_string().contains("atoms_test_private"), "schema named: {private}");

        let name = uuid::Uuid::new_v4().to_string();
        db.rpc("atoms_test_insert", &json!({"name": name}), &alice()).await.expect("first insert");
        let duplicate = db.rpc("atoms_test_insert", &json!({"name": name}), &alice()).await;
        let duplicate = duplicate.expect_err("unique");
        assert_eq!(duplicate.code(), "conflict");
        assert!(!duplicate.to_string().contains(&name), "value echoed: {duplicate}");
        assert!(!duplicate.to_string().contains("atoms_test_unique"), "constraint named: {duplicate}");
    }
}
