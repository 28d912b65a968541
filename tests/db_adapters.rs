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

/// What the `Value` path writes for `text`: `tools::envelope` then serde (`None` where serde
/// cannot read it).
fn envelope_by_value(operation: &str, text: &str) -> Option<String> {
    serde_json::to_string(&atoms::tools::envelope(operation, serde_json::from_str(text).ok()?)).ok()
}

/// A pseudo-random JSON value (fixed seed, so a failure repeats) mixing what jsonb reorders and
/// escapes: keys of every length and script, control characters, quotes, large integers.
fn awkward_value(state: &mut u64, depth: u32) -> serde_json::Value {
    fn step(state: &mut u64) -> usize {
        *state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (*state >> 33) as usize
    }
    const KEYS: [&str; 12] =
        ["id", "a", "zz", "name", "Zeta", "é", "日本", "a b", "next_cursor", "metadata", "", "x_1"];
    const STRINGS: [&str; 8] = [
        "",
        "plain",
        "quote \" and \\",
        "ctl \u{1}\u{8}\u{c}\n\r\t\u{1f}",
        "del \u{7f}",
        "é 日本 🦀",
        "/slash",
        "\u{2028}",
    ];
    match step(state) % if depth >= 3 { 4 } else { 6 } {
        0 => json!(STRINGS[step(state) % STRINGS.len()]),
        1 => [json!(0), json!(-1), json!(42), json!(u64::MAX), json!(i64::MIN), json!(1.5), json!(-2.25)]
            [step(state) % 7]
            .clone(),
        2 => [json!(true), json!(false), json!(null)][step(state) % 3].clone(),
        3 => json!(format!("{}-{}", STRINGS[step(state) % STRINGS.len()], step(state))),
        4 => (0..step(state) % 4).map(|_| awkward_value(state, depth + 1)).collect(),
        _ => (0..step(state) % 6)
            .map(|_| {
                let key = KEYS[step(state) % KEYS.len()].to_owned();
                (key, awkward_value(state, depth + 1))
            })
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

#[tokio::test]
async fn the_envelope_written_from_the_databases_text_is_what_serde_writes() {
    // The echo stores its argument as jsonb and writes it back as Postgres does; the literals
    // hold what only Postgres writes (numbers that keep their scale, beyond 64 bits).
    let url = database_with(
        r#"create function public.atoms_test_echo(jsonb) returns jsonb language sql as 'select $1 -> ''v''';
         create function public.atoms_test_literals(jsonb) returns jsonb language sql as $$
           select (array['{"n": 1.10}', '{"n": 1e2}', '{"n": -0}', '{"n": 123456789012345678901234567890}',
                         '{"n": 1E400}', '{"s": "\u00e9\/"}', '{"k\"": 1, "b": 2}', '[1.0, 2]',
                         '{"items": [{"b": 1, "a": 2}], "next_cursor": "c2"}'])[($1 ->> 'i')::int]::jsonb $$;
         grant execute on all functions in schema public to authenticated;"#,
    )
    .await;
    let direct = Db::direct(&url, &config(1, 1000)).expect("adapter");
    let base = support::postgrest::start(url.expose()).await;
    let through_postgrest = postgrest(&base, support::postgrest::ANON_KEY, mint());
    let (mut state, mut written, mut checked) = (7_u64, 0, 0);
    for round in 0..300 {
        let value = awkward_value(&mut state, 0);
        let db = if round % 10 == 0 { &through_postgrest } else { &direct };
        let text = db.rpc_text("atoms_test_echo", &json!({"v": value}), &alice()).await.expect("echo");
        let by_value = envelope_by_value("list_entities", &text).expect("serde reads Postgres' JSON");
        if let Some(compact) = atoms::tools::compact::envelope("list_entities", &text) {
            assert_eq!(String::from_utf8(compact).expect("UTF-8"), by_value, "{text}");
            written += 1;
        }
        checked += 1;
    }
    // Only the values holding a float (or a key with an escape) may take the Value path.
    assert!(written * 10 >= checked * 8, "only {written} of {checked} written directly");
    for index in 1..=9 {
        let text =
            direct.rpc_text("atoms_test_literals", &json!({"i": index}), &alice()).await.expect("literal");
        let compact = atoms::tools::compact::envelope("list_entities", &text).map(String::from_utf8);
        match compact {
            Some(compact) => {
                assert_eq!(Some(compact.expect("UTF-8")), envelope_by_value("list_entities", &text))
            }
            None => assert!(index <= 8, "the plain page must be written directly: {text}"),
        }
    }
}

#[tokio::test]
async fn a_failed_call_is_rolled_back_whole_and_its_connection_reused_clean() {
    // One connection: the calls after the failure run on the very connection it failed on.
    let url = database_with(
        "create table public.atoms_test_log (who text);
         grant insert, select on public.atoms_test_log to authenticated;
         create function public.atoms_test_write_then_fail(jsonb) returns jsonb language plpgsql as
           $$ begin insert into public.atoms_test_log values (current_setting('request.jwt.claims')::jsonb ->> 'sub');
                    raise exception 'failed after writing'; end $$;
         create function public.atoms_test_state(jsonb) returns jsonb language sql as
           $$ select jsonb_build_object('pid', pg_backend_pid(), 'user', current_user,
                'sub', current_setting('request.jwt.claims')::jsonb ->> 'sub',
                'rows', (select count(*) from public.atoms_test_log)) $$;
         grant execute on all functions in schema public to authenticated;",
    )
    .await;
    let db = Db::direct(&url, &config(1, 1000)).expect("adapter");
    let before = db.rpc("atoms_test_state", &json!({}), &alice()).await.expect("state");
    let failed = db.rpc("atoms_test_write_then_fail", &json!({}), &alice()).await.expect_err("raises");
    assert_eq!(failed.code(), "internal");
    let bob = Identity::new("user_02BOB");
    let after = db.rpc("atoms_test_state", &json!({}), &bob).await.expect("the connection is usable");
    assert_eq!(after["pid"], before["pid"], "the same connection, reused after the error");
    assert_eq!(after["user"], "authenticated");
    assert_eq!(after["sub"], "user_02BOB", "the next call runs as its own caller");
    assert_eq!(after["rows"], 0, "the failed call's write was rolled back");

    // As the administrator: no transaction left open or aborted on the server either.
    let (admin, connection) =
        tokio_postgres::connect(url.expose(), tokio_postgres::NoTls).await.expect("admin");
    tokio::spawn(connection);
    let states = admin
        .query(
            "select state from pg_stat_activity
              where datname = current_database() and application_name = 'atoms' and pid <> pg_backend_pid()",
            &[],
        )
        .await
        .expect("activity");
    let states: Vec<String> = states.iter().map(|row| row.get(0)).collect();
    assert_eq!(states, ["idle"], "one idle connection, not idle in (aborted) transaction");
    let rows: i64 =
        admin.query_one("select count(*) from public.atoms_test_log", &[]).await.expect("count").get(0);
    assert_eq!(rows, 0);
}
