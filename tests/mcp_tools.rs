//! The five Atoms tools over the wire, against `atoms serve`'s server on real Postgres: the
//! pinned `tools/list` payload, round trips of every tool in the 2026-07-28 era and in a
//! 2025-11-25 session, and the error shapes (tool results with stable codes; JSON-RPC errors
//! only for unknown tools).

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};

const LEGACY: &str = "2025-11-25";

/// `atoms serve`'s server on a fresh, migrated database; its base URL.
async fn app() -> String {
    let url = support::postgres::fresh_database().await;
    support::spawn_app(support::config(&[("DATABASE_URL", url.expose())])).await
}

/// `tools/call` as the local user; the tool result.
async fn call_tool(base: &str, tool: &str, arguments: Value) -> Value {
    support::mcp::call_tool(base, None, tool, arguments).await
}

async fn rpc(base: &str, method: &str, name: Option<&str>, params: Value) -> (StatusCode, Value) {
    support::mcp::rpc(base, None, method, name, params).await
}

/// A successful call's `structuredContent`, checked against its text block.
async fn ok(base: &str, tool: &str, arguments: Value) -> Value {
    let result = call_tool(base, tool, arguments.clone()).await;
    assert_eq!(result["isError"], false, "{tool} {arguments}: {result}");
    let structured = result["structuredContent"].clone();
    let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().expect("a text block"))
        .expect("JSON text");
    assert_eq!(text, structured, "the text block carries the same JSON");
    assert_eq!(structured["operation"], arguments["operation"]);
    structured
}

/// A failed call's `error` object.
async fn err(base: &str, tool: &str, arguments: Value) -> Value {
    let result = call_tool(base, tool, arguments.clone()).await;
    assert_eq!(result["isError"], true, "{tool} {arguments} should fail: {result}");
    result["structuredContent"]["error"].clone()
}

#[tokio::test]
async fn the_tool_list_is_pinned() {
    let base = app().await;
    let (status, message) = rpc(&base, "tools/list", None, json!({"_meta": support::mcp::meta()})).await;
    assert_eq!(status, StatusCode::OK);
    let tools = &message["result"]["tools"];
    let names: Vec<&str> =
        tools.as_array().expect("tools").iter().map(|t| t["name"].as_str().expect("name")).collect();
    assert_eq!(names, ["workspace_tool", "entity_tool", "relationship_tool", "workflow_tool", "query_tool"]);
    for tool in tools.as_array().expect("tools") {
        let schema = &tool["inputSchema"];
        assert_eq!(schema["type"], "object");
        assert!(schema.get("oneOf").is_none() && schema.get("anyOf").is_none(), "flat schemas only");
        assert_eq!(schema["required"], json!(["operation"]));
        for (name, property) in schema["properties"].as_object().expect("properties") {
            if name != "operation" {
                assert!(property["description"].as_str().is_some_and(|d| d.contains("Used by:")), "{name}");
            }
        }
        assert_eq!(tool["annotations"]["openWorldHint"], false);
        assert!(tool["outputSchema"].is_object() && tool["title"].is_string());
    }
    // The whole payload is pinned: a schema change is a deliberate edit of the snapshot
    // (UPDATE_SNAPSHOTS=1 rewrites it).
    let pinned = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/tools_list.json");
    let actual = serde_json::to_string_pretty(tools).expect("json") + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&pinned, &actual).expect("write snapshot");
    }
    let expected = std::fs::read_to_string(&pinned).unwrap_or_default();
    assert!(
        actual == expected,
        "tools/list changed ({} bytes compact); if deliberate, run with UPDATE_SNAPSHOTS=1 and commit {}",
        tools.to_string().len(),
        pinned.display()
    );
}

#[tokio::test]
async fn every_tool_round_trips_in_the_stateless_era() {
    let base = app().await;
    let ws = ok(&base, "workspace_tool", json!({"operation": "create_workspace", "name": "Acme"})).await["data"]["id"].clone();
    let listed = ok(&base, "workspace_tool", json!({"operation": "list_workspaces"})).await;
    assert_eq!(listed["data"]["items"][0]["id"], ws);
    ok(
        &base,
        "workspace_tool",
        json!({"operation": "update_workspace", "workspace_id": ws, "metadata": {"team": "core"}}),
    )
    .await;
    let read = ok(&base, "workspace_tool", json!({"operation": "read_workspace", "workspace_id": ws})).await;
    assert_eq!(read["data"]["metadata"], json!({"team": "core"}));

    let ada = ok(
        &base,
        "entity_tool",
        json!({"operation": "create_entity", "workspace_id": ws, "type": "person", "name": "Ada Lovelace"}),
    )
    .await["data"]
        .clone();
    let batch = ok(
        &base,
        "entity_tool",
        json!({"operation": "create_entity", "workspace_id": ws, "items": [
        {"type": "project", "name": "Analytical Engine"}, {"type": "person", "name": "Charles Babbage"}]}),
    )
    .await;
    let engine = batch["data"]["items"][0]["id"].clone();
    let page =
        ok(&base, "entity_tool", json!({"operation": "list_entities", "workspace_id": ws, "limit": 2})).await;
    assert_eq!(page["data"]["items"].as_array().map(Vec::len), Some(2));
    assert!(page["next_cursor"].is_string(), "the cursor moves up beside data: {page}");
    let rest = ok(
        &base,
        "entity_tool",
        json!({"operation": "list_entities", "workspace_id": ws, "cursor": page["next_cursor"]}),
    )
    .await;
    assert_eq!(rest["data"]["items"].as_array().map(Vec::len), Some(1));
    assert!(rest.get("next_cursor").is_none());
    let found = ok(
        &base,
        "entity_tool",
        json!({"operation": "search_entities", "workspace_id": ws, "query": "Lovelase"}),
    )
    .await;
    assert_eq!(found["data"]["items"][0]["id"], ada["id"]);
    let updated = ok(&base, "entity_tool", json!({"operation": "update_entity", "entity_id": ada["id"], "metadata": {"born": 1815}, "expected_version": 1})).await;
    assert_eq!(updated["data"]["version"], 2);
    let stale = err(
        &base,
        "entity_tool",
        json!({"operation": "update_entity", "entity_id": ada["id"], "name": "x", "expected_version": 1}),
    )
    .await;
    assert_eq!(stale["code"], "conflict");
    assert!(stale["message"].as_str().is_some_and(|m| m.contains("version 2")), "{stale}");

    let edge = ok(&base, "relationship_tool", json!({"operation": "create_relationship", "source_id": ada["id"], "target_id": engine, "type": "works_on"})).await;
    let edges =
        ok(&base, "relationship_tool", json!({"operation": "list_relationships", "entity_id": ada["id"]}))
            .await;
    assert_eq!(edges["data"]["items"][0]["entity"]["name"], "Analytical Engine");
    let graph = ok(
        &base,
        "relationship_tool",
        json!({"operation": "get_relationship_graph", "entity_id": ada["id"], "depth": 1}),
    )
    .await;
    assert_eq!(graph["data"]["nodes"].as_array().map(Vec::len), Some(2));
    ok(&base, "relationship_tool", json!({"operation": "update_relationship", "relationship_id": edge["data"]["id"], "metadata": {"since": 1833}})).await;

    let flow = ok(&base, "workflow_tool", json!({"operation": "create_workflow", "workspace_id": ws, "name": "onboard", "steps": [
        {"operation": "entity_tool.create_entity", "arguments": {"type": "person", "name": "${inputs.name}"}},
        {"operation": "relationship_tool.create_relationship", "arguments": {"source_id": "${steps.0.id}", "target_id": engine, "type": "works_on"}}]}))
    .await;
    let run = ok(&base, "workflow_tool", json!({"operation": "execute_workflow", "workflow_id": flow["data"]["id"], "inputs": {"name": "Grace"}, "idempotency_key": "k1"})).await;
    assert_eq!(run["data"]["status"], "succeeded");
    let again = ok(&base, "workflow_tool", json!({"operation": "execute_workflow", "workflow_id": flow["data"]["id"], "inputs": {"name": "Grace"}, "idempotency_key": "k1"})).await;
    assert_eq!(again["data"]["replayed"], true, "the same key runs once");
    let status = ok(
        &base,
        "workflow_tool",
        json!({"operation": "get_workflow_status", "run_id": run["data"]["run_id"]}),
    )
    .await;
    assert_eq!(status["data"]["status"], "succeeded");
    let flows = ok(&base, "workflow_tool", json!({"operation": "list_workflows", "workspace_id": ws})).await;
    assert_eq!(flows["data"]["items"].as_array().map(Vec::len), Some(1));

    let people = ok(
        &base,
        "query_tool",
        json!({"operation": "query_entities", "workspace_id": ws,
        "filters": [{"field": "type", "op": "eq", "value": "person"}], "sort": {"field": "name"}}),
    )
    .await;
    let names: Vec<&str> = people["data"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["Ada Lovelace", "Charles Babbage", "Grace"]);
    ok(&base, "query_tool", json!({"operation": "advanced_search", "workspace_id": ws, "query": "engine"}))
        .await;
    let stats = ok(&base, "query_tool", json!({"operation": "get_query_stats", "workspace_id": ws})).await;
    assert_eq!(stats["data"]["entities_by_type"]["person"], 3);

    ok(
        &base,
        "relationship_tool",
        json!({"operation": "delete_relationship", "relationship_id": edge["data"]["id"]}),
    )
    .await;
    ok(&base, "workflow_tool", json!({"operation": "delete_workflow", "workflow_id": flow["data"]["id"]}))
        .await;
    ok(&base, "entity_tool", json!({"operation": "delete_entity", "entity_id": ada["id"]})).await;
    let gone = err(&base, "entity_tool", json!({"operation": "read_entity", "entity_id": ada["id"]})).await;
    assert_eq!(gone["code"], "not_found");
    ok(&base, "workspace_tool", json!({"operation": "delete_workspace", "workspace_id": ws})).await;
}

#[tokio::test]
async fn csv_exports_parse_back_identically() {
    let base = app().await;
    let ws =
        ok(&base, "workspace_tool", json!({"operation": "create_workspace", "name": "Export"})).await["data"]
            ["id"]
            .clone();
    let tricky = ["comma, inside", "a \"quoted\" word", "two\nlines", "plain"];
    let items: Vec<Value> = tricky.iter().map(|name| json!({"type": "note", "name": name})).collect();
    ok(&base, "entity_tool", json!({"operation": "create_entity", "workspace_id": ws, "items": items})).await;
    let result = call_tool(
        &base,
        "query_tool",
        json!({"operation": "export_results", "workspace_id": ws, "format": "csv", "limit": 10}),
    )
    .await;
    assert_eq!(result["structuredContent"]["data"], json!({"kind": "entities", "format": "csv", "rows": 4}));
    let resource = &result["content"][1]["resource"];
    assert_eq!(resource["mimeType"], "text/csv");
    let names = parse_csv_names(resource["text"].as_str().expect("csv text"));
    assert_eq!(names, tricky);
}

/// The `name` column of an RFC 4180 document (a minimal reader for the test).
fn parse_csv_names(text: &str) -> Vec<String> {
    let mut records = vec![vec![String::new()]];
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        let record = records.last_mut().expect("record");
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                record.last_mut().expect("field").push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') => quoted = true,
            (false, ',') => record.push(String::new()),
            (false, '\r') => {}
            (false, '\n') => records.push(vec![String::new()]),
            (_, c) => record.last_mut().expect("field").push(c),
        }
    }
    let header = records.remove(0);
    let column = header.iter().position(|h| h == "name").expect("a name column");
    records.into_iter().filter(|r| r.len() > column).map(|r| r[column].clone()).collect()
}

#[tokio::test]
async fn mistakes_get_precise_errors() {
    let base = app().await;
    let ws = ok(&base, "workspace_tool", json!({"operation": "create_workspace", "name": "E"})).await["data"]
        ["id"]
        .clone();
    for (tool, arguments, code, mentions) in [
        ("entity_tool", json!({"workspace_id": ws}), "invalid_argument", "operation is required"),
        ("entity_tool", json!({"operation": "explode"}), "invalid_argument", "list_entities"),
        (
            "entity_tool",
            json!({"operation": "list_entities"}),
            "invalid_argument",
            "workspace_id is required for list_entities",
        ),
        (
            "entity_tool",
            json!({"operation": "read_entity", "entity_id": "nope"}),
            "invalid_argument",
            "entity_id must be a UUID",
        ),
        ("entity_tool", json!({"operation": "read_entity", "id": ws}), "invalid_argument", "entity_id"),
        (
            "entity_tool",
            json!({"operation": "create_entity", "workspace_id": ws, "type": "Not A Type", "name": "x"}),
            "invalid_argument",
            "type",
        ),
        (
            "entity_tool",
            json!({"operation": "create_entity", "workspace_id": ws, "type": "doc", "name": "x".repeat(501)}),
            "invalid_argument",
            "name",
        ),
        (
            "entity_tool",
            json!({"operation": "list_entities", "workspace_id": ws, "limit": "ten"}),
            "invalid_argument",
            "limit",
        ),
        (
            "workspace_tool",
            json!({"operation": "read_workspace", "workspace_id": "00000000-0000-4000-8000-000000000000"}),
            "not_found",
            "workspace",
        ),
        (
            "query_tool",
            json!({"operation": "export_results", "workspace_id": ws, "format": "xml"}),
            "invalid_argument",
            "format",
        ),
    ] {
        let error = err(&base, tool, arguments.clone()).await;
        assert_eq!(error["code"], code, "{tool} {arguments}: {error}");
        assert!(
            error["message"].as_str().is_some_and(|m| m.contains(mentions)),
            "{tool} {arguments}: {error}"
        );
    }
    let (status, message) = rpc(
        &base,
        "tools/call",
        Some("nope_tool"),
        json!({"name": "nope_tool", "arguments": {}, "_meta": support::mcp::meta()}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(message["error"]["code"], -32602, "an unknown tool is a JSON-RPC error: {message}");
}

#[tokio::test]
async fn tools_work_in_a_legacy_session() {
    let base = app().await;
    let client = reqwest::Client::new();
    let post = |body: Value, session: Option<String>| {
        let mut request = client
            .post(format!("{base}/api/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(session) = session {
            request = request.header("mcp-session-id", session).header("mcp-protocol-version", LEGACY);
        }
        request.body(body.to_string()).send()
    };
    let init = post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
        None,
    )
    .await
    .expect("initialize");
    let session = init.headers()["mcp-session-id"].to_str().expect("ascii").to_owned();
    post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}), Some(session.clone()))
        .await
        .expect("initialized");
    let call = |id: u64, arguments: Value| {
        post(
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "workspace_tool", "arguments": arguments}}),
            Some(session.clone()),
        )
    };
    let created = json_of(call(2, json!({"operation": "create_workspace", "name": "Legacy"})).await).await;
    assert_eq!(created["result"]["structuredContent"]["data"]["name"], "Legacy", "{created}");
    let listed = json_of(call(3, json!({"operation": "list_workspaces"})).await).await;
    assert_eq!(listed["result"]["structuredContent"]["data"]["items"].as_array().map(Vec::len), Some(1));
    // A resource that does not exist is -32002 in this era (-32602 in 2026-07-28).
    let missing = json!({"jsonrpc": "2.0", "id": 4, "method": "resources/read",
        "params": {"uri": "atoms://workspaces/00000000-0000-4000-8000-000000000000"}});
    let missing = json_of(post(missing, Some(session.clone())).await).await;
    assert_eq!(missing["error"]["code"], -32002, "{missing}");
}

/// The JSON-RPC message of a response (or the status and body, in the panic message).
async fn json_of(response: reqwest::Result<reqwest::Response>) -> Value {
    let response = response.expect("request");
    let status = response.status();
    let body = response.text().await.expect("body");
    // A JSON body, or the last `data:` event of an SSE body (legacy sessions stream).
    let message = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .rfind(|d| !d.is_empty())
        .unwrap_or(&body);
    serde_json::from_str(message).unwrap_or_else(|_| panic!("{status}: {body}"))
}

#[tokio::test]
async fn deleting_a_workspace_asks_the_person_when_the_client_can_ask() {
    let base = app().await;
    let ws = ok(&base, "workspace_tool", json!({"operation": "create_workspace", "name": "Precious"})).await
        ["data"]["id"]
        .clone();
    ok(
        &base,
        "entity_tool",
        json!({"operation": "create_entity", "workspace_id": ws, "items": [
        {"type": "doc", "name": "one"}, {"type": "doc", "name": "two"}]}),
    )
    .await;
    let asking_meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}});
    let delete = json!({"operation": "delete_workspace", "workspace_id": ws});
    let call = |extra: Value| {
        let mut params =
            json!({"name": "workspace_tool", "arguments": delete.clone(), "_meta": asking_meta.clone()});
        for (key, value) in extra.as_object().cloned().unwrap_or_default() {
            params[key] = value;
        }
        let base = base.clone();
        async move {
            support::mcp::rpc(&base, None, "tools/call", Some("workspace_tool"), params).await.1["result"]
                .clone()
        }
    };
    let asked = call(json!({})).await;
    assert_eq!(asked["resultType"], "input_required", "{asked}");
    let question = &asked["inputRequests"]["confirm_delete"];
    assert_eq!(question["method"], "elicitation/create");
    let message = question["params"]["message"].as_str().expect("message");
    assert!(message.contains("Precious") && message.contains("2 entities"), "{message}");
    let state = asked["requestState"].clone();

    let declined =
        call(json!({"inputResponses": {"confirm_delete": {"action": "decline"}}, "requestState": state}))
            .await;
    assert_eq!(declined["isError"], false, "a decline is not an error: {declined}");
    assert_eq!(declined["structuredContent"]["data"]["deleted"], false);
    ok(&base, "workspace_tool", json!({"operation": "read_workspace", "workspace_id": ws})).await;

    let confirmed =
        call(json!({"inputResponses": {"confirm_delete": {"action": "accept", "content": {"confirm": true}}}, "requestState": state})).await;
    assert_eq!(confirmed["structuredContent"]["data"]["deleted"], true, "{confirmed}");
    let gone = err(&base, "workspace_tool", json!({"operation": "read_workspace", "workspace_id": ws})).await;
    assert_eq!(gone["code"], "not_found");
}

#[tokio::test]
async fn the_fast_path_answers_exactly_what_rmcp_answers() {
    // A plain stateless tools/call is answered by the guard itself (lib/mcp/fast_call.rs); the
    // same call with a progress token goes through rmcp. Both answers must be the same message.
    let base = app().await;
    let ws = ok(&base, "workspace_tool", json!({"operation": "create_workspace", "name": "Same"})).await["data"]["id"].clone();
    for arguments in [
        json!({"operation": "create_entity", "workspace_id": ws, "type": "doc", "name": "twice"}),
        json!({"operation": "list_entities", "workspace_id": ws, "limit": 1}),
        json!({"operation": "read_entity", "entity_id": "not-a-uuid"}),
        json!({"operation": "explode"}),
    ] {
        let params = |progress: bool| {
            let mut meta = support::mcp::meta();
            if progress {
                meta["progressToken"] = json!("p1");
            }
            json!({"name": "entity_tool", "arguments": arguments, "_meta": meta})
        };
        let (fast_status, fast) = rpc(&base, "tools/call", Some("entity_tool"), params(false)).await;
        let (slow_status, slow) = rpc(&base, "tools/call", Some("entity_tool"), params(true)).await;
        assert_eq!((fast_status, slow_status), (StatusCode::OK, StatusCode::OK));
        let strip = |mut message: Value| {
            // Creating twice makes two entities; compare the shape of the answer, not its ids.
            if let Some(data) = message["result"]["structuredContent"]["data"].as_object_mut() {
                for key in ["id", "created_at", "updated_at"] {
                    data.remove(key);
                }
            }
            message["result"]["content"] = json!("(same JSON as structuredContent)");
            message
        };
        assert_eq!(strip(fast.clone()), strip(slow.clone()), "fast {fast}\nrmcp {slow}");
    }
    // A mismatched Mcp-Name is refused by rmcp exactly as before.
    let params = json!({"name": "entity_tool", "arguments": {"operation": "list_entities", "workspace_id": ws}, "_meta": support::mcp::meta()});
    let (status, message) = rpc(&base, "tools/call", Some("query_tool"), params).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{message}");
}
