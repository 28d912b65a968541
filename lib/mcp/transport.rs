//! What Atoms adds around rmcp's Streamable HTTP service on the MCP route, in order:
//!
//! 1. **Identity hook**: every request becomes a caller [`Identity`] before rmcp sees it, handed
//!    to handlers through the request extensions. In `authkit` and `supabase` modes the bearer
//!    token is verified (`crate::auth::verify`); refusals are 401/403 with an RFC 6750 challenge
//!    naming the Protected Resource Metadata, and a token in the query string is refused. In
//!    `local` mode (the local target *and* a loopback listener, checked per request) a dev token
//!    names its user and no token is the local user.
//! 2. **Body checks**: malformed JSON → 400 `-32700`; batches and non-JSON-RPC bodies → 400
//!    `-32600` (rmcp would answer plain-text 415).
//! 3. **Session liveness, ownership and revocation** (one KV round trip): a legacy
//!    `Mcp-Session-Id` must still exist in the KV (shared by all instances) and belong to the
//!    caller's subject, and each use refreshes its TTL; unknown, expired, deleted or someone
//!    else's → 404 (the same answer: no hint that it exists), even if this instance still holds
//!    it in memory. A token whose `sid` was revoked → 401. KV outage → 503, never a false 404
//!    (clients re-initialize on 404). A new session records its owner (and its `sid`, so a
//!    revocation ends it). A successful `DELETE` removes the KV entry and answers 200 with an
//!    empty body (rmcp says 202, which the official Python SDK reports as a failed termination).
//!    A new session the KV could not store is closed and answered 503, not handed out.
//! 4. **Error bodies**: any remaining plain-text refusal from rmcp becomes a JSON-RPC error body
//!    with the same status.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, Method, header};

use crate::auth::discovery::{self, ChallengeError, MetadataCache};
use crate::auth::verify::{Failure, Verifier};
use crate::metrics::AuthFailure;
use axum::response::Response;

use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

use super::header_names;
use super::list_cache::ListCache;
use super::request_checks;
use super::session_store::KvSessionStore;
use crate::auth::dev_token::DevTokens;
use crate::config::Target;
use crate::db::Identity;
use crate::host::local::Listener;
use crate::http::{RequestId, jsonrpc};
use crate::limits::Class;
use crate::state::AppState;

/// The subject of every request in local mode.
pub const LOCAL_SUBJECT: &str = "local-user";

/// What the guard needs: rmcp's service, the process state, and the list cache of this route's
/// handler type. Shared behind an `Arc` ([`Guarded`]: axum clones a route's service on every
/// request).
pub struct GuardState {
    /// rmcp's service, which answers what the guard lets through.
    pub(super) rmcp: Box<dyn super::shared::Rmcp>,
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
    /// The token verifier (`authkit`/`supabase` modes); `None` in local mode.
    pub verifier: Option<Arc<Verifier>>,
    /// AuthKit's authorization server metadata, for the discovery pass-through.
    pub metadata: Arc<MetadataCache>,
    /// What the tool-call fast path runs against (the database and the read cache).
    pub tools: crate::tools::Backend,
}

/// The MCP route's service: [`guard`] in front of rmcp. A plain tower service (cloned by one
/// reference count per request), not axum's `middleware::from_fn`, which boxes the inner
/// service and its future once more per request.
#[derive(Clone)]
pub struct Guarded(pub Arc<GuardState>);

impl tower::Service<Request> for Guarded {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let guard = Arc::clone(&self.0);
        Box::pin(async move { Ok(self::guard(&guard, request).await) })
    }
}

async fn guard(guard: &GuardState, request: Request) -> Response {
    let state = &guard.app;
    let (parts, body) = request.into_parts();
    if parts.method == Method::GET
        && let Some(document) = discovery_query(parts.uri.query())
    {
        // A Vercel rewrite of `/oauth/<document>` onto this function.
        return guard.discovery(document, &parts.headers).await;
    }
    let identity = match identify(guard, &parts).await {
        Ok(identity) => identity,
        Err(refusal) => {
            // Unauthenticated traffic is limited per client address (token guessing included).
            let address = crate::limits::client_address(&state.config, &parts);
            let mut response = match request_checks::check_anonymous(state, &address).await {
                Some(decision) => request_checks::Refusal::Limited(decision).response(state, &parts.headers),
                None => *refusal,
            };
            // The body was never read, so hyper closes this connection after answering. Saying
            // so keeps clients from reusing it for their retry with a token (which then raced
            // the close and failed as "server disconnected").
            response.headers_mut().insert(header::CONNECTION, axum::http::HeaderValue::from_static("close"));
            return response;
        }
    };

    let mut kind = Kind::Other;
    // A 2026-07-28 request (the era is in the header): its results carry `resultType`.
    let mut current_era = false;
    // A plain stateless call of an Atoms tool is parsed once, here: it is classified by that
    // parse, the fast path answers it, and the limiter reads its operation and id from it.
    let mut fast = None;
    let bytes = if parts.method == Method::POST {
        // The boundary already bounded the body size; a read error means the limit was hit.
        let Ok(bytes) = axum::body::to_bytes(body, state.config.http.max_body_bytes).await else {
            return jsonrpc::payload_too_large(state.config.http.max_body_bytes);
        };
        let version =
            parts.headers.get(&header_names::PROTOCOL_VERSION).and_then(|v| v.to_str().ok()).unwrap_or("");
        current_era = version == super::list_cache::VERSION;
        if guard.atoms_tools {
            fast = super::fast_call::eligible(&parts.headers, &bytes, &guard.allowed_hosts);
        }
        kind = if fast.is_some() {
            // What `classify` would find: a JSON-RPC 2.0 object whose method is tools/call.
            crate::metrics::record_mcp_request("tools/call", version);
            Kind::ToolCall
        } else {
            match classify(&bytes, version) {
                Ok(kind) => kind,
                Err(response) => return *response,
            }
        };
        Ok(bytes)
    } else {
        Err(body)
    };

    // One KV round trip: rate limit, session liveness and ownership, sid revocation. Every
    // request carrying a session id is checked, `initialize` included: a deleted session must
    // not be revived by an instance that still holds it in memory.
    let session =
        parts.headers.get(&header_names::SESSION_ID).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let peek = match (&bytes, kind) {
        (Ok(bytes), Kind::ToolCall) if fast.is_none() => Some(ToolCallPeek::of(bytes)),
        _ => None,
    };
    let operation = match (&fast, &peek) {
        (Some(call), _) => call.operation(),
        (None, Some(peek)) => peek.operation.as_deref(),
        (None, None) => None,
    };
    let class = operation.and_then(Class::of_operation);
    let decision = match request_checks::check(state, &identity, session.as_deref(), class).await {
        Ok(decision) => decision,
        Err(request_checks::Refusal::Limited(decision)) if fast.is_some() || peek.is_some() => {
            let id = fast.map(|call| call.id).or(peek.map(|peek| peek.id)).unwrap_or_default();
            return request_checks::limited_tool_call(state, id, &decision, current_era);
        }
        Err(refusal) => return refusal.response(state, &parts.headers),
    };
    let mut response = match fast {
        Some(call) => super::fast_call::answer(call, &guard.tools, &identity).await,
        // Boxed: rmcp's path is the larger future; inline, it would size the fast path's too.
        None => Box::pin(serve(guard, parts, bytes, kind, session, &identity)).await,
    };
    if let Some(decision) = decision {
        decision.apply(&state.config.rate_limit, response.headers_mut());
    }
    response
}

/// Answers a request that passed every check (and is not a fast-path tool call): the list
/// cache, or rmcp.
async fn serve(
    guard: &GuardState,
    mut parts: Parts,
    bytes: Result<Bytes, Body>,
    kind: Kind,
    session: Option<String>,
    identity: &Identity,
) -> Response {
    let state = &guard.app;
    let mut cacheable = None;
    let body = match bytes {
        Ok(bytes) => {
            if kind == Kind::List {
                cacheable = guard.lists.eligible(&parts.headers, &bytes, &guard.allowed_hosts);
            }
            if let Some(request) = &cacheable
                && let Some(answer) = guard.lists.answer(request)
            {
                return answer;
            }
            Body::from(bytes)
        }
        Err(body) => body,
    };

    let is_delete = parts.method == Method::DELETE;
    // Kept only for an `initialize`, whose session registration may still refuse.
    let headers = (kind == Kind::Initialize).then(|| parts.headers.clone());
    // rmcp runs handlers in tasks of its own: they parent their spans on the request's (the
    // boundary's `request` span, current here).
    parts.extensions.insert(crate::http::RequestSpan(tracing::Span::current()));
    // The handlers' caller (the fast path and the list cache need no copy of it).
    parts.extensions.insert(identity.clone());
    let mut response = guard.rmcp.handle(Request::from_parts(parts, body)).await;
    if kind == Kind::Initialize
        && let Some(created) = response.headers().get(&header_names::SESSION_ID).and_then(|v| v.to_str().ok())
    {
        let created = created.to_owned();
        let registered = if guard.store.take_unstored(&created) {
            Err(request_checks::Refusal::Unavailable)
        } else {
            request_checks::register_session(state, &created, identity).await
        };
        if let Err(refusal) = registered {
            // rmcp answered with a session no instance can find (or attribute) again, or one
            // opened under a sid revoked meanwhile: close it, tell the client.
            let _ = guard.sessions.close_session(&created.clone().into()).await;
            let _ = request_checks::end_sessions(state, &[created.as_str()]).await;
            return refusal.response(state, &headers.unwrap_or_default());
        }
    }
    if let Some(request) = &cacheable {
        response = guard.lists.remember(request, response).await;
    }
    if is_delete
        && response.status().is_success()
        && let Some(session) = &session
    {
        if let Err(error) = request_checks::end_sessions(state, &[session.as_str()]).await {
            tracing::warn!(error = %error, "session delete failed");
        }
        // rmcp answers 202; the official Python SDK accepts only 200/204 (and 405).
        return jsonrpc::session_ended();
    }
    json_rpc_errors(response).await
}

/// The parts of a `tools/call` the limiter needs: the operation (its class) and the request
/// id (to answer a limited call with a tool result). Anything unreadable is simply absent.
struct ToolCallPeek {
    id: serde_json::Value,
    operation: Option<String>,
}

impl ToolCallPeek {
    fn of(bytes: &[u8]) -> Self {
        #[derive(serde::Deserialize)]
        struct Message {
            #[serde(default)]
            id: serde_json::Value,
            params: Option<Params>,
        }
        #[derive(serde::Deserialize)]
        struct Params {
            // A map, as rmcp and the tool layer read it: with `operation` given twice the last
            // one runs, so the last one must pick the limiter's class (a struct would refuse the
            // duplicate, and the call would be limited in no class at all).
            arguments: Option<serde_json::Map<String, serde_json::Value>>,
        }
        match serde_json::from_slice::<Message>(bytes) {
            Ok(message) => Self {
                id: message.id,
                operation: message.params.and_then(|p| p.arguments).and_then(|mut a| {
                    match a.remove("operation") {
                        Some(serde_json::Value::String(operation)) => Some(operation),
                        _ => None,
                    }
                }),
            },
            Err(_) => Self { id: serde_json::Value::Null, operation: None },
        }
    }
}

impl GuardState {
    /// Serves a discovery document asked for through the MCP path's query.
    async fn discovery(&self, document: Discovery, headers: &HeaderMap) -> Response {
        match document {
            Discovery::ProtectedResource => discovery::protected_resource_document(&self.app.config, headers),
            Discovery::AuthorizationServer => self.metadata.serve(&self.app).await,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Discovery {
    ProtectedResource,
    AuthorizationServer,
}

/// `?oauth=protected-resource` / `?oauth=authorization-server`, what the Vercel rewrites add.
fn discovery_query(query: Option<&str>) -> Option<Discovery> {
    query?.split('&').find_map(|pair| match pair {
        "oauth=protected-resource" => Some(Discovery::ProtectedResource),
        "oauth=authorization-server" => Some(Discovery::AuthorizationServer),
        _ => None,
    })
}

/// Decides who the caller is.
///
/// - `authkit` / `supabase` mode: the bearer token must verify (`crate::auth::verify`); the
///   local identity and dev tokens are never granted.
/// - `local` mode, only where this process runs as the local target *and* the request arrived
///   on a loopback listener (`host::local` says which): a dev token (`atoms dev-token`) names
///   its user, and no token at all is the local user. Any other request is refused.
async fn identify(guard: &GuardState, request: &Parts) -> Result<Identity, Box<Response>> {
    let config = &guard.app.config;
    let refuse = |error: ChallengeError| {
        let challenge = discovery::challenge(config, &request.headers, error);
        let message = error.code().unwrap_or("authentication required");
        Box::new(jsonrpc::challenge(error.status(), message, &challenge))
    };
    if query_has_token(request.uri.query()) {
        tracing::info!(reason = "token in query string", "token refused");
        crate::metrics::record_auth_failure(AuthFailure::TokenInQuery);
        return Err(refuse(ChallengeError::InvalidRequest));
    }
    let mut identity = match &guard.verifier {
        Some(verifier) => {
            let Some(value) = request.headers.get(header::AUTHORIZATION) else {
                crate::metrics::record_auth_failure(AuthFailure::Missing);
                return Err(refuse(ChallengeError::None));
            };
            let Some(token) = bearer(value) else {
                // RFC 6750 §3.1: another scheme is no Bearer credential at all (no error code);
                // a Bearer header without a usable token is an invalid one.
                let is_bearer = value
                    .to_str()
                    .ok()
                    .and_then(|v| v.split(' ').next())
                    .is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer"));
                tracing::info!(reason = "not a bearer credential", "token refused");
                crate::metrics::record_auth_failure(AuthFailure::InvalidToken);
                return Err(refuse(if is_bearer {
                    ChallengeError::InvalidToken
                } else {
                    ChallengeError::None
                }));
            };
            // Boxed: verification may fetch keys over HTTP, a large future that would size the
            // guard's (allocated and copied on every request).
            match Box::pin(verifier.verify(token, crate::clock::now_unix() as i64)).await {
                Ok(verified) => {
                    let mut identity = verified.identity.clone();
                    identity.bearer = Some(crate::secret::Secret::new(token.to_owned()));
                    identity
                }
                Err(Failure::Invalid(reason)) => {
                    tracing::info!(reason = %reason, "token refused");
                    crate::metrics::record_auth_failure(AuthFailure::InvalidToken);
                    return Err(refuse(ChallengeError::InvalidToken));
                }
                Err(Failure::InsufficientScope) => {
                    tracing::info!(reason = "missing a required scope", "token refused");
                    crate::metrics::record_auth_failure(AuthFailure::InsufficientScope);
                    return Err(refuse(ChallengeError::InsufficientScope));
                }
                Err(Failure::Unavailable(reason)) => {
                    tracing::warn!(reason = %reason, "token cannot be checked: issuer keys unavailable");
                    crate::metrics::record_auth_failure(AuthFailure::IssuerUnavailable);
                    return Err(Box::new(jsonrpc::unavailable(
                        "the sign-in provider's keys are unavailable; retry shortly",
                    )));
                }
            }
        }
        None => local_identity(guard, request).inspect_err(|_| {
            crate::metrics::record_auth_failure(AuthFailure::LocalOnly);
        })?,
    };
    identity.request_id = request.extensions.get::<RequestId>().map(|id| id.0.clone());
    Ok(identity)
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer(value: &axum::http::HeaderValue) -> Option<&str> {
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// RFC 6750 §2.3 query tokens, which we never accept (they end up in logs and histories).
fn query_has_token(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|pair| pair.split('=').next() == Some("access_token")))
}

/// Headers a proxy or tunnel adds (parsed once: a `&str` name is parsed on every lookup).
static FORWARDING_HEADERS: [HeaderName; 5] = [
    header::FORWARDED,
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-real-ip"),
    HeaderName::from_static("cf-connecting-ip"),
    HeaderName::from_static("x-forwarded-host"),
];

/// The local mode's identity (see [`identify`]).
fn local_identity(guard: &GuardState, request: &Parts) -> Result<Identity, Box<Response>> {
    let loopback = request.extensions.get::<Listener>().is_some_and(Listener::is_loopback);
    if guard.app.config.target != Target::Local || !loopback {
        return Err(Box::new(jsonrpc::unauthorized(
            "authentication required: local mode serves loopback clients of the local target only",
        )));
    }
    // A tunnel or reverse proxy on this machine (ngrok, cloudflared, Caddy) also connects from
    // loopback: its requests name a public host or carry forwarding headers. They get no
    // identity here; such a setup needs a real auth mode.
    let host = request.headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let host_name = host
        .rsplit_once(':')
        .filter(|(name, port)| !name.ends_with(':') && port.parse::<u16>().is_ok())
        .map_or(host, |(name, _)| name);
    let forwarded = FORWARDING_HEADERS.iter().any(|name| request.headers.contains_key(name));
    if !crate::config::is_loopback_host(host_name) || forwarded {
        tracing::info!(reason = "proxied or public host in local mode", "request refused");
        return Err(Box::new(jsonrpc::error(
            axum::http::StatusCode::FORBIDDEN,
            jsonrpc::code::REFUSED,
            "local mode serves loopback hosts only, without proxies: configure ATOMS_AUTH_MODE=authkit to serve through a tunnel or proxy",
        )));
    }
    match request.headers.get(header::AUTHORIZATION) {
        None => {
            let mut local = Identity::new(LOCAL_SUBJECT);
            local.name = Some("Local user".to_owned());
            Ok(local)
        }
        Some(value) => {
            let token = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
            let now = crate::clock::now_unix();
            match token.map(|token| guard.dev_tokens.verify(token, now)) {
                Some(Ok(identity)) => Ok(identity),
                // Never the local user: a bad token is an error, whatever it is.
                Some(Err(error)) => {
                    tracing::info!(reason = %error, "dev token refused");
                    Err(Box::new(jsonrpc::unauthorized(&format!("invalid token: {error}"))))
                }
                None => Err(Box::new(jsonrpc::unauthorized(
                    "invalid token: send `Authorization: Bearer <token>` (from `atoms dev-token`)",
                ))),
            }
        }
    }
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
/// `version` is the request's `MCP-Protocol-Version` (for the metrics' era label).
fn classify(bytes: &Bytes, version: &str) -> Result<Kind, Box<Response>> {
    let is_array = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    // An array is never read as an envelope: serde's derived structs accept one, by position.
    let envelope = match (!is_array).then(|| serde_json::from_slice::<Envelope<'_>>(bytes)) {
        Some(Ok(envelope)) => envelope,
        // Not an object: tell malformed JSON (-32700) from well-formed non-messages (-32600).
        _ => {
            return Err(Box::new(match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Err(_) => jsonrpc::parse_error(),
                Ok(_) if is_array => jsonrpc::invalid_request(
                    "Invalid Request: JSON-RPC batches are not supported; send one message per request",
                ),
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
    if let Some(method) = envelope.method.as_deref() {
        // Initialize names its era in the body; later requests in the header.
        let era = if method == "initialize" { "2025-11-25" } else { version };
        crate::metrics::record_mcp_request(method, era);
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

#[cfg(test)]
mod tests {
    use super::{Bytes, Kind, classify};

    #[test]
    fn an_array_is_a_batch_even_when_it_reads_as_a_message_by_position() {
        let positional = Bytes::from_static(br#"["2.0", "tools/call", "tools/call", {}]"#);
        let refused = classify(&positional, "2026-07-28").expect_err("a batch");
        assert_eq!(refused.status(), axum::http::StatusCode::BAD_REQUEST);
        let message = Bytes::from_static(br#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call"}"#);
        assert_eq!(classify(&message, "2026-07-28").ok(), Some(Kind::ToolCall));
    }
}
