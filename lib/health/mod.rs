//! `/health` (deep), `/health/ready` (what serving traffic needs) and `/health/live` (process
//! only, no I/O).
//!
//! Overall status of `/health`: `unhealthy` when a critical dependency (database, KV) fails →
//! 503; `degraded` when only a non-critical one (AuthKit JWKS) fails → 200; else `healthy`. A
//! dependency that is not configured is reported as `not_configured` and does not count either
//! way. Every response carries `Cache-Control: no-store`.

pub mod checks;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::http::ApiError;
use crate::state::AppState;
use checks::Check;

#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    Healthy,
    Degraded,
    Unhealthy,
}

#[derive(Serialize)]
struct Checks {
    database: Check,
    kv: Check,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_jwks: Option<Check>,
}

#[derive(Serialize)]
struct Report<'a> {
    status: &'a str,
    version: &'static str,
    commit: &'a str,
    region: &'a str,
    target: &'static str,
    uptime_seconds: u64,
    checks: Checks,
}

/// `GET /health/live`: the process answers. No I/O.
pub async fn live(State(state): State<AppState>) -> Response {
    let body = serde_json::json!({
        "status": "alive",
        "uptime_seconds": state.started.elapsed().as_secs(),
    });
    no_store(StatusCode::OK, Json(body))
}

/// `GET /health/ready`: the dependencies needed to serve traffic (database, KV) answer.
pub async fn ready(State(state): State<AppState>) -> Response {
    let (database, kv) = tokio::join!(checks::database(&state), checks::kv(&state));
    let ready = !database.failed() && !kv.failed();
    let checks = Checks { database, kv, auth_jwks: None };
    let (status, label) =
        if ready { (StatusCode::OK, "ready") } else { (StatusCode::SERVICE_UNAVAILABLE, "not_ready") };
    no_store(status, Json(report(&state, label, checks)))
}

/// Which probe a rewritten request asks for (`/health/live` → `/api/health?probe=live` on Vercel,
/// whose rewrites may hand the function the destination path rather than the original).
#[derive(Deserialize)]
pub struct ProbeQuery {
    probe: Option<String>,
}

/// `GET /health[?probe=live|ready]`.
pub async fn by_probe(state: State<AppState>, Query(query): Query<ProbeQuery>) -> Response {
    match query.probe.as_deref() {
        None => full(state).await,
        Some("live") => live(state).await,
        Some("ready") => ready(state).await,
        Some(_) => ApiError::bad_request("probe must be `live` or `ready`").into_response(),
    }
}

/// `GET /health`: every configured dependency, concurrently.
pub async fn full(State(state): State<AppState>) -> Response {
    let (database, kv, auth_jwks) =
        tokio::join!(checks::database(&state), checks::kv(&state), checks::auth_jwks(&state));
    let overall = if database.failed() || kv.failed() {
        Overall::Unhealthy
    } else if auth_jwks.failed() {
        Overall::Degraded
    } else {
        Overall::Healthy
    };
    let (status, label) = match overall {
        Overall::Healthy => (StatusCode::OK, "healthy"),
        Overall::Degraded => (StatusCode::OK, "degraded"),
        Overall::Unhealthy => (StatusCode::SERVICE_UNAVAILABLE, "unhealthy"),
    };
    let checks = Checks { database, kv, auth_jwks: Some(auth_jwks) };
    no_store(status, Json(report(&state, label, checks)))
}

fn report<'a>(state: &'a AppState, status: &'a str, checks: Checks) -> Report<'a> {
    let config = &state.config;
    Report {
        status,
        version: env!("CARGO_PKG_VERSION"),
        commit: &config.platform.commit,
        region: &config.platform.region,
        target: config.target.as_str(),
        uptime_seconds: state.started.elapsed().as_secs(),
        checks,
    }
}

fn no_store(status: StatusCode, body: impl IntoResponse) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
