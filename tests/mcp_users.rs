//! Several local users through `atoms dev-token` tokens, over the wire on real Postgres: one
//! user's data is invisible to another through every tool, a viewer reads but cannot write, and
//! a bad, expired or foreign token is a 401 — never the local user.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::mcp::{call_tool, rpc};

struct Users {
    base: String,
    alice: String,
    bob: String,
    carol: String,
    dir: std::path::PathBuf,
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
}

async fn users() -> Users {
    let url = support::postgres::fresh_database().await;
    let dir = std::env::temp_dir().join(format!("atoms-users-{}", uuid::Uuid::new_v4().simple()));
    let token = |sub: &str| {
        atoms::auth::dev_token::issue(&dir, sub, Some(&format!("{sub}@example.com")), None, 3600, now())
            .expect("token")
    };
    let (alice, bob, carol) = (token("alice"), token("bob"), token("carol"));
    let data_dir = dir.to_str().expect("utf-8 path");
    let base =
        support::spawn_app(support::config(&[("DATABASE_URL", url.expose()), ("ATOMS_DATA_DIR", data_dir)]))
            .await;
    Users { base, alice, bob, carol, dir }
}

async fn ok(base: &str, token: &str, tool: &str, arguments: Value) -> Value {
    let result = call_tool(base, Some(token), tool, arguments.clone()).await;
    assert_eq!(result["isError"], false, "{tool} {arguments}: {result}");
    result["structuredContent"]["data"].clone()
}

async fn code(base: &str, token: &str, tool: &str, arguments: Value) -> String {
    let result = call_tool(base, Some(token), tool, arguments.clone()).await;
    assert_eq!(result["isError"], true, "{tool} {arguments} should fail: {result}");
    result["structuredContent"]["error"]["code"].as_str().expect("code").to_owned()
}

#[tokio::test]
async fn one_users_data_is_invisible_to_another() {
    let u = users().await;
    let ws =
        ok(&u.base, &u.alice, "workspace_tool", json!({"operation": "create_workspace", "name": "Alice's"}))
            .await["id"]
            .clone();
    let a = ok(
        &u.base,
        &u.alice,
        "entity_tool",
        json!({"operation": "create_entity", "workspace_id": ws, "type": "note", "name": "secret plans"}),
    )
    .await["id"]
        .clone();
    let b = ok(
        &u.base,
        &u.alice,
        "entity_tool",
        json!({"operation": "create_entity", "workspace_id": ws, "type": "note", "name": "more plans"}),
    )
    .await["id"]
        .clone();
    let edge = ok(
        &u.base,
        &u.alice,
        "relationship_tool",
        json!({"operation": "create_relationship", "source_id": a, "target_id": b, "type": "cites"}),
    )
    .await["id"]
        .clone();
    let flow = ok(
        &u.base,
        &u.alice,
        "workflow_tool",
        json!({"operation": "create_workflow", "workspace_id": ws, "name": "w",
        "steps": [{"operation": "entity_tool.list_entities", "arguments": {}}]}),
    )
    .await["id"]
        .clone();

    let listed = ok(&u.base, &u.bob, "workspace_tool", json!({"operation": "list_workspaces"})).await;
    assert_eq!(listed["items"], json!([]), "bob sees no workspace of alice's");
    let bobs =
        ok(&u.base, &u.bob, "workspace_tool", json!({"operation": "create_workspace", "name": "Bob's"}))
            .await["id"]
            .clone();
    for (tool, arguments) in [
        ("workspace_tool", json!({"operation": "read_workspace", "workspace_id": ws})),
        ("workspace_tool", json!({"operation": "update_workspace", "workspace_id": ws, "name": "pwned"})),
        ("workspace_tool", json!({"operation": "delete_workspace", "workspace_id": ws})),
        ("workspace_tool", json!({"operation": "get_workspace_info", "workspace_id": ws})),
        (
            "workspace_tool",
            json!({"operation": "set_member", "workspace_id": ws, "user_id": "bob", "role": "owner"}),
        ),
        ("entity_tool", json!({"operation": "list_entities", "workspace_id": ws})),
        ("entity_tool", json!({"operation": "read_entity", "entity_id": a})),
        ("entity_tool", json!({"operation": "update_entity", "entity_id": a, "name": "pwned"})),
        ("entity_tool", json!({"operation": "delete_entity", "entity_id": a})),
        ("entity_tool", json!({"operation": "search_entities", "workspace_id": ws, "query": "secret"})),
        (
            "entity_tool",
            json!({"operation": "create_entity", "workspace_id": ws, "type": "note", "name": "planted"}),
        ),
        ("relationship_tool", json!({"operation": "list_relationships", "entity_id": a})),
        ("relationship_tool", json!({"operation": "get_relationship_graph", "entity_id": a})),
        ("relationship_tool", json!({"operation": "delete_relationship", "relationship_id": edge})),
        ("workflow_tool", json!({"operation": "execute_workflow", "workflow_id": flow})),
        ("workflow_tool", json!({"operation": "list_workflows", "workspace_id": ws})),
        ("query_tool", json!({"operation": "query_entities", "workspace_id": ws})),
        ("query_tool", json!({"operation": "export_results", "workspace_id": ws})),
        ("query_tool", json!({"operation": "get_query_stats", "workspace_id": ws})),
    ] {
        assert_eq!(code(&u.base, &u.bob, tool, arguments.clone()).await, "not_found", "{tool} {arguments}");
    }
    // Relating his own entity to alice's: not found either.
    let mine = ok(
        &u.base,
        &u.bob,
        "entity_tool",
        json!({"operation": "create_entity", "workspace_id": bobs, "type": "note", "name": "mine"}),
    )
    .await["id"]
        .clone();
    let relate =
        json!({"operation": "create_relationship", "source_id": mine, "target_id": a, "type": "cites"});
    assert_eq!(code(&u.base, &u.bob, "relationship_tool", relate).await, "not_found");
    let read =
        ok(&u.base, &u.alice, "entity_tool", json!({"operation": "read_entity", "entity_id": a})).await;
    assert_eq!(
        (read["name"].as_str(), read["version"].as_i64()),
        (Some("secret plans"), Some(1)),
        "nothing of alice's changed"
    );
    let _ = std::fs::remove_dir_all(&u.dir);
}

#[tokio::test]
async fn a_viewer_reads_but_cannot_write() {
    let u = users().await;
    let ws =
        ok(&u.base, &u.alice, "workspace_tool", json!({"operation": "create_workspace", "name": "Shared"}))
            .await["id"]
            .clone();
    let a = ok(
        &u.base,
        &u.alice,
        "entity_tool",
        json!({"operation": "create_entity", "workspace_id": ws, "type": "doc", "name": "Spec"}),
    )
    .await["id"]
        .clone();
    ok(
        &u.base,
        &u.alice,
        "workspace_tool",
        json!({"operation": "set_member", "workspace_id": ws, "user_id": "carol", "role": "viewer"}),
    )
    .await;
    assert_eq!(
        ok(&u.base, &u.carol, "entity_tool", json!({"operation": "read_entity", "entity_id": a})).await["name"],
        "Spec"
    );
    for (tool, arguments) in [
        ("entity_tool", json!({"operation": "update_entity", "entity_id": a, "name": "x"})),
        (
            "entity_tool",
            json!({"operation": "create_entity", "workspace_id": ws, "type": "doc", "name": "x"}),
        ),
        ("entity_tool", json!({"operation": "delete_entity", "entity_id": a})),
        ("workspace_tool", json!({"operation": "delete_workspace", "workspace_id": ws})),
    ] {
        assert_eq!(
            code(&u.base, &u.carol, tool, arguments.clone()).await,
            "permission_denied",
            "{tool} {arguments}"
        );
    }
    // Carol may leave.
    ok(
        &u.base,
        &u.carol,
        "workspace_tool",
        json!({"operation": "remove_member", "workspace_id": ws, "user_id": "carol"}),
    )
    .await;
    assert_eq!(
        code(&u.base, &u.carol, "entity_tool", json!({"operation": "read_entity", "entity_id": a})).await,
        "not_found"
    );
    let _ = std::fs::remove_dir_all(&u.dir);
}

#[tokio::test]
async fn bad_tokens_are_401_never_the_local_user() {
    let u = users().await;
    let expired =
        atoms::auth::dev_token::issue(&u.dir, "alice", None, None, 60, now() - 3600).expect("token");
    let other_dir = std::env::temp_dir().join(format!("atoms-other-{}", uuid::Uuid::new_v4().simple()));
    let foreign = atoms::auth::dev_token::issue(&other_dir, "alice", None, None, 3600, now()).expect("token");
    let (signed, _) = u.alice.rsplit_once('.').expect("jwt");
    let tampered = format!("{signed}.AAAA");
    for (token, why) in [
        (expired.as_str(), "expired"),
        (foreign.as_str(), "another key"),
        (tampered.as_str(), "tampered"),
        ("garbage", "garbage"),
    ] {
        let params = json!({"name": "workspace_tool", "arguments": {"operation": "list_workspaces"}, "_meta": support::mcp::meta()});
        let (status, message) = rpc(&u.base, Some(token), "tools/call", Some("workspace_tool"), params).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {message}");
        assert_eq!(message["jsonrpc"], "2.0", "a JSON-RPC error body: {message}");
        assert!(
            message["error"]["message"].as_str().is_some_and(|m| m.contains("invalid token")),
            "{why}: {message}"
        );
    }
    // Without a token: the local user, who sees none of alice's workspaces.
    ok(&u.base, &u.alice, "workspace_tool", json!({"operation": "create_workspace", "name": "Alice's"}))
        .await;
    let local = call_tool(&u.base, None, "workspace_tool", json!({"operation": "list_workspaces"})).await;
    assert_eq!(local["structuredContent"]["data"]["items"], json!([]));
    let _ = std::fs::remove_dir_all(&u.dir);
    let _ = std::fs::remove_dir_all(&other_dir);
}
