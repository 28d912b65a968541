//! The domain functions, called exactly as production calls them — as different users, through
//! both adapters (direct Postgres, and PostgREST via the local double) — against real Postgres.

mod support;

use std::time::Duration;

use atoms::config::{DatabaseConfig, PostgrestIdentity, SupabaseConfig};
use atoms::db::{Db, DbError, Identity};
use atoms::secret::Secret;
use serde_json::{Value, json};

/// One database, the two adapters' view of it, and three users.
struct Env {
    db: Db,
    admin_url: Secret,
    alice: Identity,
    bob: Identity,
    carol: Identity,
}

fn database_config() -> DatabaseConfig {
    atoms::config::Config::embedded().database
}

fn user(sub: &str) -> Identity {
    let mut identity = Identity::new(sub);
    identity.email = Some(format!("{sub}@example.com"));
    identity.request_id = Some(format!("req-{sub}"));
    identity
}

async fn direct_env() -> Env {
    let url = support::postgres::fresh_database().await;
    let db = Db::direct(&url, &database_config()).expect("direct adapter");
    Env {
        db,
        admin_url: url,
        alice: user("user_01ALICE"),
        bob: user("user_01BOB"),
        carol: user("user_01CAROL"),
    }
}

async fn postgrest_env() -> Env {
    let url = support::postgres::fresh_database().await;
    let base = support::postgrest::start(url.expose()).await;
    let config = SupabaseConfig {
        url: reqwest::Url::parse(&base).expect("url"),
        anon_key: Secret::new(support::postgrest::ANON_KEY),
        identity: PostgrestIdentity::Mint { jwt_secret: Secret::new(support::postgrest::JWT_SECRET) },
    };
    let db = Db::Postgrest(std::sync::Arc::new(atoms::db::postgrest::PostgrestDb::new(
        config,
        reqwest::Client::new(),
        Duration::from_secs(10),
    )));
    Env {
        db,
        admin_url: url,
        alice: user("user_01ALICE"),
        bob: user("user_01BOB"),
        carol: user("user_01CAROL"),
    }
}

impl Env {
    async fn ok(&self, who: &Identity, function: &str, args: Value) -> Value {
        self.db
            .rpc(function, &args, who)
            .await
            .unwrap_or_else(|e| panic!("{function}({args}) as {}: {e:?}", who.subject))
    }

    async fn err(&self, who: &Identity, function: &str, args: Value) -> DbError {
        match self.db.rpc(function, &args, who).await {
            Ok(value) => panic!("{function}({args}) as {} should fail, returned {value}", who.subject),
            Err(error) => error,
        }
    }

    async fn workspace(&self, who: &Identity, name: &str) -> String {
        id(&self.ok(who, "atoms_workspace_create", json!({"name": name})).await)
    }

    async fn entity(&self, who: &Identity, workspace: &str, kind: &str, name: &str) -> String {
        let args = json!({"workspace_id": workspace, "type": kind, "name": name});
        id(&self.ok(who, "atoms_entity_create", args).await)
    }

    /// Makes `member` (who must have signed in) a member of `workspace` with `role`.
    async fn add_member(&self, owner: &Identity, workspace: &str, member: &Identity, role: &str) {
        self.ok(member, "atoms_user_me", json!({})).await; // signs in
        let args = json!({"workspace_id": workspace, "user_id": member.subject, "role": role});
        self.ok(owner, "atoms_workspace_member_set", args).await;
    }

    /// A superuser query (outside RLS), for checking what is really stored.
    async fn admin_count(&self, sql: &str) -> i64 {
        let (client, connection) =
            tokio_postgres::connect(self.admin_url.expose(), tokio_postgres::NoTls).await.expect("admin");
        tokio::spawn(connection);
        client.query_one(sql, &[]).await.expect("admin query").get(0)
    }
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap_or_else(|| panic!("no id in {value}")).to_owned()
}

fn assert_code(error: &DbError, code: &str) {
    assert_eq!(error.code(), code, "{error:?}");
}

// ---------------------------------------------------------------------------------------------

async fn workspace_lifecycle(env: Env) {
    let ws =
        env.ok(&env.alice, "atoms_workspace_create", json!({"name": " Acme ", "description": "d"})).await;
    assert_eq!(ws["name"], "Acme");
    assert_eq!(ws["role"], "owner");
    let ws_id = id(&ws);
    let listed = env.ok(&env.alice, "atoms_workspace_list", json!({})).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    let updated = env
        .ok(
            &env.alice,
            "atoms_workspace_update",
            json!({"workspace_id": ws_id, "name": "Acme Inc", "metadata": {"a": 1}}),
        )
        .await;
    assert_eq!(updated["name"], "Acme Inc");
    assert_eq!(updated["metadata"], json!({"a": 1}));
    env.entity(&env.alice, &ws_id, "project", "Apollo").await;
    env.entity(&env.alice, &ws_id, "person", "Ada").await;
    let projects = env.ok(&env.alice, "atoms_workspace_projects", json!({"workspace_id": ws_id})).await;
    assert_eq!(projects["items"].as_array().map(Vec::len), Some(1));
    let info = env.ok(&env.alice, "atoms_workspace_info", json!({"workspace_id": ws_id})).await;
    assert_eq!(info["entities_by_type"], json!({"person": 1, "project": 1}));
    assert_eq!(info["members"].as_array().map(Vec::len), Some(1));
    assert!(info["last_activity_at"].is_string());

    env.ok(&env.alice, "atoms_workspace_delete", json!({"workspace_id": ws_id})).await;
    assert_code(
        &env.err(&env.alice, "atoms_workspace_get", json!({"workspace_id": ws_id})).await,
        "not_found",
    );
    let listed = env.ok(&env.alice, "atoms_workspace_list", json!({})).await;
    assert_eq!(listed["items"], json!([]), "soft-deleted workspaces never come back");
    let stored =
        env.admin_count(&format!("select count(*) from atoms_workspaces where id = '{ws_id}'")).await;
    assert_eq!(stored, 1, "soft delete keeps the row");
}

async fn outsiders_cannot_see_change_or_detect_workspaces(env: Env) {
    let ws = env.workspace(&env.alice, "Private").await;
    let entity = env.entity(&env.alice, &ws, "note", "secret plans").await;
    let missing = "00000000-0000-4000-8000-000000000000";
    assert_eq!(env.ok(&env.bob, "atoms_workspace_list", json!({})).await["items"], json!([]));
    for (function, args) in [
        ("atoms_workspace_get", json!({"workspace_id": ws})),
        ("atoms_workspace_update", json!({"workspace_id": ws, "name": "pwned"})),
        ("atoms_workspace_delete", json!({"workspace_id": ws})),
        ("atoms_workspace_info", json!({"workspace_id": ws})),
        ("atoms_entity_list", json!({"workspace_id": ws})),
        ("atoms_entity_create", json!({"workspace_id": ws, "type": "note", "name": "x"})),
        ("atoms_entity_get", json!({"entity_id": entity})),
        ("atoms_entity_update", json!({"entity_id": entity, "name": "x"})),
        ("atoms_entity_delete", json!({"entity_id": entity})),
        ("atoms_entity_search", json!({"workspace_id": ws, "query": "secret"})),
        ("atoms_query_entities", json!({"workspace_id": ws})),
        ("atoms_stats", json!({"workspace_id": ws})),
        ("atoms_export", json!({"workspace_id": ws})),
    ] {
        let seen = env.err(&env.bob, function, args.clone()).await;
        assert_code(&seen, "not_found");
        // Indistinguishable from an id that does not exist at all.
        let mut absent = args.clone();
        for key in ["workspace_id", "entity_id"] {
            if absent.get(key).is_some() {
                absent[key] = json!(missing);
            }
        }
        let unseen = env.err(&env.bob, function, absent).await;
        assert_eq!(seen, unseen, "{function} reveals existence");
    }
    let stored = env
        .admin_count(&format!(
            "select count(*) from atoms_entities where id = '{entity}' and name = 'secret plans'"
        ))
        .await;
    assert_eq!(stored, 1, "nothing of Alice's changed");
}

async fn viewers_read_but_cannot_write(env: Env) {
    let ws = env.workspace(&env.alice, "Shared").await;
    let entity = env.entity(&env.alice, &ws, "doc", "Spec").await;
    env.add_member(&env.alice, &ws, &env.bob, "viewer").await;
    env.add_member(&env.alice, &ws, &env.carol, "editor").await;
    assert_eq!(env.ok(&env.bob, "atoms_entity_get", json!({"entity_id": entity})).await["name"], "Spec");
    for (function, args) in [
        ("atoms_entity_create", json!({"workspace_id": ws, "type": "doc", "name": "x"})),
        ("atoms_entity_update", json!({"entity_id": entity, "name": "x"})),
        ("atoms_entity_delete", json!({"entity_id": entity})),
        ("atoms_workspace_update", json!({"workspace_id": ws, "name": "x"})),
        ("atoms_workspace_delete", json!({"workspace_id": ws})),
    ] {
        assert_code(&env.err(&env.bob, function, args).await, "permission_denied");
    }
    // An editor writes, but cannot delete the workspace or manage members.
    env.ok(&env.carol, "atoms_entity_update", json!({"entity_id": entity, "name": "Spec v2"})).await;
    assert_code(
        &env.err(&env.carol, "atoms_workspace_delete", json!({"workspace_id": ws})).await,
        "permission_denied",
    );
    let promote = json!({"workspace_id": ws, "user_id": env.bob.subject, "role": "owner"});
    assert_code(&env.err(&env.carol, "atoms_workspace_member_set", promote).await, "permission_denied");
    // Removing a member takes their access away.
    env.ok(
        &env.alice,
        "atoms_workspace_member_remove",
        json!({"workspace_id": ws, "user_id": env.bob.subject}),
    )
    .await;
    assert_code(&env.err(&env.bob, "atoms_entity_get", json!({"entity_id": entity})).await, "not_found");
}

async fn entity_batch_is_all_or_nothing(env: Env) {
    let ws = env.workspace(&env.alice, "Batch").await;
    let created = env
        .ok(
            &env.alice,
            "atoms_entity_create",
            json!({"workspace_id": ws, "items": [
                {"type": "person", "name": "Ada", "metadata": {"born": 1815}},
                {"type": "person", "name": "Grace"},
            ]}),
        )
        .await;
    assert_eq!(created["items"].as_array().map(Vec::len), Some(2));
    let error = env
        .err(
            &env.alice,
            "atoms_entity_create",
            json!({"workspace_id": ws, "items": [
                {"type": "person", "name": "Alan"},
                {"type": "Not A Type", "name": "Bad"},
            ]}),
        )
        .await;
    assert_code(&error, "invalid_argument");
    let count = env.admin_count("select count(*) from atoms_entities").await;
    assert_eq!(count, 2, "the failed batch left nothing behind");
}

async fn entity_list_pages_with_a_stable_cursor(env: Env) {
    let ws = env.workspace(&env.alice, "Pages").await;
    let specs: Vec<Value> =
        (0..25).map(|i| json!({"type": "item", "name": format!("item {i:02}")})).collect();
    env.ok(&env.alice, "atoms_entity_create", json!({"workspace_id": ws, "items": specs})).await;
    let mut seen = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let page = env
            .ok(&env.alice, "atoms_entity_list", json!({"workspace_id": ws, "limit": 10, "cursor": cursor}))
            .await;
        seen.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|e| e["name"].as_str().expect("name").to_owned()),
        );
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("item {i:02}")).collect();
    assert_eq!(seen, expected, "every entity once, in creation order");
    let bad = env
        .err(&env.alice, "atoms_entity_list", json!({"workspace_id": ws, "cursor": "not-a-cursor!"}))
        .await;
    assert_code(&bad, "invalid_argument");
}

async fn entity_update_merge_replace_and_versions(env: Env) {
    let ws = env.workspace(&env.alice, "Versions").await;
    let created = env
        .ok(
            &env.alice,
            "atoms_entity_create",
            json!({"workspace_id": ws, "type": "doc", "name": "Doc",
            "metadata": {"a": 1, "b": 2}}),
        )
        .await;
    let entity = id(&created);
    assert_eq!(created["version"], 1);
    let merged = env
        .ok(
            &env.alice,
            "atoms_entity_update",
            json!({"entity_id": entity, "metadata": {"b": null, "c": 3}, "expected_version": 1}),
        )
        .await;
    assert_eq!(merged["metadata"], json!({"a": 1, "c": 3}));
    assert_eq!(merged["version"], 2);
    let stale = env
        .err(
            &env.alice,
            "atoms_entity_update",
            json!({"entity_id": entity, "name": "x", "expected_version": 1}),
        )
        .await;
    assert_code(&stale, "conflict");
    let replaced = env
        .ok(
            &env.alice,
            "atoms_entity_update",
            json!({"entity_id": entity, "metadata": {"z": true}, "metadata_mode": "replace"}),
        )
        .await;
    assert_eq!(replaced["metadata"], json!({"z": true}));
    assert_eq!(replaced["version"], 3);
    let nothing = env.err(&env.alice, "atoms_entity_update", json!({"entity_id": entity})).await;
    assert_code(&nothing, "invalid_argument");
}

async fn entity_delete_is_soft_and_takes_relationships(env: Env) {
    let ws = env.workspace(&env.alice, "Delete").await;
    let a = env.entity(&env.alice, &ws, "node", "A").await;
    let b = env.entity(&env.alice, &ws, "node", "B").await;
    env.ok(&env.alice, "atoms_relationship_create", json!({"source_id": a, "target_id": b, "type": "links"}))
        .await;
    let deleted = env.ok(&env.alice, "atoms_entity_delete", json!({"entity_id": a})).await;
    assert_eq!(deleted["relationships_deleted"], 1);
    assert_code(&env.err(&env.alice, "atoms_entity_get", json!({"entity_id": a})).await, "not_found");
    let listed = env.ok(&env.alice, "atoms_entity_list", json!({"workspace_id": ws})).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    let edges = env.ok(&env.alice, "atoms_relationship_list", json!({"entity_id": b})).await;
    assert_eq!(edges["items"], json!([]));
    assert_code(&env.err(&env.alice, "atoms_entity_delete", json!({"entity_id": a})).await, "not_found");
}

async fn search_ranks_and_tolerates_typos(env: Env) {
    let ws = env.workspace(&env.alice, "Search").await;
    env.ok(&env.alice, "atoms_entity_create", json!({"workspace_id": ws, "items": [
        {"type": "project", "name": "Atoms Platform", "metadata": {"summary": "knowledge graph for teams"}},
        {"type": "note", "name": "Lunch menu", "metadata": {"summary": "the graph of sandwiches"}},
        {"type": "person", "name": "Ada Lovelace"},
    ]})).await;
    let hits = env
        .ok(&env.alice, "atoms_entity_search", json!({"workspace_id": ws, "query": "knowledge graph"}))
        .await;
    let items = hits["items"].as_array().expect("items");
    assert_eq!(items[0]["name"], "Atoms Platform");
    assert_eq!(items[0]["match"], "fulltext");
    assert!(items[0]["snippet"].as_str().expect("snippet").contains("<mark>"));
    let typo =
        env.ok(&env.alice, "atoms_entity_search", json!({"workspace_id": ws, "query": "Lovelase"})).await;
    assert_eq!(typo["items"][0]["name"], "Ada Lovelace");
    assert_eq!(typo["items"][0]["match"], "fuzzy");
    let typed = env
        .ok(&env.alice, "atoms_entity_search", json!({"workspace_id": ws, "query": "graph", "type": "note"}))
        .await;
    assert_eq!(typed["items"].as_array().map(Vec::len), Some(1));
    assert_code(
        &env.err(&env.alice, "atoms_entity_search", json!({"workspace_id": ws, "query": " "})).await,
        "invalid_argument",
    );
}

async fn relationships_and_graph(env: Env) {
    let ws = env.workspace(&env.alice, "Graph").await;
    let a = env.entity(&env.alice, &ws, "node", "A").await;
    let b = env.entity(&env.alice, &ws, "node", "B").await;
    let c = env.entity(&env.alice, &ws, "node", "C").await;
    let edge = |s: &str, t: &str| json!({"source_id": s, "target_id": t, "type": "next"});
    let ab = id(&env.ok(&env.alice, "atoms_relationship_create", edge(&a, &b)).await);
    env.ok(&env.alice, "atoms_relationship_create", edge(&b, &c)).await;
    env.ok(&env.alice, "atoms_relationship_create", edge(&c, &a)).await; // a cycle
    assert_code(&env.err(&env.alice, "atoms_relationship_create", edge(&a, &b)).await, "conflict");

    let other = env.workspace(&env.alice, "Elsewhere").await;
    let x = env.entity(&env.alice, &other, "node", "X").await;
    assert_code(&env.err(&env.alice, "atoms_relationship_create", edge(&a, &x)).await, "invalid_argument");

    let out =
        env.ok(&env.alice, "atoms_relationship_list", json!({"entity_id": a, "direction": "out"})).await;
    assert_eq!(out["items"][0]["entity"]["name"], "B");
    let both =
        env.ok(&env.alice, "atoms_relationship_list", json!({"entity_id": a, "direction": "both"})).await;
    assert_eq!(both["items"].as_array().map(Vec::len), Some(2));

    let updated = env
        .ok(
            &env.alice,
            "atoms_relationship_update",
            json!({"relationship_id": ab, "metadata": {"weight": 2}}),
        )
        .await;
    assert_eq!(updated["metadata"], json!({"weight": 2}));

    let graph = env.ok(&env.alice, "atoms_relationship_graph", json!({"entity_id": a, "depth": 5})).await;
    assert_eq!(graph["nodes"].as_array().map(Vec::len), Some(3), "cycle-safe: each node once");
    assert_eq!(graph["edges"].as_array().map(Vec::len), Some(3));
    assert_eq!(graph["truncated"], false);
    let capped = env
        .ok(&env.alice, "atoms_relationship_graph", json!({"entity_id": a, "depth": 5, "max_nodes": 2}))
        .await;
    assert_eq!(capped["nodes"].as_array().map(Vec::len), Some(2));
    assert_eq!(capped["truncated"], true, "truncation is never silent");

    env.ok(&env.alice, "atoms_relationship_delete", json!({"relationship_id": ab})).await;
    assert_code(
        &env.err(&env.alice, "atoms_relationship_update", json!({"relationship_id": ab, "type": "x"})).await,
        "not_found",
    );
    let depth = env.err(&env.alice, "atoms_relationship_graph", json!({"entity_id": a, "depth": 9})).await;
    assert_code(&depth, "invalid_argument");
}

async fn workflow_failure_leaves_nothing_and_is_recorded(env: Env) {
    let ws = env.workspace(&env.alice, "Flows").await;
    let workflow = env
        .ok(&env.alice, "atoms_workflow_create", json!({"workspace_id": ws, "name": "three steps", "steps": [
            {"operation": "entity_tool.create_entity", "arguments": {"type": "person", "name": "${inputs.name}"}},
            {"operation": "entity_tool.create_entity", "arguments": {"type": "team", "name": "Team of ${inputs.name}"}},
            {"operation": "relationship_tool.create_relationship", "arguments": {"source_id": "${steps.0.id}", "target_id": "${steps.0.id}", "type": "Bad Type"}},
        ]}))
        .await;
    let run = env
        .ok(
            &env.alice,
            "atoms_workflow_execute",
            json!({"workflow_id": id(&workflow), "inputs": {"name": "Ada"}}),
        )
        .await;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["failed_step"], 2);
    assert_eq!(run["error"]["code"], "invalid_argument");
    assert_eq!(run["error"]["operation"], "relationship_tool.create_relationship");
    assert_eq!(env.admin_count("select count(*) from atoms_entities").await, 0, "steps 1 and 2 left nothing");
    let status = env.ok(&env.alice, "atoms_workflow_run_status", json!({"run_id": run["run_id"]})).await;
    assert_eq!(status["status"], "failed", "the failed run is recorded");
    let forward = env
        .err(
            &env.alice,
            "atoms_workflow_create",
            json!({"workspace_id": ws, "name": "bad ref", "steps": [
                {"operation": "entity_tool.read_entity", "arguments": {"entity_id": "${steps.0.id}"}},
            ]}),
        )
        .await;
    assert_code(&forward, "invalid_argument");
}

async fn workflow_idempotency_and_dry_run(env: Env) {
    let ws = env.workspace(&env.alice, "Flows").await;
    let workflow = id(&env
        .ok(&env.alice, "atoms_workflow_create", json!({"workspace_id": ws, "name": "onboard", "steps": [
            {"operation": "entity_tool.create_entity", "arguments": {"type": "person", "name": "${inputs.name}"}},
            {"operation": "entity_tool.create_entity", "arguments": {"type": "team", "name": "Team of ${inputs.name}"}},
            {"operation": "relationship_tool.create_relationship", "arguments": {"source_id": "${steps.0.id}", "target_id": "${steps.1.id}", "type": "member_of"}},
        ]}))
        .await);
    let dry = env
        .ok(
            &env.alice,
            "atoms_workflow_execute",
            json!({"workflow_id": workflow, "inputs": {"name": "Dry"}, "dry_run": true}),
        )
        .await;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["outputs"][1]["name"], "Team of Dry");
    assert_eq!(env.admin_count("select count(*) from atoms_entities").await, 0, "a dry run rolls back");

    let args = json!({"workflow_id": workflow, "inputs": {"name": "Ada"}, "idempotency_key": "k-1"});
    let first = env.ok(&env.alice, "atoms_workflow_execute", args.clone()).await;
    assert_eq!(first["status"], "succeeded");
    let again = env.ok(&env.alice, "atoms_workflow_execute", args).await;
    assert_eq!(again["run_id"], first["run_id"]);
    assert_eq!(again["replayed"], true);
    assert_eq!(env.admin_count("select count(*) from atoms_entities").await, 2, "ran once");
    assert_eq!(env.admin_count("select count(*) from atoms_relationships").await, 1);

    let listed = env.ok(&env.alice, "atoms_workflow_list", json!({"workspace_id": ws})).await;
    assert_eq!(listed["items"][0]["last_run"]["status"], "succeeded");
    env.add_member(&env.alice, &ws, &env.bob, "viewer").await;
    let denied = env.err(&env.bob, "atoms_workflow_execute", json!({"workflow_id": workflow})).await;
    assert_code(&denied, "permission_denied");
    env.ok(&env.alice, "atoms_workflow_delete", json!({"workflow_id": workflow})).await;
    assert_code(
        &env.err(&env.alice, "atoms_workflow_execute", json!({"workflow_id": workflow})).await,
        "not_found",
    );
}

async fn structured_queries_are_injection_proof(env: Env) {
    let ws = env.workspace(&env.alice, "Query").await;
    let specs: Vec<Value> = (0..12)
        .map(|i| json!({"type": if i % 2 == 0 { "task" } else { "bug" }, "name": format!("t{i:02}"),
                        "metadata": {"priority": i, "owner": if i < 6 { "ada" } else { "grace" }, "tags": ["x", format!("t{i}")]}}))
        .collect();
    env.ok(&env.alice, "atoms_entity_create", json!({"workspace_id": ws, "items": specs})).await;
    let query = |filters: Value| json!({"workspace_id": ws, "filters": filters, "limit": 100});
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| e["name"].as_str().expect("name").to_owned())
            .collect()
    };
    let high = env
        .ok(
            &env.alice,
            "atoms_query_entities",
            query(json!([
        {"field": "metadata.priority", "op": "gte", "value": 9},
        {"field": "type", "op": "eq", "value": "bug"}])),
        )
        .await;
    assert_eq!(names(&high), ["t09", "t11"]);
    let owners = env
        .ok(
            &env.alice,
            "atoms_query_entities",
            query(json!([
        {"field": "metadata.owner", "op": "in", "value": ["grace"]},
        {"field": "name", "op": "ilike", "value": "t1%"}])),
        )
        .await;
    assert_eq!(names(&owners), ["t10", "t11"]);
    let tagged = env
        .ok(
            &env.alice,
            "atoms_query_entities",
            query(json!([
        {"field": "metadata.tags", "op": "contains", "value": ["t3"]}])),
        )
        .await;
    assert_eq!(names(&tagged), ["t03"]);
    let exists = env
        .ok(
            &env.alice,
            "atoms_query_entities",
            query(json!([
        {"field": "metadata.missing", "op": "exists", "value": true}])),
        )
        .await;
    assert_eq!(names(&exists), Vec::<String>::new());

    // Sorted pages with a cursor: descending priority, 5 at a time.
    let mut seen = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let page = env
            .ok(
                &env.alice,
                "atoms_query_entities",
                json!({"workspace_id": ws, "limit": 5, "cursor": cursor,
            "sort": {"field": "version", "direction": "desc"}}),
            )
            .await;
        seen.extend(names(&page));
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(seen.len(), 12);

    // Injection attempts: rejected identifiers, literal values.
    for filter in [
        json!({"field": "name; drop table atoms_entities", "op": "eq", "value": "x"}),
        json!({"field": "metadata.a' or '1'='1", "op": "eq", "value": "x"}),
        json!({"field": "name", "op": "= 'x' or true --", "value": "x"}),
    ] {
        assert_code(
            &env.err(&env.alice, "atoms_query_entities", query(json!([filter]))).await,
            "invalid_argument",
        );
    }
    let literal = env
        .ok(
            &env.alice,
            "atoms_query_entities",
            query(json!([
        {"field": "name", "op": "eq", "value": "x' or '1'='1"}])),
        )
        .await;
    assert_eq!(literal["items"], json!([]));
    assert_eq!(env.admin_count("select count(*) from atoms_entities").await, 12);
}

async fn search_stats_and_export(env: Env) {
    let ws = env.workspace(&env.alice, "Stats").await;
    let hub = env.entity(&env.alice, &ws, "service", "Hub service").await;
    for i in 0..3 {
        let spoke = env.entity(&env.alice, &ws, "service", &format!("Spoke {i}")).await;
        env.ok(
            &env.alice,
            "atoms_relationship_create",
            json!({"source_id": spoke, "target_id": hub, "type": "calls"}),
        )
        .await;
    }
    let advanced = env
        .ok(
            &env.alice,
            "atoms_search_advanced",
            json!({"workspace_id": ws, "query": "spoke",
            "types": ["service"], "created_after": "2000-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(advanced["total"], 3);
    let none = env
        .ok(
            &env.alice,
            "atoms_search_advanced",
            json!({"workspace_id": ws, "created_before": "2000-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(none["total"], 0);
    let bad = env
        .err(
            &env.alice,
            "atoms_search_advanced",
            json!({"workspace_id": ws, "created_after": "yesterday-ish"}),
        )
        .await;
    assert_code(&bad, "invalid_argument");

    let stats = env.ok(&env.alice, "atoms_stats", json!({"workspace_id": ws})).await;
    assert_eq!(stats["entities_by_type"], json!({"service": 4}));
    assert_eq!(stats["relationships_by_type"], json!({"calls": 3}));
    assert_eq!(stats["created_per_day"].as_array().map(Vec::len), Some(30));
    assert_eq!(stats["most_connected"][0]["name"], "Hub service");
    assert_eq!(stats["most_connected"][0]["degree"], 3);

    let first = env.ok(&env.alice, "atoms_export", json!({"workspace_id": ws, "limit": 3})).await;
    assert_eq!(first["rows"].as_array().map(Vec::len), Some(3));
    let rest = env
        .ok(
            &env.alice,
            "atoms_export",
            json!({"workspace_id": ws, "limit": 3, "cursor": first["next_cursor"]}),
        )
        .await;
    assert_eq!(rest["rows"].as_array().map(Vec::len), Some(1));
    assert!(rest["next_cursor"].is_null());
    let edges =
        env.ok(&env.alice, "atoms_export", json!({"workspace_id": ws, "kind": "relationships"})).await;
    assert_eq!(edges["rows"].as_array().map(Vec::len), Some(3));
}

async fn invalid_arguments_are_named(env: Env) {
    let ws = env.workspace(&env.alice, "Args").await;
    for (function, args, mention) in [
        ("atoms_workspace_create", json!({}), "name is required"),
        ("atoms_workspace_create", json!({"name": 42}), "name must be a string"),
        ("atoms_workspace_get", json!({"workspace_id": "not-a-uuid"}), "id must be a UUID"),
        (
            "atoms_entity_create",
            json!({"workspace_id": ws, "type": "x", "name": "n", "metadata": [1]}),
            "metadata must be a JSON object",
        ),
        ("atoms_entity_list", json!({"workspace_id": ws, "limit": 100000}), "limit must be a whole number"),
        ("atoms_workspace_list", json!([]), "arguments must be a JSON object"),
    ] {
        let error = env.err(&env.alice, function, args).await;
        assert_code(&error, "invalid_argument");
        assert!(error.to_string().contains(mention), "{function}: {error}");
    }
    let unknown = env.err(&env.alice, "atoms_no_such_function", json!({})).await;
    assert!(matches!(unknown.code(), "not_found" | "internal"), "{unknown:?}");
}

async fn unauthenticated_calls_are_refused(env: Env) {
    let nobody = Identity::new("");
    assert_code(&env.err(&nobody, "atoms_workspace_create", json!({"name": "x"})).await, "unauthenticated");
}

async fn every_change_writes_an_audit_row_with_the_request_id(env: Env) {
    let ws = env.workspace(&env.alice, "Audit").await;
    let entity = env.entity(&env.alice, &ws, "doc", "D").await;
    env.ok(&env.alice, "atoms_entity_update", json!({"entity_id": entity, "name": "D2"})).await;
    env.ok(&env.alice, "atoms_entity_delete", json!({"entity_id": entity})).await;
    let rows = env
        .admin_count(&format!(
            "select count(*) from atoms_audit_log where workspace_id = '{ws}' and request_id = 'req-user_01ALICE' \
             and action in ('workspace.create', 'entity.create', 'entity.update', 'entity.delete')"
        ))
        .await;
    assert_eq!(rows, 4);
    // A failed change writes nothing: its audit row rolls back with it.
    env.err(&env.alice, "atoms_entity_create", json!({"workspace_id": ws, "type": "Bad", "name": "x"})).await;
    let all =
        env.admin_count(&format!("select count(*) from atoms_audit_log where workspace_id = '{ws}'")).await;
    assert_eq!(all, 4);
}

/// Every function, systematically: unknown ids are not_found, malformed arguments are
/// invalid_argument, and viewers are refused every write with permission_denied.
async fn every_function_handles_unknown_ids_bad_input_and_viewers(env: Env) {
    let ws = env.workspace(&env.alice, "Matrix").await;
    let a = env.entity(&env.alice, &ws, "node", "A").await;
    let b = env.entity(&env.alice, &ws, "node", "B").await;
    let rel = id(&env
        .ok(&env.alice, "atoms_relationship_create", json!({"source_id": a, "target_id": b, "type": "t"}))
        .await);
    let flow = id(&env
        .ok(
            &env.alice,
            "atoms_workflow_create",
            json!({"workspace_id": ws, "name": "f", "steps": [
            {"operation": "entity_tool.create_entity", "arguments": {"type": "node", "name": "C"}}]}),
        )
        .await);
    env.add_member(&env.alice, &ws, &env.bob, "viewer").await;
    let unknown = "00000000-0000-4000-8000-000000000000";

    // (function, args with a real target, the id-like key to replace, is a write)
    let cases: Vec<(&str, Value, &str, bool)> = vec![
        ("atoms_workspace_get", json!({"workspace_id": ws}), "workspace_id", false),
        ("atoms_workspace_update", json!({"workspace_id": ws, "name": "x"}), "workspace_id", true),
        ("atoms_workspace_delete", json!({"workspace_id": ws}), "workspace_id", true),
        ("atoms_workspace_projects", json!({"workspace_id": ws}), "workspace_id", false),
        ("atoms_workspace_info", json!({"workspace_id": ws}), "workspace_id", false),
        (
            "atoms_workspace_member_set",
            json!({"workspace_id": ws, "user_id": env.carol.subject, "role": "viewer"}),
            "workspace_id",
            true,
        ),
        ("atoms_entity_list", json!({"workspace_id": ws}), "workspace_id", false),
        (
            "atoms_entity_create",
            json!({"workspace_id": ws, "type": "node", "name": "x"}),
            "workspace_id",
            true,
        ),
        ("atoms_entity_get", json!({"entity_id": a}), "entity_id", false),
        ("atoms_entity_update", json!({"entity_id": a, "name": "x"}), "entity_id", true),
        ("atoms_entity_delete", json!({"entity_id": a}), "entity_id", true),
        ("atoms_entity_search", json!({"workspace_id": ws, "query": "A"}), "workspace_id", false),
        (
            "atoms_relationship_create",
            json!({"source_id": a, "target_id": b, "type": "u"}),
            "source_id",
            true,
        ),
        ("atoms_relationship_list", json!({"entity_id": a}), "entity_id", false),
        (
            "atoms_relationship_update",
            json!({"relationship_id": rel, "metadata": {"x": 1}}),
            "relationship_id",
            true,
        ),
        ("atoms_relationship_delete", json!({"relationship_id": rel}), "relationship_id", true),
        ("atoms_relationship_graph", json!({"entity_id": a}), "entity_id", false),
        (
            "atoms_workflow_create",
            json!({"workspace_id": ws, "name": "g", "steps": [{"operation": "entity_tool.read_entity", "arguments": {"entity_id": a}}]}),
            "workspace_id",
            true,
        ),
        ("atoms_workflow_execute", json!({"workflow_id": flow}), "workflow_id", true),
        ("atoms_workflow_list", json!({"workspace_id": ws}), "workspace_id", false),
        ("atoms_workflow_delete", json!({"workflow_id": flow}), "workflow_id", true),
        ("atoms_query_entities", json!({"workspace_id": ws}), "workspace_id", false),
        ("atoms_search_advanced", json!({"workspace_id": ws}), "workspace_id", false),
        ("atoms_stats", json!({"workspace_id": ws}), "workspace_id", false),
        ("atoms_export", json!({"workspace_id": ws}), "workspace_id", false),
    ];
    for (function, args, key, write) in &cases {
        let mut missing = args.clone();
        missing[*key] = json!(unknown);
        assert_code(&env.err(&env.alice, function, missing).await, "not_found");
        let mut malformed = args.clone();
        malformed[*key] = json!("not-a-uuid");
        assert_code(&env.err(&env.alice, function, malformed).await, "invalid_argument");
        let mut wrong_type = args.clone();
        wrong_type[*key] = json!(12);
        assert_code(&env.err(&env.alice, function, wrong_type).await, "invalid_argument");
        if *write {
            assert_code(&env.err(&env.bob, function, args.clone()).await, "permission_denied");
        } else {
            env.ok(&env.bob, function, args.clone()).await;
        }
    }
    let run = env.err(&env.alice, "atoms_workflow_run_status", json!({"run_id": unknown})).await;
    assert_code(&run, "not_found");
    // Nothing a refused viewer tried changed anything.
    assert_eq!(env.admin_count("select count(*) from atoms_entities").await, 2);
}

macro_rules! through_both_adapters {
    ($($case:ident),* $(,)?) => {
        mod direct {
            $( #[tokio::test] async fn $case() { super::$case(super::direct_env().await).await } )*
        }
        mod postgrest {
            $( #[tokio::test] async fn $case() { super::$case(super::postgrest_env().await).await } )*
        }
    };
}

through_both_adapters!(
    workspace_lifecycle,
    outsiders_cannot_see_change_or_detect_workspaces,
    viewers_read_but_cannot_write,
    entity_batch_is_all_or_nothing,
    entity_list_pages_with_a_stable_cursor,
    entity_update_merge_replace_and_versions,
    entity_delete_is_soft_and_takes_relationships,
    search_ranks_and_tolerates_typos,
    relationships_and_graph,
    workflow_failure_leaves_nothing_and_is_recorded,
    workflow_idempotency_and_dry_run,
    structured_queries_are_injection_proof,
    search_stats_and_export,
    invalid_arguments_are_named,
    unauthenticated_calls_are_refused,
    every_change_writes_an_audit_row_with_the_request_id,
    every_function_handles_unknown_ids_bad_input_and_viewers,
);
