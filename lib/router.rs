//! Every route of the bundle, and the slice each function serves.
//!
//! One router definition, sliced per function: a Vercel/Lambda function binary serves only its
//! slice (and builds only the state that slice needs), `atoms serve` mounts them all on one port.
//! Each route is also reachable under `/api/<function>` because that is the function's own path
//! on Vercel; `vercel.json` rewrites the public paths onto it.

use axum::Router;
use axum::routing::get;

use crate::health;
use crate::http::{self, ApiError};
use crate::state::AppState;

/// The `health` function: `/health`, `/health/live`, `/health/ready`.
pub fn health(state: AppState) -> Router {
    crate::metrics::record_cold_start("health");
    let router = health_routes(state.clone()).fallback(not_found);
    http::with_boundary(router, &state.config.http)
}

fn health_routes(state: AppState) -> Router {
    let routes = Router::new()
        .route("/", get(health::by_probe))
        .route("/live", get(health::live))
        .route("/ready", get(health::ready));
    Router::new().nest("/health", routes.clone()).nest("/api/health", routes).with_state(state)
}

/// The `mcp` function: the MCP endpoint at `ATOMS_MCP_PATH` (default `/api/mcp`).
pub fn mcp(state: AppState) -> Router {
    crate::metrics::record_cold_start("mcp");
    let router = crate::mcp::routes(&state).fallback(not_found);
    http::with_boundary(router, &state.config.http)
}

/// The `auth` function: the browser sign-in flow (`/auth/login`, `/auth/callback`,
/// `/auth/token`, `/auth/logout`, `/auth/webhooks/workos`).
pub fn auth(state: AppState) -> Router {
    crate::metrics::record_cold_start("auth");
    let router = crate::auth::signin::routes(state.clone()).fallback(not_found);
    http::with_boundary(router, &state.config.http)
}

/// The `metrics` function: `/metrics` (rewritten to `/api/metrics`) and `/status` (rewritten to
/// `/api/metrics?view=status`).
pub fn metrics(state: AppState) -> Router {
    crate::metrics::record_cold_start("metrics");
    let router = metrics_routes(state.clone()).fallback(not_found);
    http::with_boundary(router, &state.config.http)
}

fn metrics_routes(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(crate::metrics::endpoint::metrics))
        .route("/api/metrics", get(crate::metrics::endpoint::metrics))
        .route("/status", get(crate::status::handler))
        .with_state(state)
}

/// Every function's routes on one router, for `atoms serve`; `mcp` is the MCP route to mount
/// (the Atoms server, or the conformance fixtures). Each function's slice records its own cold
/// start; this one records `serve`'s.
pub fn local_server(state: AppState, mcp: Router) -> Router {
    crate::metrics::record_cold_start("serve");
    let router = Router::new()
        .merge(health_routes(state.clone()))
        .merge(metrics_routes(state.clone()))
        .merge(crate::auth::signin::routes(state.clone()))
        .merge(mcp)
        .fallback(not_found);
    http::with_boundary(router, &state.config.http)
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}
