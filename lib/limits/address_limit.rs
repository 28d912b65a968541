//! The per-address limit of the browser sign-in routes (`/auth/*`, `RATE_LIMIT_AUTH_*`): one
//! GCRA bucket per client address, checked before the handler. It fails **closed**: with the KV
//! down, sign-in answers 503 rather than go unlimited. WorkOS webhooks are exempt (they are
//! authenticated by their signature and arrive from WorkOS's few addresses in bursts).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{Decision, auth_bucket, client_address};
use crate::http::ApiError;
use crate::kv::Command;
use crate::state::AppState;

pub async fn limit_by_address(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limits = &state.config.rate_limit;
    let webhook = request.uri().path().ends_with("/webhooks/workos")
        || request.uri().query().is_some_and(|q| q.split('&').any(|p| p == "action=webhook"));
    if !limits.enabled || webhook {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let address = client_address(&state.config, &parts);
    let now_ms = crate::clock::now_ms();
    let command = Command::Gcra { buckets: vec![auth_bucket(limits, &address)], now_ms };
    let decision = match state.kv.run(command).await.map(|reply| Decision::from_reply(&reply)) {
        Ok(Some(decision)) => decision,
        Ok(None) | Err(_) => {
            tracing::warn!("sign-in rate limiter unavailable: refusing (fails closed)");
            return ApiError::service_unavailable("sign-in is briefly unavailable; retry shortly")
                .into_response();
        }
    };
    if !decision.allowed {
        crate::metrics::record_rate_limited();
        let message = format!(
            "Too many sign-in requests from this address; retry in {} s.",
            decision.retry_after_seconds()
        );
        let mut response =
            ApiError::new(axum::http::StatusCode::TOO_MANY_REQUESTS, "rate_limited", message).into_response();
        decision.apply_with(limits.auth, "auth", response.headers_mut());
        return response;
    }
    let mut response = next.run(Request::from_parts(parts, body)).await;
    decision.apply_with(limits.auth, "auth", response.headers_mut());
    response
}
