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
    let router = crate::mcp::routes(&state).fallback(not_found);
    http::with_boundary(router, &state.config.http)
}

/// The `auth` function: the browser sign-in flow (`/auth/login`, `/auth/callback`,
/// `/auth/token`, `/auth/logout`, `/auth/webhooks/workos`).
pub fn auth(state: AppState) -> Router {
    let router = crate::auth::signin::routes(state.clone()).fallback(not_found);
    http::with_boundary(router, &state.config.http)
}

/// Every function's routes on one router, for `atoms serve`; `mcp` is the MCP route to mount
/// (the Atoms server, or the conformance fixtures).
pub fn local_server(state: AppState, mcp: Router) -> Router {
    // Later functions (metrics) are merged here as they land.
    let router = Router::new()
        .merge(health_routes(state.clone()))
        .merge(crate::auth::signin::routes(state.clone()))
        .merge(mcp)
        .fallback(not_found);
    http::with_boundary(router, &state.config.http)
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}
