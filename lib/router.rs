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
    let routes = Router::new()
        .route("/", get(health::by_probe))
        .route("/live", get(health::live))
        .route("/ready", get(health::ready));
    let router = Router::new()
        .nest("/health", routes.clone())
        .nest("/api/health", routes)
        .fallback(not_found)
        .with_state(state.clone());
    http::with_boundary(router, &state.config.http)
}

/// Every function's routes on one router, for `atoms serve`.
pub fn local_server(state: AppState) -> Router {
    // Later functions (mcp, metrics, auth) are merged here as they land.
    health(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}
