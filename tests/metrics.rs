//! Fleet-wide metrics: `/metrics` is refused without its token outside local mode, parses with
//! Prometheus' own client, and the counts of two `atoms serve` processes sharing one Redis add
//! up (each flushes its deltas to the KV; a graceful stop flushes what is left).

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::metrics::{parse, scrape, value};

const TOKEN: &str = "metrics-token-0123456789abcdef";

/// A production configuration (served on loopback, as behind a platform's proxy).
fn production(redis_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ATOMS_ENV", "production".to_owned()),
        ("PUBLIC_URL", "https://atoms.example.com".to_owned()),
        ("AUTHKIT_DOMAIN", "acme.authkit.app".to_owned()),
        ("WORKOS_CLIENT_ID", "client_01TEST".to_owned()),
        ("WORKOS_API_KEY", "sk_test_secret_value".to_owned()),
        ("ATOMS_SESSION_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_owned()),
        ("DATABASE_URL", "postgres://u@127.0.0.1:1/atoms".to_owned()),
        ("REDIS_URL", redis_url.to_owned()),
        ("METRICS_TOKEN", TOKEN.to_owned()),
        ("LOG_LEVEL", "warn".to_owned()),
    ]
}

/// `atoms serve` as its own process (each process has its own recorder: in-process servers
/// of one test binary would share theirs) with `env`; its base URL.
fn serve(env: &[(&'static str, String)]) -> (support::Process, String) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = support::atoms_serve(&[], &env);
    let base = format!("http://127.0.0.1:{}", server.port);
    (server, base)
}

#[tokio::test]
async fn metrics_are_refused_without_their_token_outside_local_mode() {
    let redis = support::start_redis();
    let (_server, base) = serve(&production(&support::redis_url(&redis)));
    let (status, headers, body) = scrape(&base, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"atoms\"");
    let body: serde_json::Value = serde_json::from_str(&body).expect("the error envelope");
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _, _) = scrape(&base, Some("metrics-token-0123456789abcdeX")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a wrong token");
    let (status, headers, text) = scrape(&base, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(headers["content-type"], "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    let samples = parse(&text);
    assert!(value(&samples, "atoms_http_requests_total", &[("route", "/metrics"), ("status", "401")]) >= 2.0);
    assert!(!text.contains(TOKEN), "the token never appears in the exposition");
}

#[tokio::test]
async fn a_production_instance_without_a_token_refuses_everyone() {
    let redis = support::start_redis();
    let env: Vec<_> =
        production(&support::redis_url(&redis)).into_iter().filter(|(k, _)| *k != "METRICS_TOKEN").collect();
    let (_server, base) = serve(&env);
    assert_eq!(scrape(&base, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(scrape(&base, Some(TOKEN)).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn local_mode_on_loopback_needs_no_token_and_the_kv_outage_is_503() {
    let (_server, base) = serve(&[]);
    assert_eq!(hit(&base, "/health/live", 1).await, StatusCode::OK);
    // The first scrape flushes (one KV round trip); the second sees that flush's timing too.
    assert_eq!(scrape(&base, None).await.0, StatusCode::OK);
    let (status, _, text) = scrape(&base, None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let samples = parse(&text);
    assert_eq!(value(&samples, "atoms_cold_starts_total", &[("function", "serve")]), 1.0);
    assert_eq!(value(&samples, "atoms_rate_limited_total", &[]), 0.0, "unlabelled counters start at 0");
    assert!(
        samples
            .iter()
            .any(|s| s.name == "atoms_build_info" && s.labels["version"] == env!("CARGO_PKG_VERSION"))
    );
    for family in
        ["atoms_http_request_duration_seconds", "atoms_kv_command_duration_seconds", "atoms_sessions_active"]
    {
        assert!(samples.iter().any(|s| s.family == family), "{family} is exposed");
    }

    let (_dead, base) = serve(&[("REDIS_URL", format!("redis://127.0.0.1:{}", support::free_port()))]);
    let (status, _, body) = scrape(&base, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

/// `n` requests of `method path` against `base`; returns the last status.
async fn hit(base: &str, path: &str, n: usize) -> StatusCode {
    let client = reqwest::Client::new();
    let mut status = StatusCode::OK;
    for _ in 0..n {
        status = client.get(format!("{base}{path}")).send().await.expect("request").status();
    }
    status
}

/// Opens a legacy MCP session on `base`; returns its id.
async fn open_session(base: &str) -> String {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "metrics-test", "version": "1"}}});
    let response = reqwest::Client::new()
        .post(format!("{base}/api/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string())
        .send()
        .await
        .expect("initialize");
    assert_eq!(response.status(), StatusCode::OK);
    response.headers()["mcp-session-id"].to_str().expect("ascii").to_owned()
}

#[tokio::test]
async fn two_processes_sharing_redis_add_up() {
    let redis = support::start_redis();
    let url = support::redis_url(&redis);
    // A long interval: only the scrape's own flush and the graceful stop's flush write counts,
    // so the test waits on nothing.
    let env = [("REDIS_URL", url.as_str()), ("METRICS_FLUSH_SECONDS", "300"), ("LOG_LEVEL", "warn")];
    let first = support::atoms_serve(&[], &env);
    let mut second = support::atoms_serve(&[], &env);
    let (a, b) = (format!("http://127.0.0.1:{}", first.port), format!("http://127.0.0.1:{}", second.port));

    assert_eq!(hit(&a, "/health/live", 7).await, StatusCode::OK);
    assert_eq!(hit(&b, "/health/live", 5).await, StatusCode::OK);
    assert_eq!(hit(&b, "/no/such/page", 3).await, StatusCode::NOT_FOUND);
    let kept = open_session(&b).await;
    let ended = open_session(&a).await;
    let deleted = reqwest::Client::new()
        .delete(format!("{a}/api/mcp"))
        .header("mcp-session-id", &ended)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .expect("delete");
    assert!(deleted.status().is_success());
    second.stop();

    let (status, _, text) = scrape(&a, None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let samples = parse(&text);
    let live = [("route", "/health/live"), ("method", "GET"), ("status", "200")];
    assert_eq!(value(&samples, "atoms_http_requests_total", &live), 12.0, "7 on one, 5 on the other");
    assert_eq!(
        value(&samples, "atoms_http_requests_total", &[("route", "(unmatched)"), ("status", "404")]),
        3.0
    );
    let count = [("route", "/health/live")];
    assert_eq!(value(&samples, "atoms_http_request_duration_seconds_count", &count), 12.0);
    assert_eq!(
        value(
            &samples,
            "atoms_http_request_duration_seconds_bucket",
            &[("route", "/health/live"), ("le", "+Inf")]
        ),
        12.0
    );
    assert_eq!(value(&samples, "atoms_cold_starts_total", &[("function", "serve")]), 2.0, "both instances");
    assert_eq!(value(&samples, "atoms_sessions_active", &[]), 1.0, "one opened on each, one of them ended");
    assert!(value(&samples, "atoms_kv_command_duration_seconds_count", &[]) >= 2.0, "session writes");
    assert!(!text.contains(&kept) && !text.contains(&ended), "session ids never reach the exposition");
}

#[tokio::test]
async fn log_lines_inside_a_request_carry_its_id_and_never_the_token() {
    let redis = support::start_redis();
    let url = support::redis_url(&redis);
    let env = [("REDIS_URL", url.as_str()), ("METRICS_TOKEN", TOKEN), ("LOG_LEVEL", "info")];
    let mut server = support::atoms_serve(&[], &env);
    let wrong = "metrics-token-0123456789abcdeX";
    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/metrics", server.port))
        .header("x-request-id", "trace-me-42")
        .bearer_auth(wrong)
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let logs = server.logs();
    let refusal =
        logs.lines().find(|line| line.contains("metrics request refused")).expect("the refusal is logged");
    let refusal: serde_json::Value = serde_json::from_str(refusal).expect("a JSON line");
    assert_eq!(refusal["span"]["request_id"], "trace-me-42", "{refusal}");
    assert!(!logs.contains(wrong) && !logs.contains(TOKEN), "no token in the logs");
}

#[tokio::test]
async fn tool_calls_and_refused_credentials_are_counted() {
    let (_server, base) = serve(&[]);
    let mcp = |auth: Option<&str>, body: serde_json::Value| {
        let mut request = reqwest::Client::new()
            .post(format!("{base}/api/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "entity_tool")
            .body(body.to_string());
        if let Some(token) = auth {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "entity_tool",
        "arguments": {"operation": "read_entity", "entity_id": "00000000-0000-0000-0000-000000000000"}, "_meta": meta}});
    let refused = mcp(Some("not-a-dev-token"), call.clone()).await.expect("post");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let answered = mcp(None, call).await.expect("post");
    let text = answered.text().await.expect("body");
    assert!(text.contains("unavailable"), "no database: the tool says so: {text}");

    let (_, _, text) = scrape(&base, None).await;
    let samples = parse(&text);
    assert_eq!(value(&samples, "atoms_auth_failures_total", &[("reason", "local_only")]), 1.0);
    let tool = [("tool", "entity_tool"), ("operation", "read_entity"), ("outcome", "unavailable")];
    assert_eq!(value(&samples, "atoms_tool_calls_total", &tool), 1.0, "{text}");
    let timing = [("tool", "entity_tool"), ("operation", "read_entity")];
    assert_eq!(value(&samples, "atoms_tool_call_duration_seconds_count", &timing), 1.0);
    // The answered call took the fast path, and is counted as a request all the same (the
    // refused one never got that far).
    let request = [("method", "tools/call"), ("era", "2026-07-28")];
    assert_eq!(value(&samples, "atoms_mcp_requests_total", &request), 1.0, "{text}");
}

#[tokio::test]
async fn list_cache_hits_and_misses_are_counted() {
    let (_server, base) = serve(&[]);
    let list = |method: &'static str| {
        let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
        reqwest::Client::new()
            .post(format!("{base}/api/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method)
            .body(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": {"_meta": meta}}).to_string())
            .send()
    };
    for method in ["tools/list", "tools/list", "tools/list", "prompts/list"] {
        assert_eq!(list(method).await.expect("post").status(), StatusCode::OK);
    }
    let (_, _, text) = scrape(&base, None).await;
    let samples = parse(&text);
    let count =
        |result| value(&samples, "atoms_cache_requests_total", &[("cache", "list"), ("result", result)]);
    assert_eq!(count("miss"), 2.0, "the first tools/list and the first prompts/list: {text}");
    assert_eq!(count("hit"), 2.0, "the repeated tools/list");
}

#[tokio::test]
async fn the_cron_secret_only_runs_the_evaluation() {
    let redis = support::start_redis();
    let cron = "cron-secret-0123456789abcdef";
    let mut env = production(&support::redis_url(&redis));
    env.push(("CRON_SECRET", cron.to_owned()));
    let (_server, base) = serve(&env);
    let get = |path: &str, token: &str| {
        reqwest::Client::new().get(format!("{base}{path}")).bearer_auth(token).send()
    };
    let response = get("/api/metrics?evaluate", cron).await.expect("cron request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<serde_json::Value>().await.expect("JSON"), json!({"evaluated": true}));
    for path in ["/metrics", "/api/metrics", "/status", "/api/metrics?evaluate&view=status"] {
        let response = get(path, cron).await.expect("request");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}: the cron secret reads nothing");
    }
    let wrong = get("/api/metrics?evaluate", "cron-secret-0123456789abcdeX").await.expect("request");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let (status, _, text) = scrape(&base, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "METRICS_TOKEN still reads the metrics");
    assert!(!text.contains(cron));
}
