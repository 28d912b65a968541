//! The HTTP boundary as a client sees it: security headers and request ids on every route, CORS
//! preflight for MCP clients, the JSON error envelope, the body limit and the panic guard.

mod support;

use axum::Router;
use axum::routing::get;
use reqwest::StatusCode;
use serde_json::Value;
use tower::ServiceExt;

const SECURITY_HEADERS: [(&str, &str); 6] = [
    ("strict-transport-security", "max-age=63072000; includeSubDomains"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
];

fn assert_boundary_headers(response: &reqwest::Response) {
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(response.headers().get(name).and_then(|v| v.to_str().ok()), Some(value), "{name}");
    }
    assert!(response.headers().contains_key("x-request-id"), "x-request-id missing");
}

async fn envelope(response: reqwest::Response) -> Value {
    assert_eq!(response.headers()["content-type"], "application/json");
    let request_id = response.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    let body: Value = response.json().await.expect("JSON envelope");
    assert_eq!(body["error"]["request_id"], request_id.as_str(), "envelope carries the request id");
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
    body["error"].clone()
}

#[tokio::test]
async fn every_route_carries_security_headers_and_a_request_id() {
    let base = support::spawn_app(support::config(&[])).await;
    let client = reqwest::Client::new();
    for path in
        ["/health", "/health/live", "/health/ready", "/api/health", "/api/health/live", "/no/such/route"]
    {
        let response = client.get(format!("{base}{path}")).send().await.expect("request");
        assert_boundary_headers(&response);
    }
}

#[tokio::test]
async fn platform_request_ids_are_echoed() {
    let base = support::spawn_app(support::config(&[])).await;
    let response = reqwest::Client::new()
        .get(format!("{base}/health/live"))
        .header("x-vercel-id", "iad1::8x2kd-1700000000000-abcdef")
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()["x-request-id"], "iad1::8x2kd-1700000000000-abcdef");
}

#[tokio::test]
async fn cors_preflight_admits_mcp_clients() {
    let base = support::spawn_app(support::config(&[])).await;
    let response = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{base}/api/mcp"))
        .header("origin", "http://localhost:6274")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, mcp-protocol-version, mcp-session-id, mcp-method, mcp-name, last-event-id",
        )
        .send()
        .await
        .expect("preflight");
    assert_eq!(response.status(), StatusCode::OK);
    assert_boundary_headers(&response);
    let header = |name: &str| response.headers()[name].to_str().expect("ascii").to_owned();
    assert_eq!(header("access-control-allow-origin"), "*");
    let allowed = header("access-control-allow-headers");
    for name in [
        "authorization",
        "content-type",
        "mcp-protocol-version",
        "mcp-session-id",
        "mcp-method",
        "mcp-name",
        "last-event-id",
    ] {
        assert!(allowed.contains(name), "{name} not in {allowed}");
    }
    assert!(header("access-control-allow-methods").contains("POST"));
    assert!(header("access-control-allow-methods").contains("DELETE"));

    let actual = reqwest::Client::new()
        .get(format!("{base}/health/live"))
        .header("origin", "http://localhost:6274")
        .send()
        .await
        .expect("request");
    let exposed = actual.headers()["access-control-expose-headers"].to_str().expect("ascii");
    assert!(exposed.contains("mcp-session-id") && exposed.contains("www-authenticate"), "{exposed}");
}

#[tokio::test]
async fn oversized_bodies_get_413_in_the_envelope() {
    let base = support::spawn_app(support::config(&[])).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/health"))
        .header("content-type", "application/json")
        .body(vec![b'x'; 2 * 1024 * 1024])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_boundary_headers(&response);
    let error = envelope(response).await;
    assert_eq!(error["code"], "payload_too_large");
    assert_eq!(error["message"], "The request body exceeds the limit of 1048576 bytes.");
}

/// Sends `body` to `/api/mcp` over a raw connection, chunked or with a `Content-Length`, and
/// returns the status line and body.
async fn raw_mcp_post(base: &str, body: &[u8], chunked: bool) -> (String, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect");
    let framing = if chunked {
        "transfer-encoding: chunked".to_owned()
    } else {
        format!("content-length: {}", body.len())
    };
    let head = format!(
        "POST /api/mcp HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\nconnection: close\r\n{framing}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    if chunked {
        for chunk in body.chunks(64) {
            stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.expect("size");
            stream.write_all(chunk).await.expect("chunk");
            stream.write_all(b"\r\n").await.expect("crlf");
        }
        stream.write_all(b"0\r\n\r\n").await.expect("last chunk");
    } else {
        stream.write_all(body).await.expect("body");
    }
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply).await;
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let status = reply.lines().next().unwrap_or_default().to_owned();
    let body = reply.split("\r\n\r\n").nth(1).unwrap_or_default();
    let body = body.lines().find(|line| line.starts_with('{')).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_mcp_route_has_one_413_shape_whatever_the_framing() {
    let base = support::spawn_app(support::config(&[("ATOMS_MAX_BODY_BYTES", "100")])).await;
    let body =
        format!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"pad\":\"{}\"}}", "x".repeat(200));
    let (status, with_length) = raw_mcp_post(&base, body.as_bytes(), false).await;
    assert!(status.contains("413"), "{status}");
    let (status, chunked) = raw_mcp_post(&base, body.as_bytes(), true).await;
    assert!(status.contains("413"), "{status}");
    assert_eq!(with_length, chunked, "one body shape on the MCP route");
    assert_eq!(chunked["jsonrpc"], "2.0", "{chunked}");
    assert_eq!(chunked["error"]["code"], -32600);
    assert_eq!(chunked["error"]["message"], "The request body exceeds the limit of 100 bytes.");
}

#[tokio::test]
async fn unmatched_paths_are_logged_as_a_placeholder() {
    let mut server = support::atoms_serve(&[], &[]);
    let response = reqwest::get(format!("http://127.0.0.1:{}/oauth/callback/SECRET-CODE-123", server.port))
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let logs = server.logs();
    assert!(logs.contains("\"route\":\"(unmatched)\""), "{logs}");
    assert!(!logs.contains("SECRET-CODE-123"), "raw path logged: {logs}");
}

#[tokio::test]
async fn the_body_limit_is_configurable() {
    let base = support::spawn_app(support::config(&[("ATOMS_MAX_BODY_BYTES", "100")])).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/health"))
        .body(vec![b'x'; 101])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn unknown_routes_and_methods_get_the_envelope() {
    let base = support::spawn_app(support::config(&[])).await;
    let client = reqwest::Client::new();
    let response = client.get(format!("{base}/nope")).send().await.expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(envelope(response).await["code"], "not_found");

    let response = client.delete(format!("{base}/health")).send().await.expect("request");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(envelope(response).await["code"], "method_not_allowed");
}

async fn boom() -> &'static str {
    panic!("handler bug")
}

#[tokio::test]
async fn a_panicking_handler_becomes_a_500_and_the_instance_lives_on() {
    let config = support::config(&[]);
    let router = Router::new().route("/boom", get(boom)).route("/fine", get(|| async { "fine" }));
    let app = atoms::http::with_boundary(router, &config.http);

    let request = axum::http::Request::get("/boom").body(axum::body::Body::empty()).expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.headers().contains_key("x-content-type-options"));
    let body = axum::body::to_bytes(response.into_body(), 4096).await.expect("body");
    let body: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["error"]["code"], "internal_error");

    let request = axum::http::Request::get("/fine").body(axum::body::Body::empty()).expect("request");
    let response = app.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
}
