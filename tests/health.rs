//! `/health`, `/health/ready` and `/health/live` report the truth about each dependency.

mod support;

use reqwest::StatusCode;
use serde_json::Value;

async fn get(base: &str, path: &str) -> (StatusCode, String, Value) {
    let response = reqwest::get(format!("{base}{path}")).await.expect("request");
    let status = response.status();
    let cache = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().expect("ascii").to_owned())
        .unwrap_or_default();
    (status, cache, response.json().await.expect("json"))
}

#[tokio::test]
async fn embedded_defaults_are_healthy_and_say_what_is_not_configured() {
    let base = support::spawn_app(support::config(&[("ATOMS_COMMIT", "abc123")])).await;
    let (status, cache, body) = get(&base, "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cache, "no-store");
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["commit"], "abc123");
    assert_eq!(body["region"], "local");
    assert!(body["uptime_seconds"].is_u64());
    assert_eq!(body["checks"]["kv"]["status"], "ok");
    assert_eq!(body["checks"]["kv"]["kind"], "memory");
    assert!(body["checks"]["kv"]["latency_ms"].is_number());
    assert_eq!(body["checks"]["database"]["status"], "not_configured");
    assert_eq!(body["checks"]["auth_jwks"]["status"], "not_configured");
}

#[tokio::test]
async fn a_real_redis_is_checked() {
    let redis = support::start_redis();
    let url = support::redis_url(&redis);
    let base = support::spawn_app(support::config(&[("REDIS_URL", &url)])).await;
    let (status, _, body) = get(&base, "/health").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checks"]["kv"]["kind"], "redis");
    assert_eq!(body["checks"]["kv"]["status"], "ok");
}

#[tokio::test]
async fn a_dead_kv_makes_the_service_unhealthy_and_not_ready() {
    let dead = format!("redis://:hunter2@127.0.0.1:{}", support::free_port());
    let base = support::spawn_app(support::config(&[("REDIS_URL", &dead), ("KV_TIMEOUT_MS", "500")])).await;
    let (status, cache, body) = get(&base, "/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(cache, "no-store");
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["checks"]["kv"]["status"], "error");
    assert!(!body.to_string().contains("hunter2"), "no secret in the report: {body}");

    let (status, _, body) = get(&base, "/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "not_ready");

    let (status, _, body) = get(&base, "/health/live").await;
    assert_eq!(status, StatusCode::OK, "liveness does no I/O");
    assert_eq!(body["status"], "alive");
}

#[tokio::test]
async fn an_unreachable_jwks_degrades_but_keeps_serving() {
    // A closed loopback port: the JWKS fetch fails at once, without leaving the machine.
    let domain = format!("127.0.0.1:{}", support::free_port());
    let base = support::spawn_app(support::config(&[
        ("AUTHKIT_DOMAIN", &domain),
        ("PUBLIC_URL", "http://127.0.0.1:3000"),
    ]))
    .await;
    let (status, _, body) = get(&base, "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["auth_jwks"]["status"], "error");
    let (status, _, _) = get(&base, "/health/ready").await;
    assert_eq!(status, StatusCode::OK, "JWKS is not needed to be ready");
}

#[tokio::test]
async fn an_unreachable_database_is_reported() {
    let url = format!("postgres://atoms:pw-secret@127.0.0.1:{}/atoms", support::free_port());
    let base = support::spawn_app(support::config(&[("DATABASE_URL", &url)])).await;
    let (status, _, body) = get(&base, "/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["checks"]["database"]["status"], "error");
    assert!(!body.to_string().contains("pw-secret"));
}

#[tokio::test]
async fn vercel_rewrites_reach_each_probe() {
    // vercel.json rewrites /health/live to /api/health?probe=live.
    let base = support::spawn_app(support::config(&[])).await;
    let (status, _, body) = get(&base, "/api/health?probe=live").await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("alive")));
    let (status, _, body) = get(&base, "/api/health?probe=ready").await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ready")));
    let (status, _, body) = get(&base, "/api/health?probe=nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "bad_request");
}
