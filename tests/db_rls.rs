//! Row-level security as the last line of defence: direct table access (as PostgREST's table
//! endpoints would do it) never crosses a workspace boundary, `anon` gets nothing, and
//! `service_role` bypasses, as on Supabase.

mod support;

use atoms::config::Config;
use atoms::db::{Db, Identity};
use serde_json::json;

/// Runs `sql` as `role` with `sub` in the claims, returning the first column of the first row.
async fn as_role(url: &str, role: &str, sub: &str, sql: &str) -> Result<i64, String> {
    let (mut client, connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let tx = client.transaction().await.expect("begin");
    tx.batch_execute(&format!("set local role {role}")).await.expect("role");
    tx.execute(
        "select set_config('request.jwt.claims', $1, true)",
        &[&json!({"sub": sub, "role": role}).to_string()],
    )
    .await
    .expect("claims");
    let row = tx
        .query_one(sql, &[])
        .await
        .map_err(|e| e.as_db_error().map(|d| d.code().code().to_owned()).unwrap_or_default())?;
    Ok(row.get(0))
}

#[tokio::test]
async fn tables_are_guarded_even_without_the_functions() {
    let url = support::postgres::fresh_database().await;
    let db = Db::direct(&url, &Config::embedded().database).expect("adapter");
    let alice = Identity::new("user_01ALICE");
    let ws = db.rpc("atoms_workspace_create", &json!({"name": "A"}), &alice).await.expect("workspace");
    db.rpc(
        "atoms_entity_create",
        &json!({"workspace_id": ws["id"], "type": "doc", "name": "secret"}),
        &alice,
    )
    .await
    .expect("entity");
    db.rpc("atoms_user_me", &json!({}), &Identity::new("user_01BOB")).await.expect("bob signs in");
    let url = url.expose();

    let count = "select count(*) from atoms_entities";
    assert_eq!(as_role(url, "authenticated", "user_01ALICE", count).await, Ok(1));
    assert_eq!(as_role(url, "authenticated", "user_01BOB", count).await, Ok(0), "outsider sees nothing");
    let workspaces = "select count(*) from atoms_workspaces";
    assert_eq!(as_role(url, "authenticated", "user_01BOB", workspaces).await, Ok(0));
    let audit = "select count(*) from atoms_audit_log";
    assert_eq!(as_role(url, "authenticated", "user_01BOB", audit).await, Ok(0));

    // Writes across the boundary touch nothing (RLS filters them out).
    let update =
        "with changed as (update atoms_entities set name = 'pwned' returning 1) select count(*) from changed";
    assert_eq!(as_role(url, "authenticated", "user_01BOB", update).await, Ok(0));
    let ws_id = ws["id"].as_str().expect("id");
    let insert = format!(
        "with added as (insert into atoms_entities (workspace_id, type, name, created_by, updated_by) \
         select '{ws_id}', 'doc', 'planted', id, id from atoms_users where external_id = 'user_01BOB' returning 1) \
         select count(*) from added"
    );
    assert_eq!(as_role(url, "authenticated", "user_01BOB", &insert).await, Err("42501".to_owned()));
    let hard_delete = "with gone as (delete from atoms_entities returning 1) select count(*) from gone";
    assert_eq!(
        as_role(url, "authenticated", "user_01ALICE", hard_delete).await,
        Err("42501".to_owned()),
        "no hard deletes"
    );

    // anon has no privileges at all; service_role sees everything.
    assert_eq!(as_role(url, "anon", "", count).await, Err("42501".to_owned()));
    assert_eq!(as_role(url, "service_role", "", count).await, Ok(1));
    assert_eq!(
        as_role(url, "service_role", "", "select count(*) from atoms_entities where name = 'secret'").await,
        Ok(1)
    );
}
