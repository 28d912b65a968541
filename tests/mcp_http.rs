//! The MCP endpoint on the wire, as raw HTTP: both protocol eras, sessions kept in the KV (and so
//! shared by server processes), and every transport refusal as a JSON-RPC error body.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};

const LEGACY: &str = "2025-11-25";
const CURRENT: &str = "2026-07-28";

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    /// The JSON-RPC message: the body, or the last `data:` event of an SSE body.
    message: Value,
    body: String,
}

async fn post(base: &str, headers: &[(&str, &str)], body: impl Into<reqwest::Body>) -> Reply {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/api/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    reply(request.body(body).send().await.expect("request")).await
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let message = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .rfind(|data| !data.is_empty())
        .map_or_else(
            || serde_json::from_str(&text).unwrap_or(Value::Null),
            |d| serde_json::from_str(d).unwrap_or(Value::Null),
        );
    Reply { status, headers, message, body: text }
}

fn initialize_body() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "raw-http-test", "version": "1"}}})
    .to_string()
}

/// Initializes a legacy session and returns its id.
async fn initialize(base: &str) -> String {
    let reply = post(base, &[], initialize_body()).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.message);
    assert_eq!(reply.message["result"]["serverInfo"]["name"], "atoms");
    let session = reply.headers["mcp-session-id"].to_str().expect("ascii").to_owned();
    assert!(session.len() >= 32, "session ids are long random values: {session}");
    let sent = post(
        base,
        &[("mcp-session-id", &session), ("mcp-protocol-version", LEGACY)],
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
    )
    .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED);
    session
}

async fn call(base: &str, session: &str, id: u64, method: &str) -> Reply {
    post(
        base,
        &[("mcp-session-id", session), ("mcp-protocol-version", LEGACY)],
        json!({"jsonrpc": "2.0", "id": id, "method": method}).to_string(),
    )
    .await
}

/// An in-process app on a fresh Redis, and a KV client on the same Redis.
async fn app_with_redis() -> (support::Process, String, atoms::kv::Kv) {
    let redis = support::start_redis();
    let config = support::config(&[("REDIS_URL", &support::redis_url(&redis))]);
    let kv = atoms::kv::Kv::from_config(&config.kv, &reqwest::Client::new()).expect("kv");
    let base = support::spawn_app(config).await;
    (redis, base, kv)
}

async fn delete(base: &str, session: &str) -> Reply {
    let request = reqwest::Client::new()
        .delete(format!("{base}/api/mcp"))
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", LEGACY);
    reply(request.send().await.expect("delete")).await
}

/// Ends a legacy session with `DELETE`: 200 with an empty body, as the official SDKs' reference
/// servers answer (the Python SDK logs "Session termination failed" for anything but 200/204).
async fn delete_session(base: &str, session: &str) {
    let deleted = delete(base, session).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(deleted.body, "", "empty body");
}

fn assert_jsonrpc_error(reply: &Reply, status: StatusCode, code: i64) {
    assert_eq!(reply.status, status, "{}", reply.message);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(reply.message["jsonrpc"], "2.0", "{}", reply.message);
    assert_eq!(reply.message["error"]["code"], code, "{}", reply.message);
}

#[tokio::test]
async fn a_legacy_session_lives_in_the_kv_until_deleted() {
    let (_redis, base, kv) = app_with_redis().await;
    let session = initialize(&base).await;
    let key = atoms::mcp::session_store::key(&session);
    let ttl = kv.ttl(&key).await.expect("ttl").expect("stored").expect("expires");
    assert!(ttl.as_secs() > 119 * 60, "MCP_SESSION_IDLE_MINUTES default 120: {ttl:?}");
    let owner = kv.ttl(&atoms::mcp::session_store::owner_key(&session)).await.expect("ttl").expect("owned");
    assert!(owner.expect("expires").as_secs() > 23 * 3600, "MCP_SESSION_TTL_HOURS default 24 h, absolute");

    // Each use refreshes the idle TTL.
    kv.expire(&key, std::time::Duration::from_secs(60)).await.expect("shorten");
    let tools = call(&base, &session, 2, "tools/list").await;
    assert_eq!(tools.status, StatusCode::OK);
    let refreshed = kv.ttl(&key).await.expect("ttl").expect("stored").expect("expires");
    assert!(refreshed.as_secs() > 119 * 60, "refreshed on use: {refreshed:?}");
    assert_eq!(tools.message["result"]["tools"].as_array().map(Vec::len), Some(5), "the five Atoms tools");
    assert_eq!(call(&base, &session, 3, "ping").await.message["result"], json!({}));

    delete_session(&base, &session).await;
    assert_eq!(kv.get(&key).await.expect("get"), None);
    assert_jsonrpc_error(&call(&base, &session, 4, "ping").await, StatusCode::NOT_FOUND, -32001);
    assert_jsonrpc_error(&delete(&base, &session).await, StatusCode::NOT_FOUND, -32001);
    assert_jsonrpc_error(
        &delete(&base, "0123456789abcdef0123456789abcdef").await,
        StatusCode::NOT_FOUND,
        -32001,
    );
}

#[tokio::test]
async fn an_expired_session_is_404() {
    let (_redis, base, kv) = app_with_redis().await;
    let session = initialize(&base).await;
    // Expiry is the KV's job: shorten this session's TTL and let it lapse.
    kv.expire(&atoms::mcp::session_store::key(&session), std::time::Duration::from_millis(50))
        .await
        .expect("expire");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_jsonrpc_error(&call(&base, &session, 2, "tools/list").await, StatusCode::NOT_FOUND, -32001);
}

#[tokio::test]
async fn session_errors_are_400_and_404() {
    let base = support::spawn_app(support::config(&[])).await;
    let missing = post(
        &base,
        &[("mcp-protocol-version", LEGACY)],
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string(),
    )
    .await;
    assert_jsonrpc_error(&missing, StatusCode::BAD_REQUEST, -32600);
    let unknown = call(&base, "0123456789abcdef0123456789abcdef", 1, "tools/list").await;
    assert_jsonrpc_error(&unknown, StatusCode::NOT_FOUND, -32001);
}

#[tokio::test]
async fn malformed_bodies_get_json_rpc_errors() {
    let base = support::spawn_app(support::config(&[])).await;
    assert_jsonrpc_error(&post(&base, &[], "{\"jsonrpc\":").await, StatusCode::BAD_REQUEST, -32700);
    assert_jsonrpc_error(&post(&base, &[], "not json at all").await, StatusCode::BAD_REQUEST, -32700);
    let batch = json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]).to_string();
    assert_jsonrpc_error(&post(&base, &[], batch).await, StatusCode::BAD_REQUEST, -32600);
    let not_rpc = json!({"hello": "world"}).to_string();
    assert_jsonrpc_error(&post(&base, &[], not_rpc).await, StatusCode::BAD_REQUEST, -32600);
    let no_method = json!({"jsonrpc": "2.0", "id": 1}).to_string();
    assert_jsonrpc_error(&post(&base, &[], no_method).await, StatusCode::BAD_REQUEST, -32600);
    let wrong_type = reqwest::Client::new()
        .post(format!("{base}/api/mcp"))
        .header("content-type", "text/plain")
        .header("accept", "application/json, text/event-stream")
        .body(initialize_body())
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Value = wrong_type.json().await.expect("json-rpc body, not plain text");
    assert_eq!(body["error"]["code"], -32600);
    let huge = post(&base, &[], vec![b' '; 2 * 1024 * 1024]).await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn http_method_and_accept_rules() {
    let base = support::spawn_app(support::config(&[])).await;
    let session = initialize(&base).await;
    let client = reqwest::Client::new();
    let put = client.put(format!("{base}/api/mcp")).send().await.expect("put");
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
    let get = client
        .get(format!("{base}/api/mcp"))
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", LEGACY)
        .header("accept", "application/json")
        .send()
        .await
        .expect("get");
    assert_eq!(get.status(), StatusCode::NOT_ACCEPTABLE);
    let body: Value = get.json().await.expect("json-rpc body");
    assert_eq!(body["error"]["code"], -32600);
}

#[tokio::test]
async fn protocol_versions_and_headers_are_checked() {
    let base = support::spawn_app(support::config(&[])).await;
    let session = initialize(&base).await;
    let unsupported = post(
        &base,
        &[("mcp-session-id", &session), ("mcp-protocol-version", "1999-01-01")],
        json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}).to_string(),
    )
    .await;
    assert_jsonrpc_error(&unsupported, StatusCode::BAD_REQUEST, -32600);

    let meta = json!({"io.modelcontextprotocol/protocolVersion": CURRENT, "io.modelcontextprotocol/clientCapabilities": {}});
    let discover = post(
        &base,
        &[("mcp-protocol-version", CURRENT), ("mcp-method", "server/discover")],
        json!({"jsonrpc": "2.0", "id": 3, "method": "server/discover", "params": {"_meta": meta}})
            .to_string(),
    )
    .await;
    assert_eq!(discover.status, StatusCode::OK);
    assert_eq!(discover.headers["content-type"], "application/json", "stateless calls answer in JSON");
    let versions = discover.message["result"]["supportedVersions"].as_array().expect("versions").clone();
    assert!(versions.contains(&json!(CURRENT)) && versions.contains(&json!(LEGACY)), "{versions:?}");

    let stateless = post(
        &base,
        &[("mcp-protocol-version", CURRENT), ("mcp-method", "tools/list")],
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {"_meta": meta}}).to_string(),
    )
    .await;
    assert_eq!(stateless.status, StatusCode::OK);
    assert_eq!(stateless.message["result"]["resultType"], "complete");
    assert!(stateless.headers.get("mcp-session-id").is_none(), "no sessions in the 2026-07-28 era");

    let future_meta = json!({"io.modelcontextprotocol/protocolVersion": "2030-01-01", "io.modelcontextprotocol/clientCapabilities": {}});
    let future = post(
        &base,
        &[("mcp-protocol-version", "2030-01-01"), ("mcp-method", "tools/list")],
        json!({"jsonrpc": "2.0", "id": 6, "method": "tools/list", "params": {"_meta": future_meta}})
            .to_string(),
    )
    .await;
    assert_eq!(future.status, StatusCode::BAD_REQUEST);
    assert_eq!(future.message["error"]["code"], -32022);
    assert!(
        future.message["error"]["data"]["supported"].as_array().is_some_and(|v| v.contains(&json!(CURRENT)))
    );
    let disagree = post(
        &base,
        &[("mcp-protocol-version", CURRENT), ("mcp-method", "tools/list")],
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {"_meta": future_meta}})
            .to_string(),
    )
    .await;
    assert_eq!(disagree.status, StatusCode::BAD_REQUEST);
    assert_eq!(disagree.message["error"]["code"], -32020, "header and _meta versions must agree");

    let mismatch = post(
        &base,
        &[("mcp-protocol-version", CURRENT), ("mcp-method", "tools/call")],
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {"_meta": meta}}).to_string(),
    )
    .await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    assert_eq!(mismatch.message["error"]["code"], -32020);
}

#[tokio::test]
async fn foreign_origins_and_hosts_are_refused() {
    let base = support::spawn_app(support::config(&[])).await;
    let origin = post(&base, &[("origin", "https://evil.example")], initialize_body()).await;
    assert_jsonrpc_error(&origin, StatusCode::FORBIDDEN, -32000);
    let local = post(&base, &[("origin", "http://localhost:6274")], initialize_body()).await;
    assert_eq!(local.status, StatusCode::OK, "loopback browser clients work locally");
    let host = post(&base, &[("host", "evil.example")], initialize_body()).await;
    assert_eq!(host.status, StatusCode::FORBIDDEN, "DNS rebinding: {}", host.message);
}

#[tokio::test]
async fn without_an_identity_mode_the_endpoint_refuses_with_401() {
    let config = support::config(&[
        ("ATOMS_ENV", "production"),
        ("PUBLIC_URL", "https://atoms.example.com"),
        ("AUTHKIT_DOMAIN", "acme.authkit.app"),
        ("WORKOS_CLIENT_ID", "client_01TEST"),
        ("WORKOS_API_KEY", "sk_test_secret_value"),
        ("ATOMS_SESSION_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="),
        ("DATABASE_URL", "postgres://u@127.0.0.1:1/atoms"),
        ("REDIS_URL", "redis://127.0.0.1:1"),
    ]);
    let base = support::spawn_app(config).await;
    let reply = post(&base, &[("host", "atoms.example.com")], initialize_body()).await;
    assert_jsonrpc_error(&reply, StatusCode::UNAUTHORIZED, -32000);
    assert!(reply.headers["www-authenticate"].to_str().expect("ascii").starts_with("Bearer"));
}

/// `atoms serve` as a separate process sharing `redis_url`, and its base URL.
fn serve_process(redis_url: &str) -> (support::Process, String) {
    let server = support::atoms_serve(&[], &[("REDIS_URL", redis_url)]);
    let base = format!("http://127.0.0.1:{}", server.port);
    (server, base)
}

#[tokio::test]
async fn sessions_cross_process_boundaries_through_redis() {
    let redis = support::start_redis();
    let url = support::redis_url(&redis);
    let (mut first, first_url) = serve_process(&url);
    let (_second, second_url) = serve_process(&url);

    let session = initialize(&first_url).await;
    let on_second = call(&second_url, &session, 2, "tools/list").await;
    assert_eq!(on_second.status, StatusCode::OK, "{}", on_second.message);
    assert_eq!(on_second.message["result"]["tools"].as_array().map(Vec::len), Some(5));

    delete_session(&second_url, &session).await;
    assert_jsonrpc_error(&call(&first_url, &session, 3, "ping").await, StatusCode::NOT_FOUND, -32001);

    // A session survives a restart of the process that created it.
    let session = initialize(&first_url).await;
    first.kill();
    let (_restarted, restarted_url) = serve_process(&url);
    assert_eq!(call(&restarted_url, &session, 4, "ping").await.status, StatusCode::OK);
}

fn stateless(method: &str, id: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": CURRENT, "io.modelcontextprotocol/clientCapabilities": {}}}})
    .to_string()
}

#[tokio::test]
async fn repeated_stateless_lists_are_identical_and_still_validated() {
    let base = support::spawn_app(support::config(&[])).await;
    let headers = [("mcp-protocol-version", CURRENT), ("mcp-method", "tools/list")];
    let first = post(&base, &headers, stateless("tools/list", json!(7))).await;
    let second = post(&base, &headers, stateless("tools/list", json!("abc"))).await;
    assert_eq!((first.status, second.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(first.message["id"], 7);
    assert_eq!(second.message["id"], "abc");
    assert_eq!(first.message["result"], second.message["result"], "the same list every time");
    assert_eq!(second.message["result"]["resultType"], "complete");
    assert_eq!(second.headers["content-type"], "application/json");

    // Answering lists from memory never skips the transport's checks.
    let evil_host =
        post(&base, &[headers[0], headers[1], ("host", "evil.example")], stateless("tools/list", json!(8)))
            .await;
    assert_eq!(evil_host.status, StatusCode::FORBIDDEN);
    let evil_origin = post(
        &base,
        &[headers[0], headers[1], ("origin", "https://evil.example")],
        stateless("tools/list", json!(9)),
    )
    .await;
    assert_eq!(evil_origin.status, StatusCode::FORBIDDEN);
    let mismatch =
        post(&base, &[headers[0], ("mcp-method", "prompts/list")], stateless("tools/list", json!(10))).await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    assert_eq!(mismatch.message["error"]["code"], -32020);
    let no_meta =
        post(&base, &headers, json!({"jsonrpc": "2.0", "id": 11, "method": "tools/list"}).to_string()).await;
    assert_eq!(no_meta.status, StatusCode::BAD_REQUEST, "{}", no_meta.message);
}

#[tokio::test]
async fn the_local_identity_needs_a_loopback_listener() {
    use tower::ServiceExt;
    let state = atoms::state::AppState::new(support::config(&[])).expect("state");
    let app = atoms::router::local_server(state.clone(), atoms::mcp::routes(&state));
    // A local-target process on a wildcard listener: reachable from the network.
    let listener = atoms::host::local::bind(([0, 0, 0, 0], 0).into()).await.expect("bind");
    let base = format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port());
    tokio::spawn(atoms::host::local::serve(listener, app.clone()));
    assert_jsonrpc_error(&post(&base, &[], initialize_body()).await, StatusCode::UNAUTHORIZED, -32000);

    // A platform host (Vercel, Lambda) hands requests over without a local listener.
    let request = axum::http::Request::post("/api/mcp")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(axum::body::Body::from(initialize_body()))
        .expect("request");
    let response = app.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_valid_dev_token_is_refused_off_loopback() {
    // Dev tokens exist only where the local identity does: a token minted with this machine's
    // key does not open a wildcard listener either.
    let dir = std::env::temp_dir().join(format!("atoms-token-bind-{}", uuid::Uuid::new_v4().simple()));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let token = atoms::auth::dev_token::issue(&dir, "alice", None, None, 3600, now).expect("token");
    let state =
        atoms::state::AppState::new(support::config(&[("ATOMS_DATA_DIR", dir.to_str().expect("utf-8"))]))
            .expect("state");
    let app = atoms::router::local_server(state.clone(), atoms::mcp::routes(&state));
    let listener = atoms::host::local::bind(([0, 0, 0, 0], 0).into()).await.expect("bind");
    let base = format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port());
    tokio::spawn(atoms::host::local::serve(listener, app));
    let bearer = format!("Bearer {token}");
    let reply = post(&base, &[("authorization", bearer.as_str())], initialize_body()).await;
    assert_jsonrpc_error(&reply, StatusCode::UNAUTHORIZED, -32000);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_session_the_kv_cannot_store_is_never_handed_out_nor_logged() {
    let dead = format!("redis://127.0.0.1:{}", support::free_port());
    let mut server = support::atoms_serve(&[], &[("REDIS_URL", &dead), ("KV_TIMEOUT_MS", "300")]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let reply = post(&base, &[], initialize_body()).await;
    assert_jsonrpc_error(&reply, StatusCode::SERVICE_UNAVAILABLE, -32603);
    assert!(reply.headers.get("mcp-session-id").is_none(), "no session the KV does not hold");

    let logs = server.logs();
    assert!(logs.contains("new MCP session not stored"), "{logs}");
    assert!(logs.contains("Failed to persist session [redacted]"), "rmcp's warning, redacted: {logs}");
    // rmcp's session ids are hyphenated UUIDs (request ids are plain hex).
    let uuid_like = logs
        .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .any(|run| run.len() == 36 && run.matches('-').count() == 4);
    assert!(!uuid_like, "no session id in the logs: {logs}");
}

#[tokio::test]
async fn initialize_inside_a_deleted_session_is_404_on_every_instance() {
    let redis = support::start_redis();
    let config = support::config(&[("REDIS_URL", &support::redis_url(&redis))]);
    let first = support::spawn_app(config.clone()).await;
    let second = support::spawn_app(config).await;
    let session = initialize(&first).await;
    assert_eq!(call(&second, &session, 2, "ping").await.status, StatusCode::OK, "the second holds it too");
    delete_session(&first, &session).await;
    let inside =
        post(&second, &[("mcp-session-id", &session), ("mcp-protocol-version", LEGACY)], initialize_body())
            .await;
    assert_jsonrpc_error(&inside, StatusCode::NOT_FOUND, -32001);
}

/// One request of the cache-versus-rmcp comparison: extra headers (appended, so a name may
/// repeat) on a stateless list call.
async fn list_status(base: &str, headers: &[(&str, &str)], method: &str) -> StatusCode {
    let mut request = reqwest::Client::new().post(format!("{base}/api/mcp"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.body(stateless(method, json!(1))).send().await.expect("request");
    response.status()
}

/// A small deterministic generator (no dependency, same cases every run).
struct Cases(u64);

impl Cases {
    fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        choices[(self.0 >> 33) as usize % choices.len()]
    }
}

#[tokio::test]
async fn the_list_cache_is_exactly_as_strict_as_rmcp() {
    let warm = support::spawn_app(support::config(&[])).await;
    let rmcp_only = support::spawn_app(support::config(&[("CACHE_ENABLED", "false")])).await;
    const OK_ACCEPT: &str = "application/json, text/event-stream";
    for method in ["tools/list", "prompts/list", "resources/list", "resources/templates/list"] {
        let plain = [
            ("content-type", "application/json"),
            ("accept", OK_ACCEPT),
            ("mcp-protocol-version", CURRENT),
            ("mcp-method", method),
        ];
        assert_eq!(list_status(&warm, &plain, method).await, StatusCode::OK, "warming {method}");
    }
    let hosts = [
        "localhost",
        "localhost:3000",
        "127.0.0.1:8080",
        "[::1]",
        "[::1]:3000",
        "::1",
        "LOCALHOST",
        "evil.example",
        "localhost:abc",
        "local host",
        "[::1",
        "localhost.",
    ];
    let accepts = [
        OK_ACCEPT,
        "application/json;q=0, text/event-stream",
        "application/json;q=0.000, text/event-stream",
        "application/json;q=0.5, text/event-stream;q=1",
        "text/event-stream",
        "application/json",
        "*/*",
        "application/json, text/event-stream;q=0",
        "application/json;q=abc, text/event-stream",
        "APPLICATION/JSON, TEXT/EVENT-STREAM",
        "application/json;foo=\"a,text/event-stream\"",
        "application/json;q=0.0001, text/event-stream",
        "application/json-seq, text/event-stream",
    ];
    let content_types = [
        "application/json",
        "application/json; charset=utf-8",
        "application/json-seq",
        "APPLICATION/JSON",
        "text/plain",
        "application/jsonx",
        " application/json ",
        "application/json;",
    ];
    let versions = [CURRENT, "2025-11-25", "2030-01-01", "2026-07-28 "];
    let extras: [&[(&str, &str)]; 10] = [
        &[],
        &[("mcp-method", "tools/list")],
        &[("mcp-method", "prompts/list")],
        &[("mcp-protocol-version", CURRENT)],
        &[("mcp-name", "x")],
        &[("mcp-param-x", "1")],
        &[("accept", "text/event-stream")],
        &[("content-type", "application/json")],
        &[("origin", "http://localhost:1234")],
        &[("host", "localhost")],
    ];
    let mut cases = Cases(15);
    let mut compared = 0;
    for round in 0..240 {
        let method = cases.pick(&["tools/list", "prompts/list"]);
        let mut headers = vec![
            ("host", if round < 20 { hosts[round % hosts.len()] } else { cases.pick(&hosts) }),
            ("accept", if round < 20 { OK_ACCEPT } else { cases.pick(&accepts) }),
            ("content-type", cases.pick(&content_types)),
            ("mcp-protocol-version", cases.pick(&versions)),
            ("mcp-method", method),
        ];
        headers.extend(extras[round % extras.len()].iter().copied());
        let (cached, uncached) =
            (list_status(&warm, &headers, method).await, list_status(&rmcp_only, &headers, method).await);
        assert_eq!(cached, uncached, "warm cache and rmcp disagree on {headers:?}");
        compared += usize::from(cached == StatusCode::OK);
    }
    assert!(compared > 10, "the comparison must include accepted requests too ({compared})");
}

#[tokio::test]
async fn local_mode_refuses_tunnelled_and_proxied_requests() {
    // A tunnel (ngrok, cloudflared) or proxy on this machine connects from loopback too.
    let base =
        support::spawn_app(support::config(&[("PUBLIC_URL", "https://atoms-tunnel.example.com")])).await;
    let public_host = post(&base, &[("host", "atoms-tunnel.example.com")], initialize_body()).await;
    assert_jsonrpc_error(&public_host, StatusCode::FORBIDDEN, -32000);
    for (name, value) in [
        ("x-forwarded-for", "203.0.113.7"),
        ("X-Real-IP", "203.0.113.7"),
        ("forwarded", "for=203.0.113.7"),
        ("cf-connecting-ip", "203.0.113.7"),
        ("x-forwarded-host", "atoms-tunnel.example.com"),
    ] {
        let forwarded = post(&base, &[(name, value)], initialize_body()).await;
        assert_jsonrpc_error(&forwarded, StatusCode::FORBIDDEN, -32000);
    }
    let direct = post(&base, &[], initialize_body()).await;
    assert_eq!(direct.status, StatusCode::OK, "a plain loopback client is still the local user");
}
