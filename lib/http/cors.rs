//! CORS for browser-based MCP clients (MCP Inspector, web agents).
//!
//! Any origin may call: requests authenticate with bearer tokens in headers, never cookies, so
//! credentials mode stays off. DNS-rebinding protection is a separate, server-side `Origin`/`Host`
//! check on the MCP route, not a CORS concern.

use std::time::Duration;

use axum::http::{HeaderName, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Request headers MCP clients send (Streamable HTTP, both protocol eras, OAuth).
const ALLOWED_HEADERS: [&str; 8] = [
    "authorization",
    "content-type",
    "mcp-protocol-version",
    "mcp-session-id",
    "mcp-method",
    "mcp-name",
    "last-event-id",
    "x-request-id",
];

/// Response headers a browser client must be able to read.
const EXPOSED_HEADERS: [&str; 4] =
    ["mcp-session-id", "mcp-protocol-version", "www-authenticate", "x-request-id"];

pub(super) fn layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
        .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
        .max_age(Duration::from_secs(86_400))
}
