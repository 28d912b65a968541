//! Resources, prompts and completion over the wire, as two local users (dev tokens): everything
//! is built from the caller's own data, another user's workspace is "not found" (per era), and
//! the per-caller resource list is never served from the list cache.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::mcp::{call_tool, meta, rpc};

struct Env {
    base: String,
    alice: String,
    bob: String,
    workspace: String,
    entity: String,
}

async fn env() -> Env {
    let url = support::postgres::fresh_database().await;
    let dir = std::env::temp_dir().join(format!("atoms-resources-{}", uuid::Uuid::new_v4().simple()));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let token = |sub: &str| atoms::auth::dev_token::issue(&dir, sub, None, None, 3600, now).expect("token");
    let (alice, bob) = (token("alice"), token("bob"));
    let base = support::spawn_app(support::config(&[
        ("DATABASE_URL", url.expose()),
        ("ATOMS_DATA_DIR", dir.to_str().expect("utf-8")),
    ]))
    .await;
    let data = |result: Value| result["structuredContent"]["data"].clone();
    let workspace = data(
        call_tool(
            &base,
            Some(&alice),
            "workspace_tool",
            json!({"operation": "create_workspace", "name": "Apollo"}),
        )
        .await,
    );
    let workspace = workspace["id"].as_str().expect("id").to_owned();
    let entity = data(
        call_tool(&base, Some(&alice), "entity_tool", json!({"operation": "create_entity", "workspace_id": workspace,
            "items": [{"type": "service", "name": "Billing"}, {"type": "service", "name": "Ledger"}, {"type": "team", "name": "Payments"}]}))
        .await,
    );
    let ids: Vec<&str> =
        entity["items"].as_array().expect("items").iter().map(|e| e["id"].as_str().expect("id")).collect();
    call_tool(&base, Some(&alice), "relationship_tool", json!({"operation": "create_relationship", "source_id": ids[1], "target_id": ids[0], "type": "depends_on"}))
        .await;
    Env { base, alice, bob, workspace, entity: ids[0].to_owned() }
}

async fn request(env: &Env, token: &str, method: &str, params: Value) -> Value {
    let mut params = params;
    params["_meta"] = meta();
    // 2026-07-28 names the target in a header too (the prompt, or the resource URI).
    let name = params["name"].as_str().or(params["uri"].as_str()).map(str::to_owned);
    let (status, message) = rpc(&env.base, Some(token), method, name.as_deref(), params).await;
    assert_eq!(status, StatusCode::OK, "{method}: {message}");
    message
}

#[tokio::test]
async fn resources_are_the_callers_own() {
    let env = env().await;
    let mine = request(&env, &env.alice, "resources/list", json!({})).await;
    let uri = format!("atoms://workspaces/{}", env.workspace);
    assert_eq!(mine["result"]["resources"][0]["uri"], uri, "{mine}");
    // Bob asks second: the per-caller list is not answered from a cache warmed by alice.
    for _ in 0..2 {
        let theirs = request(&env, &env.bob, "resources/list", json!({})).await;
        assert_eq!(theirs["result"]["resources"], json!([]), "{theirs}");
    }
    let templates = request(&env, &env.alice, "resources/templates/list", json!({})).await;
    assert_eq!(templates["result"]["resourceTemplates"].as_array().map(Vec::len), Some(2));

    let read = request(&env, &env.alice, "resources/read", json!({"uri": uri})).await;
    let text: Value =
        serde_json::from_str(read["result"]["contents"][0]["text"].as_str().expect("text")).expect("json");
    assert_eq!(text["workspace"]["name"], "Apollo");
    let entity = request(
        &env,
        &env.alice,
        "resources/read",
        json!({"uri": format!("atoms://entities/{}", env.entity)}),
    )
    .await;
    assert!(
        entity["result"]["contents"][0]["text"].as_str().is_some_and(|t| t.contains("Billing")),
        "{entity}"
    );
    // Another user's workspace and a malformed URI look the same: not found (-32602 in 2026-07-28).
    for uri in [uri.as_str(), "atoms://workspaces/not-a-uuid", "https://example.com/"] {
        let refused = request(&env, &env.bob, "resources/read", json!({"uri": uri})).await;
        assert_eq!(refused["error"]["code"], -32602, "{uri}: {refused}");
    }
}

#[tokio::test]
async fn prompts_are_built_from_real_data() {
    let env = env().await;
    let listed = request(&env, &env.alice, "prompts/list", json!({})).await;
    let names: Vec<&str> = listed["result"]["prompts"]
        .as_array()
        .expect("prompts")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["summarize_workspace", "trace_dependencies", "review_type"]);
    let summary = request(
        &env,
        &env.alice,
        "prompts/get",
        json!({"name": "summarize_workspace", "arguments": {"workspace_id": env.workspace}}),
    )
    .await;
    let text = summary["result"]["messages"][0]["content"]["text"].as_str().expect("text");
    assert!(text.contains("Apollo") && text.contains("service"), "{text}");
    let trace = request(
        &env,
        &env.alice,
        "prompts/get",
        json!({"name": "trace_dependencies", "arguments": {"entity_id": env.entity}}),
    )
    .await;
    let text = trace["result"]["messages"][0]["content"]["text"].as_str().expect("text");
    assert!(text.contains("Ledger"), "what depends on Billing: {text}");
    let review = request(
        &env,
        &env.alice,
        "prompts/get",
        json!({"name": "review_type", "arguments": {"workspace_id": env.workspace, "type": "service"}}),
    )
    .await;
    assert!(
        review["result"]["messages"][0]["content"]["text"].as_str().is_some_and(|t| t.contains("Ledger"))
    );
    // Bob gets no prompt built from alice's data; a missing argument is named.
    let foreign = request(
        &env,
        &env.bob,
        "prompts/get",
        json!({"name": "summarize_workspace", "arguments": {"workspace_id": env.workspace}}),
    )
    .await;
    assert_eq!(foreign["error"]["code"], -32602, "{foreign}");
    let missing =
        request(&env, &env.alice, "prompts/get", json!({"name": "trace_dependencies", "arguments": {}}))
            .await;
    assert!(missing["error"]["message"].as_str().is_some_and(|m| m.contains("entity_id")), "{missing}");
}

#[tokio::test]
async fn completion_offers_only_the_callers_own_values() {
    let env = env().await;
    let complete = |token: &str, reference: Value, argument: &str, value: &str, context: Value| {
        let params = json!({"ref": reference, "argument": {"name": argument, "value": value}, "context": {"arguments": context}});
        let token = token.to_owned();
        let env = &env;
        async move {
            request(env, &token, "completion/complete", params).await["result"]["completion"]["values"]
                .clone()
        }
    };
    let template = json!({"type": "ref/resource", "uri": "atoms://workspaces/{workspace_id}"});
    assert_eq!(
        complete(&env.alice, template.clone(), "workspace_id", "apo", json!({})).await,
        json!([env.workspace])
    );
    assert_eq!(complete(&env.bob, template, "workspace_id", "apo", json!({})).await, json!([]));
    let entity = json!({"type": "ref/resource", "uri": "atoms://entities/{entity_id}"});
    assert_eq!(
        complete(&env.alice, entity.clone(), "entity_id", "bill", json!({})).await,
        json!([env.entity])
    );
    assert_eq!(complete(&env.bob, entity, "entity_id", "bill", json!({})).await, json!([]));
    let prompt = json!({"type": "ref/prompt", "name": "review_type"});
    let types =
        complete(&env.alice, prompt.clone(), "type", "", json!({"workspace_id": env.workspace})).await;
    assert_eq!(types, json!(["service", "team"]));
    assert_eq!(
        complete(&env.bob, prompt, "type", "", json!({"workspace_id": env.workspace})).await,
        json!([])
    );
}
