//! The MCP endpoint (`/api/mcp`, `ATOMS_MCP_PATH`): rmcp's Streamable HTTP service serving both
//! protocol eras — 2026-07-28 stateless requests and 2025-11-25 initialize-based sessions —
//! behind Atoms' identity hook and transport checks ([`transport`]), with legacy sessions kept in
//! the KV ([`session_store`]) so every instance can serve every session. The handler
//! (`server.rs`) serves the tools (`crate::tools`), `resources.rs` and `prompts.rs`, and asks the
//! person before a workspace is deleted (`confirm.rs`).

mod confirm;
#[cfg(feature = "conformance")]
pub mod conformance;
mod fast_call;
pub mod list_cache;
mod prompts;
pub mod request_checks;
mod resources;
mod server;
pub mod session_admin;
pub mod session_store;
mod shared;
pub mod transport;

/// The MCP header names read on every request, parsed once: a lookup by `&str` parses and
/// validates the name again each time.
pub mod header_names {
    use axum::http::HeaderName;

    pub static PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
    pub static SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
}

use std::sync::Arc;

use axum::Router;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

pub use server::{AtomsServer, INSTRUCTIONS};

use crate::config::{Config, Target};
use crate::state::AppState;

/// The MCP route, at the configured path.
pub fn routes(state: &AppState) -> Router {
    let tools = tools_backend(state);
    routes_for(state, true, move || AtomsServer::new(tools.clone()))
}

/// The database and read cache tool calls run against.
fn tools_backend(state: &AppState) -> crate::tools::Backend {
    crate::tools::Backend {
        db: state.db.clone(),
        cache: crate::tools::cache::ReadCache::new(state.kv.clone(), &state.config.cache),
    }
}

/// The MCP route serving the conformance suite's fixtures (`atoms serve --conformance`).
#[cfg(feature = "conformance")]
pub fn conformance_routes(state: &AppState) -> Router {
    routes_for(state, false, conformance::ConformanceServer::default)
}

/// The MCP route with handlers made by `handler` (one per session or stateless request).
/// `atoms_tools`: the handler serves the Atoms tools, so stateless calls of them may take the
/// fast path (`fast_call.rs`).
fn routes_for<S: rmcp::ServerHandler + Send + 'static>(
    state: &AppState,
    atoms_tools: bool,
    handler: impl Fn() -> S + Send + Sync + 'static,
) -> Router {
    let config = &state.config;
    let sessions = Arc::new(LocalSessionManager::default());
    let store = Arc::new(session_store::KvSessionStore::new(state.kv.clone(), config.sessions.ttl));
    let mut transport = StreamableHttpServerConfig::default()
        .with_allowed_hosts(allowed_hosts(config))
        .with_allowed_origins(allowed_origins(config))
        .enforce_origin_validation()
        .with_json_response(true)
        .with_max_request_body_bytes(config.http.max_body_bytes);
    transport.session_store = Some(store.clone());
    let rmcp =
        shared::Shared::new(StreamableHttpService::new(move || Ok(handler()), sessions.clone(), transport));
    // Behind an `Arc`: axum clones the route's service on every request.
    let guard = Arc::new(transport::GuardState {
        rmcp: Box::new(rmcp),
        app: state.clone(),
        lists: Arc::new(list_cache::ListCache::new(config.cache.enabled)),
        allowed_hosts: allowed_hosts(config).into(),
        sessions,
        store,
        dev_tokens: Arc::new(crate::auth::dev_token::DevTokens::new(&config.database.data_dir)),
        atoms_tools,
        verifier: crate::auth::verify::Verifier::from_config(config, &state.http).map(Arc::new),
        metadata: Arc::new(crate::auth::discovery::MetadataCache::default()),
        tools: tools_backend(state),
    });
    let metadata = guard.metadata.clone();
    // The guard is the route's service and calls rmcp itself (`shared.rs`).
    let mcp = Router::new().route_service(&config.http.mcp_path, transport::Guarded(guard));
    mcp.merge(discovery_routes(config, metadata).with_state(state.clone()))
}

/// The OAuth discovery documents (public, no token): Protected Resource Metadata at both
/// well-known paths and at the path a Vercel rewrite reaches, and AuthKit's metadata.
fn discovery_routes(
    config: &Config,
    metadata: Arc<crate::auth::discovery::MetadataCache>,
) -> Router<AppState> {
    use crate::auth::discovery::{self, VERCEL_AS_PATH, VERCEL_PRM_PATH};
    use axum::routing::get;
    let authorization_server = get(move |axum::extract::State(state): axum::extract::State<AppState>| {
        let metadata = metadata.clone();
        async move { metadata.serve(&state).await }
    });
    Router::new()
        .route("/.well-known/oauth-protected-resource", get(discovery::protected_resource))
        .route(
            &format!("/.well-known/oauth-protected-resource{}", config.http.mcp_path),
            get(discovery::protected_resource),
        )
        .route(VERCEL_PRM_PATH, get(discovery::protected_resource))
        .route("/.well-known/oauth-authorization-server", authorization_server.clone())
        .route(VERCEL_AS_PATH, authorization_server)
}

/// `Host` values accepted (DNS-rebinding protection): the public URL's host, the deployment's
/// preview hosts, and loopback for the local target.
pub fn allowed_hosts(config: &Config) -> Vec<String> {
    let mut hosts: Vec<String> =
        config.http.public_url.iter().filter_map(|u| u.host_str().map(str::to_owned)).collect();
    hosts.extend(config.platform.deployment_hosts.iter().cloned());
    if config.target == Target::Local {
        hosts.extend(["localhost", "127.0.0.1", "::1", "[::1]"].map(str::to_owned));
    }
    hosts
}

/// Browser `Origin`s accepted: the public origin, preview origins, `MCP_ALLOWED_ORIGINS`, and
/// loopback on any port for the local target. Requests without `Origin` (non-browser clients)
/// pass.
pub fn allowed_origins(config: &Config) -> Vec<String> {
    let mut origins: Vec<String> = config
        .http
        .public_url
        .iter()
        .map(|u| {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}", u.scheme(), u.host_str().unwrap_or_default())
        })
        .collect();
    origins.extend(config.platform.deployment_hosts.iter().map(|h| format!("https://{h}:443")));
    origins.extend(config.http.extra_origins.iter().cloned());
    if config.target == Target::Local {
        origins.extend(["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"].map(str::to_owned));
    }
    origins
}
