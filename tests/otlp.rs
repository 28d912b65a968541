//! Trace export: a real `atoms serve` process exports its `request` → `tool` → `db` spans over
//! OTLP/HTTP JSON to a local receiver; the bodies parse with the official OTLP definitions; a
//! caller's `traceparent` is continued; no argument value, token or email reaches a span; and a
//! receiver that is down or stuck never fails or holds up a request.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::atoms_server::AtomsServer;
use support::mcp::{CURRENT, meta};
use support::otlp::{Behaviour, attribute};

const API_KEY: &str = "otlp-api-key-do-not-log-4417";
/// An argument value that must never appear in a span.
const SECRET_NAME: &str = "Project Nightjar 7781";
const EMAIL: &str = "nightjar.owner@example.com";

/// `tools/call` of `tool` as `token`'s user, with optional extra `_meta` (anything beyond the
/// plain keys sends the call through rmcp instead of the guard's fast path) and headers.
async fn call(
    base: &str,
    token: &str,
    tool: &str,
    arguments: Value,
    extra_meta: Option<(&str, Value)>,
    headers: &[(&str, &str)],
) -> Value {
    let mut meta = meta();
    if let Some((key, value)) = extra_meta {
        meta[key] = value;
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": meta}});
    let mut request = reqwest::Client::new()
        .post(format!("{base}/api/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", CURRENT)
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .bearer_auth(token)
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("tools/call");
    assert_eq!(response.status(), StatusCode::OK);
    let message: Value = response.json().await.expect("a JSON-RPC answer");
    assert!(message["result"]["isError"] != true, "{message}");
    message["result"].clone()
}

async fn server(receiver: &str, extra: &[(&str, &str)]) -> AtomsServer {
    let database = support::postgres::fresh_database().await;
    let headers = format!("x-api-key={API_KEY},x-team=atoms%20tests");
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver),
        ("OTEL_EXPORTER_OTLP_HEADERS", headers.as_str()),
        ("OTEL_SERVICE_NAME", "atoms-under-test"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("LOG_LEVEL", "info"),
    ];
    env.extend_from_slice(extra);
    AtomsServer::with_env(database.expose(), &env)
}

fn named<'a>(spans: &'a [Value], trace: &str, name: &str) -> Vec<&'a Value> {
    spans.iter().filter(|span| span["traceId"] == trace && span["name"] == name).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_call_exports_request_tool_and_db_spans_in_the_callers_trace() {
    let receiver = support::otlp::start(Behaviour::Accept).await;
    let mut server = server(&receiver.endpoint, &[]).await;
    let (base, token) = (server.base(), server.token("user_01NIGHTJAR"));
    // The fast path (a plain stateless call), continuing the caller's trace.
    let fast_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{fast_trace}-00f067aa0ba902b7-01");
    let arguments = json!({"operation": "create_workspace", "name": SECRET_NAME, "description": EMAIL});
    call(&base, &token, "workspace_tool", arguments, None, &[("traceparent", &traceparent)]).await;
    // Through rmcp (a progress token is not for the fast path), with a trace of its own.
    let listed = call(
        &base,
        &token,
        "workspace_tool",
        json!({"operation": "list_workspaces"}),
        Some(("progressToken", json!("p-1"))),
        &[("x-request-id", "rmcp-call-1")],
    )
    .await;
    assert!(listed.to_string().contains(SECRET_NAME), "the call really ran: {listed}");

    let spans = receiver
        .wait_for(Duration::from_secs(20), |spans| {
            let rmcp_db = spans.iter().any(|s| s["name"] == "db" && s["traceId"] != fast_trace);
            !named(spans, fast_trace, "db").is_empty() && rmcp_db
        })
        .await;

    // The fast path: request (child of the caller's span) → tool → db, one trace.
    let request = named(&spans, fast_trace, "request");
    assert_eq!(request.len(), 1, "{spans:#?}");
    let request = request[0];
    assert_eq!(request["parentSpanId"], "00f067aa0ba902b7", "the caller's span is the parent");
    assert_eq!(request["kind"], 2, "server");
    assert_eq!(attribute(request, "http.route").as_deref(), Some("/api/mcp"));
    assert_eq!(attribute(request, "http.request.method").as_deref(), Some("POST"));
    assert_eq!(attribute(request, "http.response.status_code").as_deref(), Some("200"));
    assert!(attribute(request, "request_id").is_some_and(|id| !id.is_empty()));
    let tool = named(&spans, fast_trace, "tool");
    assert_eq!(tool.len(), 1, "{spans:#?}");
    assert_eq!(tool[0]["parentSpanId"], request["spanId"]);
    assert_eq!(attribute(tool[0], "tool").as_deref(), Some("workspace_tool"));
    assert_eq!(attribute(tool[0], "operation").as_deref(), Some("create_workspace"));
    assert_eq!(attribute(tool[0], "outcome").as_deref(), Some("ok"));
    let db = named(&spans, fast_trace, "db");
    assert!(!db.is_empty());
    assert!(db.iter().all(|db| db["parentSpanId"] == tool[0]["spanId"] && db["kind"] == 3));
    assert!(db.iter().any(|db| attribute(db, "function").as_deref() == Some("atoms_workspace_create")));
    let start = |span: &Value| span["startTimeUnixNano"].as_str().and_then(|t| t.parse::<u128>().ok());
    let end = |span: &Value| span["endTimeUnixNano"].as_str().and_then(|t| t.parse::<u128>().ok());
    assert!(
        start(request) <= start(tool[0]) && end(tool[0]) <= end(request),
        "the tool runs inside the request"
    );

    // Through rmcp: the same nesting in a fresh trace with no remote parent.
    let rmcp_request = spans
        .iter()
        .find(|span| {
            span["name"] == "request" && attribute(span, "request_id").as_deref() == Some("rmcp-call-1")
        })
        .expect("the rmcp call's request span");
    let trace = rmcp_request["traceId"].as_str().expect("trace id");
    assert_eq!(trace.len(), 32);
    assert_ne!(trace, fast_trace);
    assert!(rmcp_request.get("parentSpanId").is_none(), "{rmcp_request}");
    let rmcp_tool = named(&spans, trace, "tool");
    assert_eq!(rmcp_tool.len(), 1, "{spans:#?}");
    assert_eq!(rmcp_tool[0]["parentSpanId"], rmcp_request["spanId"]);
    let rmcp_db = named(&spans, trace, "db");
    assert!(!rmcp_db.is_empty() && rmcp_db.iter().all(|db| db["parentSpanId"] == rmcp_tool[0]["spanId"]));

    // What was sent: the configured headers, OTLP JSON that the official definitions parse,
    // and nothing of the caller's.
    let exports = receiver.exports();
    for export in &exports {
        assert_eq!(export.headers["content-type"], "application/json");
        assert_eq!(export.headers["x-api-key"], API_KEY);
        assert_eq!(export.headers["x-team"], "atoms tests", "percent-decoded");
        let resource = &export.body["resourceSpans"][0]["resource"]["attributes"];
        assert!(resource.as_array().is_some_and(|attributes| {
            attributes.contains(&json!({"key": "service.name", "value": {"stringValue": "atoms-under-test"}}))
        }));
        for leaked in [SECRET_NAME, EMAIL, "example.com", token.as_str(), API_KEY, "NIGHTJAR"] {
            assert!(!export.raw.contains(leaked), "{leaked:?} in an exported span: {}", export.raw);
        }
    }
    let total: usize = exports
        .iter()
        .map(|e| e.body["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(support::otlp::validate(&exports), total as u64);

    let logs = server.logs();
    assert!(!logs.contains(API_KEY), "the exporter's headers are never logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn log_lines_inside_tool_and_db_spans_carry_the_request_id() {
    let receiver = support::otlp::start(Behaviour::Accept).await;
    let mut server = server(&receiver.endpoint, &[]).await;
    let (base, token) = (server.base(), server.token("user_01LOGS"));
    // Postgres' jsonb refuses a NUL character (SQLSTATE 22P05): the adapter logs the refusal
    // at warn, inside the `db` span.
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "workspace_tool", "arguments": {"operation": "create_workspace", "name": "nul\u{0}name"}, "_meta": meta()}});
    let response = reqwest::Client::new()
        .post(format!("{base}/api/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", CURRENT)
        .header("mcp-method", "tools/call")
        .header("mcp-name", "workspace_tool")
        .header("x-request-id", "log-me-77")
        .bearer_auth(&token)
        .body(body.to_string())
        .send()
        .await
        .expect("tools/call");
    assert_eq!(response.status(), StatusCode::OK);
    let logs = server.logs();
    let inside: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["span"]["name"] == "db")
        .collect();
    assert!(!inside.is_empty(), "a line logged inside the db span:\n{logs}");
    for line in &inside {
        let spans = line["spans"].as_array().expect("the span list");
        let names: Vec<&str> = spans.iter().filter_map(|span| span["name"].as_str()).collect();
        assert_eq!(names, ["request", "tool", "db"], "{line}");
        assert_eq!(spans[0]["request_id"], "log-me-77", "{line}");
        assert_eq!(spans[1]["tool"], "workspace_tool");
        assert_eq!(spans[2]["function"], "atoms_workspace_create");
    }
    assert!(!logs.contains(&token), "no token in the logs");
}

/// A receiver that never answers, then one that is not there: every call succeeds at once,
/// exports give up after `OTEL_EXPORTER_OTLP_TIMEOUT` (10 s here: an export on a request's path
/// would make ten calls take 100 s), and a graceful stop waits at most that long.
#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_or_missing_receiver_never_holds_up_a_request() {
    let stuck = support::otlp::start(Behaviour::Hang).await;
    let closed = format!("http://127.0.0.1:{}", support::free_port());
    for (endpoint, failure) in
        [(stuck.endpoint.as_str(), "within the timeout"), (closed.as_str(), "cannot be reached")]
    {
        let mut server = server(endpoint, &[("OTEL_EXPORTER_OTLP_TIMEOUT", "10000")]).await;
        let (base, token) = (server.base(), server.token("user_01STUCK"));
        let started = Instant::now();
        for n in 0..10 {
            let name = format!("W{n}");
            call(
                &base,
                &token,
                "workspace_tool",
                json!({"operation": "create_workspace", "name": name}),
                None,
                &[],
            )
            .await;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "calls were held up: {:?}", started.elapsed());
        let stopping = Instant::now();
        server.stop();
        assert!(
            stopping.elapsed() < Duration::from_secs(25),
            "the shutdown export is bounded by its timeout"
        );
        let logs = server.logs();
        assert!(logs.contains("trace export failed") && logs.contains(failure), "{logs}");
        assert!(
            !logs.contains(API_KEY) && !logs.contains(endpoint),
            "neither the headers nor the URL are logged"
        );
    }
    assert!(stuck.arrived() > 0, "exports reached the stuck receiver");
}
