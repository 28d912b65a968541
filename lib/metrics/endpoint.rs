//! `GET /metrics` (and `/api/metrics`, the function's own path): the fleet-wide exposition.
//!
//! Who may read it ([`authorize`], shared with `/status`): a request carrying
//! `Authorization: Bearer <METRICS_TOKEN>` (compared in constant time), or — only in local mode
//! (local target, `local` auth mode) — any request that arrived on a loopback listener of
//! `atoms serve`. Everything else is 401, also when no token is configured.
//!
//! A scrape first flushes this instance's own deltas (so one instance's scrape sees its own
//! latest counts), then reads the totals in one KV round trip. `?evaluate` also runs the alert
//! evaluation (a backstop for a scheduler: Vercel cron, EventBridge), awaited. For `?evaluate`
//! alone, `Authorization: Bearer <CRON_SECRET>` (what Vercel's cron sends) is accepted too: it
//! flushes and evaluates, and answers `{"evaluated": true}` — never the metrics.

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::{exposition, flush, snapshot};
use crate::config::{AuthMode, Config, Target};
use crate::host::local::Listener;
use crate::http::ApiError;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct MetricsQuery {
    /// Present (any value): evaluate the alert rules before answering.
    evaluate: Option<String>,
    /// `status`: the status page instead of the exposition (what `/status` is rewritten to).
    view: Option<String>,
}

/// `GET /metrics`.
pub async fn metrics(
    State(state): State<AppState>,
    listener: Option<Extension<Listener>>,
    headers: HeaderMap,
    Query(query): Query<MetricsQuery>,
) -> Result<Response, ApiError> {
    if query.evaluate.is_some() && query.view.is_none() && is_cron(&state.config, &headers) {
        let _ = flush::flush(&state).await;
        crate::alerts::evaluate_now(&state).await;
        return Ok(axum::Json(serde_json::json!({"evaluated": true})).into_response());
    }
    authorize(&state.config, &headers, listener.as_deref())?;
    match query.view.as_deref() {
        None => {}
        Some("status") => return crate::status::page(&state).await,
        Some(_) => return Err(ApiError::bad_request("view must be `status`")),
    }
    // Best effort: a KV error here shows again (and is answered) when the totals are read.
    let _ = flush::flush(&state).await;
    if query.evaluate.is_some() {
        crate::alerts::evaluate_now(&state).await;
    }
    let now = flush::now_ms() as f64 / 1000.0;
    let totals = snapshot::read_totals(&state.kv, state.config.sessions.ttl, now).await.map_err(|error| {
        tracing::warn!(error = %error, "metrics cannot be read from the KV");
        ApiError::service_unavailable("The metrics store (KV) is unavailable; retry shortly.")
    })?;
    let mut response = exposition::encode(totals).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(exposition::CONTENT_TYPE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The rule of `/metrics` and `/status` (see the module docs).
pub fn authorize(config: &Config, headers: &HeaderMap, listener: Option<&Listener>) -> Result<(), ApiError> {
    let presented = bearer(headers);
    if let (Some(presented), Some(expected)) = (presented, &config.observability.metrics_token) {
        if same_token(presented, expected.expose()) {
            return Ok(());
        }
        tracing::info!(reason = "wrong metrics token", "metrics request refused");
        return Err(ApiError::unauthorized("The bearer token is not this deployment's METRICS_TOKEN."));
    }
    let local = config.target == Target::Local
        && config.auth.mode == AuthMode::Local
        && listener.is_some_and(Listener::is_loopback);
    if local && presented.is_none() {
        return Ok(());
    }
    Err(ApiError::unauthorized("Send Authorization: Bearer <METRICS_TOKEN>."))
}

/// Whether the request carries `Bearer <CRON_SECRET>` (when one is configured).
fn is_cron(config: &Config, headers: &HeaderMap) -> bool {
    match (bearer(headers), &config.observability.cron_secret) {
        (Some(presented), Some(secret)) => same_token(presented, secret.expose()),
        _ => false,
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// Constant-time equality: both sides are MACed under one key and the tags compared by
/// `hmac`'s constant-time check, so neither length nor content leaks through timing.
fn same_token(presented: &str, expected: &str) -> bool {
    let tag = |value: &str| {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(b"atoms metrics token").unwrap_or_else(|_| unreachable!());
        mac.update(value.as_bytes());
        mac
    };
    tag(presented).verify_slice(&tag(expected).finalize().into_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::same_token;

    #[test]
    fn tokens_compare_exactly() {
        assert!(same_token("0123456789abcdef", "0123456789abcdef"));
        assert!(!same_token("0123456789abcdeF", "0123456789abcdef"));
        assert!(!same_token("0123456789abcdef0", "0123456789abcdef"));
        assert!(!same_token("", "0123456789abcdef"));
    }
}
