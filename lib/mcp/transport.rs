//! What Atoms adds around rmcp's Streamable HTTP service on the MCP route, in order:
//!
//! 1. **Identity hook**: every request becomes a caller [`Identity`] before rmcp sees it, handed
//!    to handlers through the request extensions. Today only the local mode exists (the local
//!    target *and* a loopback listener, checked per request: every request is the local user);
//!    anything else answers 401 until token verification lands in this same hook.
//! 2. **Body checks**: malformed JSON → 400 `-32700`; batches and non-JSON-RPC bodies → 400
//!    `-32600` (rmcp would answer plain-text 415).
//! 3. **Session liveness**: a legacy `Mcp-Session-Id` must still exist in the KV (shared by all
//!    instances), and each use refreshes its TTL; unknown, expired or deleted → 404, even if this
//!    instance still holds it in memory. KV outage → 503, never a false 404 (clients
//!    re-initialize on 404). A successful `DELETE` removes the KV entry and answers 200 with an
//!    empty body (rmcp says 202, which the official Python SDK reports as a failed termination).
//!    A new session the KV could not store is closed and answered 503, not handed out.
//! 4. **Error bodies**: any remaining plain-text refusal from rmcp becomes a JSON-RPC error body
//!    with the same status.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;

use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

use super::list_cache::ListCache;
use super::session_store::{self, KvSessionStore};
use crate::auth::dev_token::DevTokens;
use crate::config::Target;
use crate::db::Identity;
use crate::host::local::Listener;
use crate::http::{RequestId, jsonrpc};
use crate::state::AppState;

/// The subject of every request in local mode.
pub const LOCAL_SUBJECT: &str = "local-user";

/// What the guard needs: the process state, and the list cache of this route's handler type.
#[derive(Clone)]
pub struct GuardState {
    pub app: AppState,
    pub lists: Arc<ListCache>,
    /// `Host` values rmcp accepts (the cache only serves requests carrying one of them).
    pub allowed_hosts: Arc<[String]>,
    /// rmcp's in-memory sessions of this instance (to close one that could not be stored).
    pub sessions: Arc<LocalSessionManager>,
    /// The KV session store rmcp writes to (it says which new sessions were not stored).
    pub store: Arc<KvSessionStore>,
    /// The verifier of `atoms dev-token` tokens (used only where the local identity is).
    pub dev_tokens: Arc<DevTokens>,
    /// The route serves the Atoms tools: plain stateless calls take the fast path.
    pub atoms_tools: bool,
}

pub async fn guard(State(guard): State<GuardState>, request: Request, next: Next) -> Response {
    let state = &guard.app;
    let identity = match identify(&guard, &request) {
        Ok(identity) => identity,
        Err(response) => return *response,
    };
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(identity.clone());

    let mut is_initialize = false;
    let mut cacheable = None;
    let body = if parts.method == Method::POST {
        // The boundary already bounded the body size; a read error means the limit was hit.
        let Ok(bytes) = axum::body::to_bytes(body, state.config.http.max_body_bytes).await else {
            return jsonrpc::payload_too_large(state.config.http.max_body_bytes);
        };
        let kind = match classify(&bytes) {
            Ok(kind) => kind,
            Err(response) => return *response,
        };
        is_initialize = kind == Kind::Initialize;
        if kind == Kind::ToolCall
            && guard.atoms_tools
            && let Some(call) = super::fast_call::eligible(&parts.headers, &bytes, &guard.allowed_hosts)
        {
            return super::fast_call::answer(call, state.db.as_ref(), &identity).await;
        }
        if kind == Kind::List {
            cacheable = guard.lists.eligible(&parts.headers, &bytes, &guard.allowed_hosts);
        }
        if let Some(request) = &cacheable
            && let Some(answer) = guard.lists.answer(request)
        {
            return answer;
        }
        Body::from(bytes)
    } else {
        body
    };

    let session = parts.headers.get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    // Every request carrying a session id, `initialize` included: a deleted session must not
    // be revived by an instance that still holds it in memory.
    if let Some(session) = &session {
        // One round trip both proves the session is live and refreshes its TTL (sessions expire
        // after MCP_SESSION_TTL_HOURS of inactivity, not of age).
        match state.kv.expire(&session_store::key(session), state.config.sessions.ttl).await {
            Ok(true) => {}
            Ok(false) => return jsonrpc::session_not_found(),
            Err(error) => {
                tracing::warn!(error = %error, "session lookup failed");
                return jsonrpc::unavailable("session storage is unavailable; retry shortly");
            }
        }
    }
    let is_delete = parts.method == Method::DELETE;
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if is_initialize && let Some(created) = unstored_session(&guard, &response) {
        // rmcp answered with a session no instance can find again: close it, tell the client.
        let _ = guard.sessions.close_session(&created.into()).await;
        return jsonrpc::unavailable("session storage is unavailable; retry shortly");
    }
    if let Some(request) = &cacheable {
        response = guard.lists.remember(request, response).await;
    }
    if is_delete
        && response.status().is_success()
        && let Some(session) = &session
    {
        if let Err(error) = state.kv.delete(&session_store::key(session)).await {
            tracing::warn!(error = %error, "session delete failed");
        }
        // rmcp answers 202; the official Python SDK accepts only 200/204 (and 405).
        return jsonrpc::session_ended();
    }
    json_rpc_errors(response).await
}

/// The session id of an `initialize` answer whose session the KV did not take.
fn unstored_session(guard: &GuardState, response: &Response) -> Option<String> {
    let created = response.headers().get("mcp-session-id")?.to_str().ok()?;
    guard.store.take_unstored(created).then(|| created.to_owned())
}

/// Decides who the caller is. Only where this process runs as the local target *and* the
/// request arrived on a loopback listener (`host::local` says which): a dev token
/// (`atoms dev-token`) names its user, and no token at all is the local user. Any other request
/// is refused until token verification for deployments lands here.
fn identify(guard: &GuardState, request: &Request) -> Result<Identity, Box<Response>> {
    let loopback = request.extensions().get::<Listener>().is_some_and(Listener::is_loopback);
    if guard.app.config.target != Target::Local || !loopback {
        return Err(Box::new(jsonrpc::unauthorized(
            "authentication required: this deployment accepts no tokens yet",
        )));
    }
    let mut identity = match request.headers().get(header::AUTHORIZATION) {
        None => {
            let mut local = Identity::new(LOCAL_SUBJECT);
            local.name = Some("Local user".to_owned());
            local
        }
        Some(value) => {
            let token = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
            let now = crate::auth::dev_token::now_unix();
            match token.map(|token| guard.dev_tokens.verify(token, now)) {
                Some(Ok(identity)) => identity,
                // Never the local user: a bad token is an error, whatever it is.
                Some(Err(error)) => {
                    tracing::info!(reason = %error, "dev token refused");
                    return Err(Box::new(jsonrpc::unauthorized(&format!("invalid token: {error}"))));
                }
                None => {
                    return Err(Box::new(jsonrpc::unauthorized(
                        "invalid token: send `Authorization: Bearer <token>` (from `atoms dev-token`)",
                    )));
                }
            }
        }
    };
    identity.request_id = request.extensions().get::<RequestId>().map(|id| id.0.clone());
    Ok(identity)
}

/// The fields of a JSON-RPC message the guard looks at; everything else is skipped unparsed.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    jsonrpc: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    method: Option<std::borrow::Cow<'a, str>>,
    result: Option<serde::de::IgnoredAny>,
    error: Option<serde::de::IgnoredAny>,
}

/// What a well-formed single JSON-RPC message is, as far as the guard cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Initialize,
    /// A list method the list cache may answer.
    List,
    /// `tools/call`, which the fast path may answer.
    ToolCall,
    Other,
}

/// Classifies a single JSON-RPC message, or answers why the body is not one.
fn classify(bytes: &Bytes) -> Result<Kind, Box<Response>> {
    let envelope = match serde_json::from_slice::<Envelope<'_>>(bytes) {
        Ok(envelope) => envelope,
        // Not an object: tell malformed JSON (-32700) from well-formed non-messages (-32600).
        Err(_) => {
            return Err(Box::new(match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Err(_) => jsonrpc::parse_error(),
                Ok(_) if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') => {
                    jsonrpc::invalid_request(
                        "Invalid Request: JSON-RPC batches are not supported; send one message per request",
                    )
                }
                Ok(_) => jsonrpc::invalid_request("Invalid Request: not a JSON-RPC 2.0 message"),
            }));
        }
    };
    if envelope.jsonrpc.as_deref() != Some("2.0") {
        return Err(Box::new(jsonrpc::invalid_request("Invalid Request: not a JSON-RPC 2.0 message")));
    }
    if envelope.method.is_none() && envelope.result.is_none() && envelope.error.is_none() {
        return Err(Box::new(jsonrpc::invalid_request("Invalid Request: no method")));
    }
    Ok(match envelope.method.as_deref() {
        Some("initialize") => Kind::Initialize,
        Some(method) if ListCache::caches(method) => Kind::List,
        Some("tools/call") => Kind::ToolCall,
        _ => Kind::Other,
    })
}

/// Rewrites rmcp's plain-text error responses as JSON-RPC error bodies, keeping the status.
async fn json_rpc_errors(response: Response) -> Response {
    let status = response.status();
    let is_text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("text/plain"));
    if status.is_success() || status.is_redirection() || !is_text {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024).await.unwrap_or_default();
    let message = String::from_utf8_lossy(&text);
    let message =
        if message.trim().is_empty() { status.canonical_reason().unwrap_or("error") } else { message.trim() };
    let mut normalized = jsonrpc::error(status, jsonrpc::code_for_status(status), message);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            normalized.headers_mut().insert(name, value.clone());
        }
    }
    normalized
}
