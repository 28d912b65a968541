//! The read cache across two `atoms serve` processes sharing one Redis and one Postgres, as
//! AuthKit users (the double's tokens are valid on both): a write on one process is never
//! followed by a stale read on the other — whichever operation wrote, including writes whose
//! result does not name the workspace —, one user never gets an answer cached for another, a
//! membership change is seen at once, and `CACHE_ENABLED=false` stores nothing.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::authkit::{AuthKitDouble, Family};

struct Fleet {
    double: AuthKitDouble,
    a: String,
    b: String,
    kv: atoms::kv::Kv,
    _servers: (support::Process, support::Process),
    _redis: support::Process,
}

async fn fleet(extra: &[(&str, &str)]) -> Fleet {
    let double = AuthKitDouble::start();
    let redis = support::start_redis();
    let redis_url = support::redis_url(&redis);
    let database = support::postgres::fresh_database().await;
    let start = || {
        let port = support::free_port();
        let env = double.env(&format!("http://127.0.0.1:{port}"));
        let mut vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        vars.extend([
            ("REDIS_URL", redis_url.as_str()),
            ("DATABASE_URL", database.expose()),
            ("AUTHKIT_ALLOWED_AUDIENCES", "client_fleet"),
            ("LOG_LEVEL", "warn"),
        ]);
        vars.extend_from_slice(extra);
        let server = support::atoms_serve_on(port, &[], &vars);
        (server, format!("http://127.0.0.1:{port}"))
    };
    let (server_a, a) = start();
    let (server_b, b) = start();
    let kv_config = atoms::config::KvConfig {
        backend: atoms::config::KvBackend::Redis { url: atoms::secret::Secret::new(redis_url) },
        timeout: Duration::from_secs(2),
    };
    let kv = atoms::kv::Kv::from_config(&kv_config, &reqwest::Client::new()).expect("kv");
    Fleet { double, a, b, kv, _servers: (server_a, server_b), _redis: redis }
}

impl Fleet {
    fn token(&self, user: &str) -> String {
        let mut claims =
            self.double.state.claims(Family::Mcp, user, &format!("s-{user}"), Some("client_fleet"));
        claims["email"] = json!(format!("{user}@example.com"));
        self.double.state.mint(Family::Mcp, &claims)
    }
}

/// A tool call; its `structuredContent`.
async fn call(base: &str, token: &str, tool: &str, arguments: Value) -> Value {
    support::mcp::call_tool(base, Some(token), tool, arguments).await["structuredContent"].clone()
}

async fn ok(base: &str, token: &str, tool: &str, arguments: Value) -> Value {
    let result = call(base, token, tool, arguments.clone()).await;
    assert!(result.get("error").is_none(), "{tool} {arguments}: {result}");
    result["data"].clone()
}

fn names(search: &Value) -> Vec<String> {
    let mut names: Vec<String> = search["items"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .filter_map(|item| item["name"].as_str().or(item["entity"]["name"].as_str()).map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_write_on_one_instance_is_read_at_once_on_the_other() {
    let f = fleet(&[]).await;
    let alice = f.token("user_01ALICE");
    let ws = ok(&f.a, &alice, "workspace_tool", json!({"operation": "create_workspace", "name": "Fleet"}))
        .await["id"]
        .clone();
    let first = ok(
        &f.a,
        &alice,
        "entity_tool",
        json!({"operation": "create_entity", "workspace_id": ws, "type": "doc", "name": "Alpha plan"}),
    )
    .await;
    let search = json!({"operation": "search_entities", "workspace_id": ws, "query": "alpha"});
    let stats = json!({"operation": "get_query_stats", "workspace_id": ws});

    assert_eq!(names(&ok(&f.b, &alice, "entity_tool", search.clone()).await), ["Alpha plan"], "miss, stored");
    assert_eq!(names(&ok(&f.b, &alice, "entity_tool", search.clone()).await), ["Alpha plan"], "hit");
    assert!(f.kv.zcard("cache:index").await.expect("zcard") >= 1, "the answer is in the shared cache");
    let before = ok(&f.b, &alice, "query_tool", stats.clone()).await;

    // A create names the workspace in its arguments.
    ok(
        &f.a,
        &alice,
        "entity_tool",
        json!({"operation": "create_entity", "workspace_id": ws, "type": "doc", "name": "Alpha two"}),
    )
    .await;
    assert_eq!(names(&ok(&f.b, &alice, "entity_tool", search.clone()).await), ["Alpha plan", "Alpha two"]);
    let after = ok(&f.b, &alice, "query_tool", stats.clone()).await;
    assert_ne!(before, after, "stats follow the write");

    // An update names only the entity: the workspace comes from its result.
    ok(
        &f.a,
        &alice,
        "entity_tool",
        json!({"operation": "update_entity", "entity_id": first["id"], "name": "Alpha final"}),
    )
    .await;
    assert_eq!(names(&ok(&f.b, &alice, "entity_tool", search.clone()).await), ["Alpha final", "Alpha two"]);

    // A delete's result names no workspace: everything is invalidated instead.
    ok(&f.a, &alice, "entity_tool", json!({"operation": "delete_entity", "entity_id": first["id"]})).await;
    assert_eq!(names(&ok(&f.b, &alice, "entity_tool", search.clone()).await), ["Alpha two"]);

    // An entity-addressed read (the graph) follows a relationship created on the other side.
    let two = &ok(&f.b, &alice, "entity_tool", search.clone()).await["items"][0];
    let two_id = two["id"].as_str().or(two["entity"]["id"].as_str()).expect("id").to_owned();
    let third = ok(
        &f.a,
        &alice,
        "entity_tool",
        json!({"operation": "create_entity", "workspace_id": ws, "type": "doc", "name": "Gamma"}),
    )
    .await;
    let graph = json!({"operation": "get_relationship_graph", "entity_id": two_id, "direction": "both"});
    let edges = |g: &Value| g["edges"].as_array().map_or(0, Vec::len);
    assert_eq!(edges(&ok(&f.b, &alice, "relationship_tool", graph.clone()).await), 0);
    assert_eq!(edges(&ok(&f.b, &alice, "relationship_tool", graph.clone()).await), 0, "cached");
    ok(&f.a, &alice, "relationship_tool", json!({"operation": "create_relationship", "source_id": two_id, "target_id": third["id"], "type": "cites"})).await;
    assert_eq!(edges(&ok(&f.b, &alice, "relationship_tool", graph.clone()).await), 1, "never stale");
}

#[tokio::test]
async fn one_user_never_gets_an_answer_cached_for_another() {
    let f = fleet(&[]).await;
    let (alice, bob) = (f.token("user_01ALICE"), f.token("user_01BOB"));
    let ws = ok(&f.a, &alice, "workspace_tool", json!({"operation": "create_workspace", "name": "Private"}))
        .await["id"]
        .clone();
    ok(
        &f.a,
        &alice,
        "entity_tool",
        json!({"operation": "create_entity", "workspace_id": ws, "type": "doc", "name": "Secret plan"}),
    )
    .await;
    let search = json!({"operation": "search_entities", "workspace_id": ws, "query": "secret"});
    assert_eq!(names(&ok(&f.b, &alice, "entity_tool", search.clone()).await), ["Secret plan"]);
    assert_eq!(names(&ok(&f.b, &alice, "entity_tool", search.clone()).await), ["Secret plan"]);
    let refused = call(&f.b, &bob, "entity_tool", search.clone()).await;
    assert!(refused.get("error").is_some(), "bob is no member: {refused}");

    // Membership changes are seen at once, in both directions.
    ok(&f.b, &bob, "workspace_tool", json!({"operation": "create_workspace", "name": "Bob's"})).await;
    ok(
        &f.a,
        &alice,
        "workspace_tool",
        json!({"operation": "set_member", "workspace_id": ws, "user_id": "user_01BOB", "role": "viewer"}),
    )
    .await;
    assert_eq!(names(&ok(&f.b, &bob, "entity_tool", search.clone()).await), ["Secret plan"]);
    ok(
        &f.a,
        &alice,
        "workspace_tool",
        json!({"operation": "remove_member", "workspace_id": ws, "user_id": "user_01BOB"}),
    )
    .await;
    let refused = call(&f.b, &bob, "entity_tool", search.clone()).await;
    assert!(refused.get("error").is_some(), "removed: no cached answer survives: {refused}");
}

#[tokio::test]
async fn cache_enabled_false_stores_nothing() {
    let f = fleet(&[("CACHE_ENABLED", "false")]).await;
    let alice = f.token("user_01ALICE");
    let ws = ok(&f.a, &alice, "workspace_tool", json!({"operation": "create_workspace", "name": "Uncached"}))
        .await["id"]
        .clone();
    let search = json!({"operation": "search_entities", "workspace_id": ws, "query": "anything"});
    ok(&f.b, &alice, "entity_tool", search.clone()).await;
    ok(&f.b, &alice, "entity_tool", search).await;
    assert_eq!(f.kv.zcard("cache:index").await.expect("zcard"), 0);
}
