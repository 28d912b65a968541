//! Fleet-wide limits on real Redis with real `atoms serve` processes: one shared rate limit
//! across two processes (burst, then the configured steady rate), tool calls limited with a
//! tool result, class limits, RateLimit headers, unauthenticated traffic limited per address,
//! the per-user session cap and the absolute lifetime, `atoms sessions`, and a KV outage.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn post(base: &str, headers: &[(&str, &str)], body: Value) -> Answer {
    post_raw(base, headers, body.to_string()).await
}

/// [`post`] with the body as written (e.g. a key given twice, which `Value` cannot hold).
async fn post_raw(base: &str, headers: &[(&str, &str)], body: String) -> Answer {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/api/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.body(body).send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let message = text.lines().filter_map(|l| l.strip_prefix("data: ")).rfind(|d| !d.trim().is_empty());
    let body = serde_json::from_str(message.unwrap_or(&text)).unwrap_or(Value::Null);
    Answer { status, headers, body }
}

async fn list(base: &str) -> Answer {
    let meta = support::mcp::meta();
    post(
        base,
        &[("mcp-protocol-version", support::mcp::CURRENT), ("mcp-method", "tools/list")],
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}}),
    )
    .await
}

async fn tool_call(base: &str, arguments: Value) -> Answer {
    let meta = support::mcp::meta();
    post(
        base,
        &[("mcp-protocol-version", support::mcp::CURRENT), ("mcp-method", "tools/call"), ("mcp-name", "entity_tool")],
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "entity_tool", "arguments": arguments, "_meta": meta}}),
    )
    .await
}

fn limited_env<'a>(redis_url: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("REDIS_URL", redis_url),
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_REQUESTS_PER_MINUTE", "120"),
        ("RATE_LIMIT_BURST_SIZE", "5"),
        ("LOG_LEVEL", "warn"),
    ];
    env.extend_from_slice(extra);
    env
}

#[tokio::test]
async fn two_processes_enforce_one_limit_burst_then_steady_rate() {
    let redis = support::start_redis();
    let url = support::redis_url(&redis);
    let env = limited_env(&url, &[]);
    let a = support::atoms_serve(&[], &env);
    let b = support::atoms_serve(&[], &env);
    let bases = [format!("http://127.0.0.1:{}", a.port), format!("http://127.0.0.1:{}", b.port)];

    // The burst of 5, alternating processes, passes; the 6th is refused with 429.
    for i in 0..5 {
        let answer = list(&bases[i % 2]).await;
        assert_eq!(answer.status, StatusCode::OK, "request {i} of the burst: {}", answer.body);
        assert_eq!(answer.headers["ratelimit-policy"], "\"mcp\";q=5;w=2", "every answer carries the policy");
        let remaining = format!("\"mcp\";r={};", 4 - i);
        assert!(
            answer.headers["ratelimit"].to_str().expect("ascii").starts_with(&remaining),
            "{:?}",
            answer.headers["ratelimit"]
        );
    }
    let refused = list(&bases[1]).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], -32000, "a JSON-RPC error body");
    assert!(refused.body["error"]["message"].as_str().expect("message").contains("rate limited"));
    assert_eq!(refused.headers["retry-after"], "1");
    assert!(refused.headers.contains_key("ratelimit"));

    // Steady rate: 120/min is one every 500 ms. Over 3 s of requests every 100 ms from both
    // processes, 6 more pass (tolerance ±1 for the edges of the window), the rest are 429.
    let started = Instant::now();
    let mut passed = 0;
    let mut i = 0;
    while started.elapsed() < Duration::from_millis(3000) {
        if list(&bases[i % 2]).await.status == StatusCode::OK {
            passed += 1;
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!((5..=7).contains(&passed), "{passed} of {i} passed in 3 s at 2/s");
}

#[tokio::test]
async fn tool_calls_over_a_limit_get_a_tool_result_and_classes_have_their_own() {
    let redis = support::start_redis();
    let url = support::redis_url(&redis);
    let env = limited_env(&url, &[("RATE_LIMIT_WRITE_PER_MINUTE", "1"), ("RATE_LIMIT_WRITE_BURST", "1")]);
    let server = support::atoms_serve(&[], &env);
    let base = format!("http://127.0.0.1:{}", server.port);
    let ws = "00000000-0000-4000-8000-000000000001";
    let write = json!({"operation": "create_entity", "workspace_id": ws, "type": "doc", "name": "x"});
    let first = tool_call(&base, write.clone()).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_ne!(first.body["result"]["structuredContent"]["error"]["code"], "rate_limited", "{}", first.body);
    let second = tool_call(&base, write).await;
    assert_eq!(second.status, StatusCode::OK, "a tool result, not an HTTP error");
    assert_eq!(second.body["id"], 7, "answers the request's id");
    let result = &second.body["result"];
    assert_eq!(result["isError"], true, "{result}");
    assert_eq!(result["structuredContent"]["error"]["code"], "rate_limited");
    assert_eq!(result["resultType"], "complete", "a 2026-07-28 result: {result}");
    assert!(
        result["structuredContent"]["error"]["retry_after_seconds"]
            .as_u64()
            .is_some_and(|s| (1..=60).contains(&s))
    );
    assert!(second.headers.contains_key("retry-after") && second.headers.contains_key("ratelimit"));
    // Reads are not writes: the general bucket still has room.
    let read = tool_call(&base, json!({"operation": "read_entity", "entity_id": ws})).await;
    assert_ne!(read.body["result"]["structuredContent"]["error"]["code"], "rate_limited", "{}", read.body);
    // Attack: `operation` twice. The tool layer (and rmcp) run the last one, so the last one is
    // the class: a write named after a read is still limited as a write — on the fast path and
    // through rmcp (a progress token sends the call there).
    for progress in [false, true] {
        let mut meta = support::mcp::meta();
        if progress {
            meta["progressToken"] = json!("p1");
        }
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{{"name":"entity_tool","arguments":{{"operation":"read_entity","operation":"create_entity","workspace_id":"{ws}","type":"doc","name":"y"}},"_meta":{meta}}}}}"#
        );
        let headers = [
            ("mcp-protocol-version", support::mcp::CURRENT),
            ("mcp-method", "tools/call"),
            ("mcp-name", "entity_tool"),
        ];
        let answer = post_raw(&base, &headers, body).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body["id"], 8, "{}", answer.body);
        assert_eq!(
            answer.body["result"]["structuredContent"]["error"]["code"], "rate_limited",
            "{meta}: {}",
            answer.body
        );
        assert_eq!(answer.body["result"]["resultType"], "complete", "{}", answer.body);
    }
}

#[tokio::test]
async fn bad_tokens_are_limited_per_address() {
    let redis = support::start_redis();
    let url = support::redis_url(&redis);
    let server = support::atoms_serve(&[], &limited_env(&url, &[]));
    let base = format!("http://127.0.0.1:{}", server.port);
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let answer = post(
            &base,
            &[("authorization", "Bearer guessed.token.value"), ("mcp-protocol-version", support::mcp::CURRENT), ("mcp-method", "tools/list")],
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": support::mcp::meta()}}),
        )
        .await;
        statuses.push(answer.status.as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429], "guessing is limited like any traffic");
}

async fn initialize(base: &str) -> String {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "limits-test", "version": "1"}}});
    let answer = post(base, &[], body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let session = answer.headers["mcp-session-id"].to_str().expect("ascii").to_owned();
    let sent = post(
        base,
        &[("mcp-session-id", &session), ("mcp-protocol-version", "2025-11-25")],
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED);
    session
}

async fn ping(base: &str, session: &str) -> StatusCode {
    post(
        base,
        &[("mcp-session-id", session), ("mcp-protocol-version", "2025-11-25")],
        json!({"jsonrpc": "2.0", "id": 9, "method": "ping"}),
    )
    .await
    .status
}

fn kv_on(url: &str) -> atoms::kv::Kv {
    let config = atoms::config::KvConfig {
        backend: atoms::config::KvBackend::Redis { url: atoms::secret::Secret::new(url.to_owned()) },
        timeout: Duration::from_secs(2),
    };
    atoms::kv::Kv::from_config(&config, &reqwest::Client::new()).expect("kv")
}

#[tokio::test]
async fn the_eleventh_session_evicts_the_oldest_and_the_absolute_lifetime_holds() {
    let redis = support::start_redis();
    let url = support::redis_url(&redis);
    let server = support::atoms_serve(&[], &[("REDIS_URL", &url), ("LOG_LEVEL", "warn")]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let mut sessions = Vec::new();
    for _ in 0..11 {
        sessions.push(initialize(&base).await);
    }
    assert_eq!(ping(&base, &sessions[0]).await, StatusCode::NOT_FOUND, "the oldest was evicted");
    for session in &sessions[1..] {
        assert_eq!(ping(&base, session).await, StatusCode::OK);
    }

    // The absolute lifetime is the owner key's expiry, which use never refreshes: cut it to
    // 1.5 s and keep the session busy; it still ends.
    let kv = kv_on(&url);
    let busy = &sessions[10];
    kv.expire(&atoms::mcp::session_store::owner_key(busy), Duration::from_millis(1500)).await.expect("cut");
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1200) {
        assert_eq!(ping(&base, busy).await, StatusCode::OK, "busy before its deadline");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ping(&base, busy).await, StatusCode::NOT_FOUND, "ended at the absolute lifetime");

    // Operators list and end a user's sessions.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_atoms"))
        .args(["sessions", "list", "--user", "local-user"])
        .env_clear()
        .env("REDIS_URL", &url)
        .output()
        .expect("atoms sessions list");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("9 open MCP session(s) of local-user"), "{stdout}");
    assert!(
        stdout.contains(&sessions[5]) && !stdout.contains(&sessions[0]) && !stdout.contains(busy.as_str()),
        "{stdout}"
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_atoms"))
        .args(["sessions", "revoke", &sessions[5]])
        .env_clear()
        .env("REDIS_URL", &url)
        .output()
        .expect("atoms sessions revoke");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(ping(&base, &sessions[5]).await, StatusCode::NOT_FOUND);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_atoms"))
        .args(["sessions", "revoke", "--user", "local-user"])
        .env_clear()
        .env("REDIS_URL", &url)
        .output()
        .expect("atoms sessions revoke --user");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ended 8 session(s) of local-user\n");
    assert_eq!(ping(&base, &sessions[1]).await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_kv_outage_fails_open_for_stateless_calls_and_recovers() {
    let mut redis = support::start_redis();
    let url = support::redis_url(&redis);
    let port = redis.port;
    let server = support::atoms_serve(&[], &limited_env(&url, &[("KV_TIMEOUT_MS", "300")]));
    let base = format!("http://127.0.0.1:{}", server.port);
    let session = initialize(&base).await;
    assert_eq!(list(&base).await.status, StatusCode::OK);

    redis.kill();
    let started = Instant::now();
    let stateless = list(&base).await;
    assert_eq!(stateless.status, StatusCode::OK, "the limiter fails open: {}", stateless.body);
    assert!(!stateless.headers.contains_key("ratelimit"), "no limiter decision to report");
    assert_eq!(ping(&base, &session).await, StatusCode::SERVICE_UNAVAILABLE, "a session cannot be checked");
    assert!(started.elapsed() < Duration::from_secs(3), "bounded by KV_TIMEOUT_MS: {:?}", started.elapsed());

    let _back = support::start_redis_on(port);
    let mut recovered = false;
    for _ in 0..50 {
        let answer = list(&base).await;
        if answer.status == StatusCode::OK && answer.headers.contains_key("ratelimit") {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the limiter is back once the KV is");
}

#[tokio::test]
async fn sign_in_routes_are_limited_per_address_and_fail_closed() {
    let mut redis = support::start_redis();
    let url = support::redis_url(&redis);
    let env = limited_env(
        &url,
        &[("RATE_LIMIT_AUTH_PER_MINUTE", "60"), ("RATE_LIMIT_AUTH_BURST", "3"), ("KV_TIMEOUT_MS", "300")],
    );
    let server = support::atoms_serve(&[], &env);
    let base = format!("http://127.0.0.1:{}", server.port);
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = client.get(format!("{base}/auth/login")).send().await.expect("login");
        statuses.push(response.status().as_u16());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
            assert_eq!(response.headers()["ratelimit-policy"], "\"auth\";q=3;w=3");
        }
    }
    assert_ne!(statuses[2], 429, "{statuses:?}");
    assert_eq!(statuses[3], 429, "the 4th sign-in request from one address: {statuses:?}");

    redis.kill();
    let response = client.get(format!("{base}/auth/login")).send().await.expect("login");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "sign-in fails closed without the KV");
    assert_eq!(list(&base).await.status, StatusCode::OK, "MCP stateless calls fail open");
}

#[tokio::test]
async fn a_limited_tool_call_answers_in_the_era_of_its_session() {
    let redis = support::start_redis();
    let url = support::redis_url(&redis);
    let env = limited_env(
        &url,
        &[
            ("RATE_LIMIT_BURST_SIZE", "50"),
            ("RATE_LIMIT_WRITE_PER_MINUTE", "1"),
            ("RATE_LIMIT_WRITE_BURST", "1"),
        ],
    );
    let server = support::atoms_serve(&[], &env);
    let base = format!("http://127.0.0.1:{}", server.port);
    let legacy = "2025-11-25";
    let init = post(
        &base,
        &[],
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": legacy, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
    )
    .await;
    let session = init.headers["mcp-session-id"].to_str().expect("session id").to_owned();
    let in_session = [("mcp-session-id", session.as_str()), ("mcp-protocol-version", legacy)];
    post(&base, &in_session, json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    let write = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "entity_tool",
        "arguments": {"operation": "create_entity", "workspace_id": "00000000-0000-4000-8000-000000000001",
        "type": "doc", "name": "x"}}});
    post(&base, &in_session, write.clone()).await;
    let limited = post(&base, &in_session, write).await;
    let result = &limited.body["result"];
    assert_eq!(result["structuredContent"]["error"]["code"], "rate_limited", "{}", limited.body);
    // A 2025-11-25 result has no `resultType` (rmcp leaves it out for these peers too).
    assert!(result.get("resultType").is_none(), "{result}");
}
