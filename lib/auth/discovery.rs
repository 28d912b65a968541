//! How MCP clients learn to sign in (MCP authorization, RFC 9728 and RFC 8414):
//!
//! - the `WWW-Authenticate: Bearer` challenges of the MCP route ([`challenge`]), naming the
//!   Protected Resource Metadata URL;
//! - the Protected Resource Metadata document ([`protected_resource`]) at
//!   `/.well-known/oauth-protected-resource` and `/.well-known/oauth-protected-resource{mcp path}`,
//!   and at `/oauth/protected-resource`, the path a Vercel rewrite reaches (Vercel keeps
//!   `/.well-known` to itself; there the challenge names this one);
//! - `/.well-known/oauth-authorization-server` (and `/oauth/authorization-server`): AuthKit's own
//!   metadata, passed through and cached, for clients that still look for it on the resource.
//!
//! All are public, CORS-open (the boundary's CORS layer) and served without a token.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::verify::resource_urls;
use crate::config::{AuthMode, Config};
use crate::http::ApiError;
use crate::state::AppState;

/// The path Vercel rewrites reach (`vercel.json`: `/oauth/:document` → the MCP function).
pub const VERCEL_PRM_PATH: &str = "/oauth/protected-resource";
pub const VERCEL_AS_PATH: &str = "/oauth/authorization-server";
/// How long AuthKit's metadata is reused by one instance.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// Largest authorization server metadata document accepted.
const MAX_METADATA_BYTES: usize = 64 * 1024;

/// The scopes advertised when none are required: what AuthKit grants MCP clients.
const DEFAULT_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// The origin (scheme://host[:port]) clients reached us at: the resource URL whose host the
/// request named, else the canonical one; on the local target without `PUBLIC_URL`, the
/// request's own loopback host.
fn origin_for(config: &Config, headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let resources = resource_urls(config);
    let strip = |url: &str| url.strip_suffix(config.http.mcp_path.as_str()).unwrap_or(url).to_owned();
    let by_host = resources.iter().find(|url| {
        url.split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .is_some_and(|h| h.eq_ignore_ascii_case(host))
    });
    match (by_host, resources.first()) {
        (Some(url), _) | (None, Some(url)) => Some(strip(url)),
        (None, None) if config.target == crate::config::Target::Local && is_loopback_authority(host) => {
            Some(format!("http://{host}"))
        }
        (None, None) => None,
    }
}

/// `localhost`, `127.0.0.1` or `[::1]`, with an optional port: the only request-supplied
/// authority ever echoed into a URL we publish.
fn is_loopback_authority(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    crate::config::is_loopback_host(name)
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"[]:.".contains(&b))
}

/// The resource (the MCP endpoint's URL) this request addresses.
pub fn resource_for(config: &Config, headers: &HeaderMap) -> Option<String> {
    origin_for(config, headers).map(|origin| format!("{origin}{}", config.http.mcp_path))
}

/// The Protected Resource Metadata URL named in challenges.
pub fn metadata_url(config: &Config, headers: &HeaderMap) -> Option<String> {
    let origin = origin_for(config, headers)?;
    Some(if config.platform.vercel {
        format!("{origin}{VERCEL_PRM_PATH}")
    } else {
        format!("{origin}/.well-known/oauth-protected-resource{}", config.http.mcp_path)
    })
}

/// What a refusal says about the token (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeError {
    /// No credentials: the challenge carries no error code.
    None,
    InvalidRequest,
    InvalidToken,
    InsufficientScope,
}

impl ChallengeError {
    pub fn code(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::InvalidRequest => Some("invalid_request"),
            Self::InvalidToken => Some("invalid_token"),
            Self::InsufficientScope => Some("insufficient_scope"),
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::None | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::InsufficientScope => StatusCode::FORBIDDEN,
        }
    }
}

/// The `WWW-Authenticate` value of a refusal.
pub fn challenge(config: &Config, headers: &HeaderMap, error: ChallengeError) -> String {
    let mut params = Vec::new();
    if let Some(code) = error.code() {
        params.push(format!("error=\"{code}\""));
    }
    if !config.auth.required_scopes.is_empty() {
        params.push(format!("scope=\"{}\"", config.auth.required_scopes.join(" ")));
    }
    if let Some(url) = metadata_url(config, headers) {
        params.push(format!("resource_metadata=\"{url}\""));
    }
    if params.is_empty() { "Bearer".to_owned() } else { format!("Bearer {}", params.join(", ")) }
}

/// The authorization server MCP clients are sent to.
pub fn authorization_server(config: &Config) -> Option<String> {
    match config.auth.mode {
        AuthMode::AuthKit => config.auth.authkit_issuer(),
        AuthMode::Supabase => config.auth.supabase_issuer(),
        AuthMode::Local => None,
    }
}

/// `GET /.well-known/oauth-protected-resource[{mcp path}]`, `GET /oauth/protected-resource`.
pub async fn protected_resource(State(state): State<AppState>, headers: HeaderMap) -> Response {
    protected_resource_document(&state.config, &headers)
}

pub fn protected_resource_document(config: &Config, headers: &HeaderMap) -> Response {
    let (Some(server), Some(resource)) = (authorization_server(config), resource_for(config, headers)) else {
        return ApiError::not_found().into_response();
    };
    let scopes: Vec<&str> = if config.auth.required_scopes.is_empty() {
        DEFAULT_SCOPES.to_vec()
    } else {
        config.auth.required_scopes.iter().map(String::as_str).collect()
    };
    let body = json!({
        "resource": resource,
        "authorization_servers": [server],
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": "Atoms",
        "resource_documentation": format!("{}/", resource.strip_suffix(config.http.mcp_path.as_str()).unwrap_or(&resource)),
    });
    cacheable_json(body.to_string())
}

fn cacheable_json(body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

/// AuthKit's authorization server metadata, remembered per instance: one fetch at a time, and
/// after a failed fetch none for [`RETRY_AFTER_FAILURE`] (the stale copy or a 502 meanwhile), so
/// anonymous requests cannot make us hammer AuthKit.
#[derive(Default)]
pub struct MetadataCache {
    cached: Mutex<Option<(Instant, String)>>,
    last_failure: Mutex<Option<Instant>>,
    fetching: tokio::sync::Mutex<()>,
}

/// The least time between two metadata fetches after a failed one.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);

impl MetadataCache {
    fn fresh(&self) -> Option<String> {
        let cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        cached.as_ref().filter(|(at, _)| at.elapsed() < METADATA_TTL).map(|(_, body)| body.clone())
    }

    fn stale(&self) -> Option<String> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|(_, body)| body.clone())
    }

    /// `GET /.well-known/oauth-authorization-server` (and `/oauth/authorization-server`).
    pub async fn serve(&self, state: &AppState) -> Response {
        if let Some(body) = self.fresh() {
            return cacheable_json(body);
        }
        let Some(issuer) = authorization_server(&state.config) else {
            return ApiError::not_found().into_response();
        };
        let _one_fetch = self.fetching.lock().await;
        if let Some(body) = self.fresh() {
            return cacheable_json(body);
        }
        let failed_recently = self
            .last_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE);
        if failed_recently {
            return self.stale_or_unavailable();
        }
        let url = match state.config.auth.mode {
            AuthMode::Supabase => format!("{issuer}/.well-known/openid-configuration"),
            _ => format!("{issuer}/.well-known/oauth-authorization-server"),
        };
        match fetch_metadata(&url, &issuer, &state.http, state.config.outbound_timeout).await {
            Ok(body) => {
                *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), body.clone()));
                cacheable_json(body)
            }
            Err(reason) => {
                tracing::warn!(reason = %reason, "authorization server metadata unavailable");
                *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                self.stale_or_unavailable()
            }
        }
    }

    fn stale_or_unavailable(&self) -> Response {
        match self.stale() {
            Some(body) => cacheable_json(body),
            None => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_unavailable",
                "the authorization server's metadata cannot be fetched right now; retry shortly",
            )
            .into_response(),
        }
    }
}

/// The metadata document at `url`, which must name `issuer` as its issuer (RFC 8414 §3.3).
async fn fetch_metadata(
    url: &str,
    issuer: &str,
    http: &reqwest::Client,
    timeout: Duration,
) -> Result<String, String> {
    let mut response =
        http.get(url).timeout(timeout).send().await.map_err(|e| {
            if e.is_timeout() { "timed out".to_owned() } else { "connection failed".to_owned() }
        })?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status().as_u16()));
    }
    if response.content_length().is_some_and(|n| n as usize > MAX_METADATA_BYTES) {
        return Err("metadata too large".to_owned());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|_| "body could not be read".to_owned())? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_METADATA_BYTES {
            return Err("metadata too large".to_owned());
        }
    }
    let document: Value = serde_json::from_slice(&bytes).map_err(|_| "metadata is not JSON".to_owned())?;
    if document.get("issuer").and_then(Value::as_str).map(|i| i.trim_end_matches('/')) != Some(issuer) {
        return Err("metadata names another issuer".to_owned());
    }
    Ok(document.to_string())
}
