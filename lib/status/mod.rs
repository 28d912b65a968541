//! `GET /status`: one server-rendered HTML page for a person — dependency health, request and
//! error rates per minute, p95 per route and per tool over the last hour, live sessions and
//! recent alerts — from the same fleet-wide KV aggregates as `/metrics`.
//!
//! Protected like `/metrics` (`crate::metrics::endpoint::authorize`). No script, no stylesheet,
//! no external asset: plain HTML with inline SVG charts drawn with presentation attributes, so
//! it renders under the boundary's `default-src 'none'` CSP unchanged. [`page`] gathers,
//! [`render`] draws.

mod render;
mod svg;

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

use crate::health::checks::{self, Check};
use crate::host::local::Listener;
use crate::http::ApiError;
use crate::metrics::snapshot::{self, Aggregate};
use crate::metrics::{endpoint, flush};
use crate::state::AppState;

/// The minutes the page covers.
pub const MINUTES: u64 = 60;

/// What the page shows.
#[derive(Debug)]
pub struct StatusData {
    pub generated_at: u64,
    pub version: &'static str,
    pub commit: String,
    pub region: String,
    pub target: &'static str,
    pub checks: Vec<(&'static str, Check)>,
    /// The last [`MINUTES`] minutes, oldest first.
    pub minutes: Vec<(u64, Aggregate)>,
    pub sessions_active: u64,
    pub alerts: Vec<serde_json::Value>,
}

/// `GET /status` (also `/api/metrics?view=status` through the Vercel rewrite).
pub async fn handler(
    State(state): State<AppState>,
    listener: Option<Extension<Listener>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    endpoint::authorize(&state.config, &headers, listener.as_deref())?;
    page(&state).await
}

/// Gathers and renders the page (authorization already checked).
pub async fn page(state: &AppState) -> Result<Response, ApiError> {
    // Best effort, as on /metrics: this instance's own latest counts first.
    let _ = flush::flush(state).await;
    let now_ms = flush::now_ms();
    let now = now_ms / 1000;
    let (database, kv, authkit) =
        tokio::join!(checks::database(state), checks::kv(state), checks::auth_jwks(state));
    let (minutes, totals, alerts) = tokio::join!(
        snapshot::read_minutes(&state.kv, MINUTES, now),
        snapshot::read_totals(&state.kv, state.config.sessions.ttl, now_ms as f64 / 1000.0),
        crate::alerts::recent(state, Duration::from_secs(24 * 3600), 20),
    );
    let unavailable = |error: crate::kv::KvError| {
        tracing::warn!(error = %error, "status page cannot read the metrics");
        ApiError::service_unavailable("The metrics store (KV) is unavailable; retry shortly.")
    };
    let data = StatusData {
        generated_at: now,
        version: env!("CARGO_PKG_VERSION"),
        commit: state.config.platform.commit.clone(),
        region: state.config.platform.region.clone(),
        target: state.config.target.as_str(),
        checks: vec![("database", database), ("kv", kv), ("authkit", authkit)],
        minutes: minutes.map_err(unavailable)?,
        sessions_active: totals.map_err(unavailable)?.sessions_active,
        alerts: alerts.unwrap_or_default(),
    };
    let mut response = Html(render::page(&data)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
