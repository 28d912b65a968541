//! The per-request KV work of the MCP guard, in **one** round trip (one pipeline): the rate
//! limiter's GCRA buckets, the legacy session's liveness and ownership (refreshed only for its
//! owner), and the token's `sid` revocation marker. And the one round trip that registers a new
//! session: its owner (expiring at the absolute lifetime), the user's capped session set (the
//! oldest beyond `MAX_SESSIONS_PER_USER` is evicted), and the `sid`'s sessions.
//!
//! KV outage: a request that needs the KV for its session or revocation check is refused with
//! 503 (a revoked credential must never pass); one that needs it only for the limiter passes
//! when `RATE_LIMIT_FAIL_OPEN` (the default), logged.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::session_store;
use crate::auth::discovery::{self, ChallengeError};
use crate::auth::revocation;
use crate::clock::now_ms;
use crate::db::Identity;
use crate::http::jsonrpc;
use crate::kv::{Command, Reply};
use crate::limits::{self, Class, Decision};
use crate::state::AppState;

/// Why the checks stopped a request.
#[derive(Debug)]
pub(super) enum Refusal {
    /// The session is unknown, expired, ended or someone else's (all look the same).
    SessionNotFound,
    /// The token's sign-in session was revoked.
    Revoked,
    /// Over a rate limit.
    Limited(Decision),
    /// The KV could not answer a check that must not be skipped.
    Unavailable,
}

impl Refusal {
    /// The response for a request that is not a tool call (tool calls over a limit get a tool
    /// result instead, see [`limited_tool_call`]).
    pub(super) fn response(&self, state: &AppState, request: &HeaderMap) -> Response {
        match self {
            Self::SessionNotFound => jsonrpc::session_not_found(),
            Self::Revoked => {
                crate::metrics::record_auth_failure(crate::metrics::AuthFailure::Revoked);
                let challenge = discovery::challenge(&state.config, request, ChallengeError::InvalidToken);
                jsonrpc::challenge(StatusCode::UNAUTHORIZED, "invalid_token", &challenge)
            }
            Self::Unavailable => jsonrpc::unavailable("session storage is unavailable; retry shortly"),
            Self::Limited(decision) => {
                crate::metrics::record_rate_limited();
                let message = format!("rate limited: retry in {} s", decision.retry_after_seconds());
                let mut response =
                    jsonrpc::error(StatusCode::TOO_MANY_REQUESTS, jsonrpc::code::REFUSED, &message);
                decision.apply(&state.config.rate_limit, response.headers_mut());
                response
            }
        }
    }
}

/// Runs the request's checks as `identity` (rate limit in `class`, `session` if any, the
/// token's `sid` if any). `Ok(Some(decision))` when the limiter ran and let it pass.
pub(super) async fn check(
    state: &AppState,
    identity: &Identity,
    session: Option<&str>,
    class: Option<Class>,
) -> Result<Option<Decision>, Refusal> {
    let limits = &state.config.rate_limit;
    let mut commands = Vec::with_capacity(3);
    if limits.enabled {
        let buckets = limits::buckets(limits, &identity.subject, class);
        commands.push(Command::Gcra { buckets, now_ms: now_ms() });
    }
    if let Some(session) = session {
        commands.push(Command::TouchOwned {
            session: session_store::key(session),
            owner: session_store::owner_key(session),
            subject: identity.subject.clone(),
            ttl: state.config.sessions.ttl,
        });
    }
    if let Some(sid) = &identity.session_id {
        commands.push(Command::Get { key: revocation::revoked_key(sid) });
    }
    if commands.is_empty() {
        return Ok(None);
    }
    let replies = match state.kv.pipeline(commands).await {
        Ok(replies) => replies,
        Err(error) if session.is_none() && identity.session_id.is_none() && limits.fail_open => {
            tracing::warn!(error = %error, "rate limiter unavailable: request let through (RATE_LIMIT_FAIL_OPEN)");
            return Ok(None);
        }
        Err(error) => {
            tracing::warn!(error = %error, "session, revocation or rate-limit lookup failed");
            return Err(Refusal::Unavailable);
        }
    };
    let mut replies = replies.into_iter();
    let decision = if limits.enabled { replies.next().as_ref().and_then(Decision::from_reply) } else { None };
    if session.is_some() && replies.next() != Some(Reply::Int(1)) {
        return Err(Refusal::SessionNotFound);
    }
    if identity.session_id.is_some() && !matches!(replies.next(), Some(Reply::Nil)) {
        tracing::info!(reason = "revoked sid", "token refused");
        return Err(Refusal::Revoked);
    }
    match decision {
        Some(decision) if !decision.allowed => Err(Refusal::Limited(decision)),
        decision => Ok(decision),
    }
}

/// The limiter for a request refused before it had an identity (no or bad token): counted per
/// client address, so guessing tokens is rate limited too. `Some` when over the limit.
pub(super) async fn check_anonymous(state: &AppState, address: &str) -> Option<Decision> {
    let limits = &state.config.rate_limit;
    if !limits.enabled {
        return None;
    }
    let buckets = limits::buckets(limits, &format!("addr:{address}"), None);
    match state.kv.run(Command::Gcra { buckets, now_ms: now_ms() }).await {
        Ok(reply) => Decision::from_reply(&reply).filter(|decision| !decision.allowed),
        Err(error) => {
            tracing::warn!(error = %error, "rate limiter unavailable for an unauthenticated request");
            None
        }
    }
}

/// The KV key of a user's open legacy sessions (a sorted set scored by creation time, ms).
pub fn user_sessions_key(subject: &str) -> String {
    format!("mcp:user-sessions:{subject}")
}

/// Registers a session rmcp just created for `identity`, in one round trip: its owner (until
/// the absolute lifetime), the user's capped set (evicting the oldest beyond the cap), and —
/// for a token with a `sid` — the sid's sessions, read back against the revocation marker so a
/// revocation racing this registration is never missed. Evicted sessions are deleted after.
pub(super) async fn register_session(
    state: &AppState,
    session: &str,
    identity: &Identity,
) -> Result<(), Refusal> {
    let sessions = &state.config.sessions;
    let now = now_ms();
    let absolute_ms = sessions.absolute.as_millis() as f64;
    let mut commands = vec![
        Command::Set {
            key: session_store::owner_key(session),
            value: identity.subject.clone(),
            ttl: Some(sessions.absolute),
            only_if_absent: false,
        },
        Command::ZAddCapped {
            key: user_sessions_key(&identity.subject),
            member: session.to_owned(),
            score: now as f64,
            min_score: now as f64 - absolute_ms,
            max: sessions.max_per_user,
            ttl: sessions.absolute,
        },
    ];
    if let Some(sid) = &identity.session_id {
        commands.push(Command::ZAdd {
            key: revocation::sessions_key(sid),
            score: now as f64,
            member: session.to_owned(),
        });
        commands.push(Command::Expire { key: revocation::sessions_key(sid), ttl: sessions.absolute });
        commands.push(Command::Get { key: revocation::revoked_key(sid) });
    }
    let replies = state.kv.pipeline(commands).await.map_err(|error| {
        tracing::warn!(error = %error, "new MCP session not registered: answering 503");
        Refusal::Unavailable
    })?;
    if let Some(Reply::List(evicted)) = replies.get(1) {
        let ids: Vec<&str> = evicted
            .iter()
            .filter_map(|r| if let Reply::Text(id) = r { Some(id.as_str()) } else { None })
            .collect();
        if !ids.is_empty() {
            tracing::info!(evicted = ids.len(), "MAX_SESSIONS_PER_USER reached: oldest sessions ended");
            if let Err(error) = end_sessions(state, &ids).await {
                tracing::warn!(error = %error, "evicted sessions not deleted (they expire on their own)");
            }
        }
    }
    if identity.session_id.is_some() && !matches!(replies.last(), Some(Reply::Nil)) {
        return Err(Refusal::Revoked);
    }
    Ok(())
}

/// Deletes sessions (state and owner) in one round trip.
pub(crate) async fn end_sessions(state: &AppState, ids: &[&str]) -> Result<(), crate::kv::KvError> {
    ids.iter().for_each(|id| crate::metrics::record_session(id, false));
    state.kv.pipeline(session_store::delete_commands(ids)).await.map(|_| ())
}

/// The JSON-RPC answer to a tool call over its limit: a tool result with `isError` and the
/// stable code `rate_limited`, so agents back off instead of failing the session.
pub(super) fn limited_tool_call(
    state: &AppState,
    id: serde_json::Value,
    decision: &Decision,
    current_era: bool,
) -> Response {
    crate::metrics::record_rate_limited();
    let seconds = decision.retry_after_seconds();
    let error = json!({"error": {"code": "rate_limited",
        "message": format!("rate limited: retry in {seconds} s"), "retry_after_seconds": seconds}});
    // The one tool-result shape, written as rmcp writes it in the session's era (a 2026-07-28
    // result says it is complete; older peers get no `resultType`).
    let answer = crate::tools::Answer::Structured { value: error, is_error: true };
    let written = serde_json::to_vec(&id).and_then(|id| {
        if current_era {
            jsonrpc::success(&id, 256, |body| answer.write_json(body))
        } else {
            let mut result = answer.into_result();
            result.result_type = None;
            jsonrpc::success(&id, 256, |body| serde_json::to_writer(body, &result))
        }
    });
    let mut response =
        written.unwrap_or_else(|_| jsonrpc::unavailable("the tool result could not be written"));
    decision.apply(&state.config.rate_limit, response.headers_mut());
    response
}
