//! `GET /auth/token`: a current access token for the cookie's browser session, for tools that
//! cannot do OAuth themselves.
//!
//! When the token expires within 5 minutes it is refreshed through WorkOS. Refresh tokens are
//! single-use, so two refreshes of one session must never both reach WorkOS: the refresher
//! holds a short lock (`<session key>:refresh`, set-if-absent with a random owner, longer than
//! the WorkOS call may take) and stores the new tokens with a compare-and-set against what it
//! read. A concurrent request that finds the lock taken answers with the current token while
//! it is still valid, else waits (bounded) for the refresher's result. A refusal from WorkOS
//! (the refresh token was revoked or used) ends the session; WorkOS down leaves it intact.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::session::{self, BrowserSession, Loaded};
use super::{Ready, Shared, Signin, cookie, kv_unavailable, login};
use crate::auth::workos::{Authenticated, WorkosError};
use crate::http::ApiError;

/// Refresh when the access token expires within this.
pub(super) const REFRESH_MARGIN: u64 = 300;
/// How often a waiting request re-reads the session.
const POLL: Duration = Duration::from_millis(50);

#[derive(Deserialize)]
pub(super) struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
}

pub(super) async fn token(State(signin): Shared, headers: HeaderMap) -> Result<Response, ApiError> {
    let ready = signin.ready()?;
    let kv = &signin.app.kv;
    let id = cookie::read(&headers, cookie::SESSION).ok_or_else(signed_out)?;
    let now = session::now_unix();
    let loaded = session::load(kv, id, now).await.map_err(kv_unavailable)?.ok_or_else(signed_out)?;
    if loaded.session.access_expires > now + REFRESH_MARGIN {
        session::touch(kv, &loaded, now, ready.lifetimes.idle).await.map_err(kv_unavailable)?;
        return answer(ready, &loaded.key, &loaded.session, now);
    }
    let (key, fresh) = refreshed(&signin, ready, loaded).await?;
    answer(ready, &key, &fresh, session::now_unix())
}

/// The session after one refresh, done here or by a concurrent request.
async fn refreshed(
    signin: &Signin,
    ready: &Ready,
    loaded: Loaded,
) -> Result<(String, BrowserSession), ApiError> {
    let kv = &signin.app.kv;
    let lock = format!("{}:refresh", loaded.key);
    let owner = super::random::token();
    let hold = signin.app.config.outbound_timeout + Duration::from_secs(5);
    if !kv.set_if_absent(&lock, &owner, Some(hold)).await.map_err(kv_unavailable)? {
        return wait_for_refresh(signin, loaded, hold).await;
    }
    let result = refresh_locked(signin, ready, &loaded.key).await;
    // Released only if still ours (an expired lock may belong to a later refresher now).
    if let Err(error) = kv.compare_and_set(&lock, Some(&owner), None, None).await {
        tracing::warn!(error = %error, "sign-in: could not release a refresh lock; it expires by itself");
    }
    result
}

/// Refreshes while holding the lock: re-reads (another refresher may have finished just
/// before), calls WorkOS once, stores the result with a compare-and-set.
async fn refresh_locked(
    signin: &Signin,
    ready: &Ready,
    key: &str,
) -> Result<(String, BrowserSession), ApiError> {
    let kv = &signin.app.kv;
    let now = session::now_unix();
    let current =
        session::load_key(kv, key.to_owned(), now).await.map_err(kv_unavailable)?.ok_or_else(signed_out)?;
    if current.session.access_expires > now + REFRESH_MARGIN {
        return Ok((current.key, current.session));
    }
    let tokens = ready
        .seal
        .open(&current.session.sealed_tokens, key)
        .ok()
        .and_then(|plain| serde_json::from_slice::<Tokens>(&plain).ok());
    let Some(tokens) = tokens else {
        tracing::warn!("sign-in: a session's tokens do not open (ATOMS_SESSION_KEY changed?); ending it");
        session::end_by_key(kv, key).await.map_err(kv_unavailable)?;
        return Err(signed_out());
    };
    let authenticated = match signin.workos(ready).refresh(&tokens.refresh_token).await {
        Ok(authenticated) => authenticated,
        Err(error) => return refresh_failed(signin, &current, error).await,
    };
    let next = renewed(&current.session, &authenticated, ready, key).ok_or_else(|| {
        tracing::warn!("sign-in: WorkOS refreshed with an unreadable access token");
        ApiError::bad_gateway("WorkOS answered with an unreadable access token; retry shortly.")
    })?;
    if !session::replace(kv, &current, &next, now, ready.lifetimes.idle).await.map_err(kv_unavailable)? {
        // Ended meanwhile (sign-out, webhook): the new tokens die with it.
        return Err(signed_out());
    }
    Ok((current.key, next))
}

/// The session with the tokens of a refresh.
fn renewed(
    current: &BrowserSession,
    authenticated: &Authenticated,
    ready: &Ready,
    key: &str,
) -> Option<BrowserSession> {
    let facts = login::token_facts(authenticated.access_token.expose())?;
    Some(BrowserSession {
        // WorkOS's current view of the user (a renamed user shows renamed).
        user: authenticated.user.clone(),
        organization_id: authenticated.organization_id.clone().or_else(|| current.organization_id.clone()),
        sid: facts.sid.or_else(|| current.sid.clone()),
        access_expires: facts.exp,
        last_seen: session::now_unix(),
        sealed_tokens: login::seal_tokens(&ready.seal, authenticated, key),
        ..current.clone()
    })
}

/// WorkOS refused (the session is over: end ours) or is down (keep it; serve the current
/// token while it is valid).
async fn refresh_failed(
    signin: &Signin,
    current: &Loaded,
    error: WorkosError,
) -> Result<(String, BrowserSession), ApiError> {
    tracing::warn!(error = %error, "sign-in: the WorkOS refresh failed");
    if !error.is_unavailable() {
        session::end_by_key(&signin.app.kv, &current.key).await.map_err(kv_unavailable)?;
        return Err(signed_out());
    }
    if current.session.access_expires > session::now_unix() {
        return Ok((current.key.clone(), current.session.clone()));
    }
    Err(ApiError::bad_gateway("WorkOS, our sign-in provider, is not answering; retry in a minute."))
}

/// Another request is refreshing: use the current token while valid, else wait for theirs.
async fn wait_for_refresh(
    signin: &Signin,
    loaded: Loaded,
    hold: Duration,
) -> Result<(String, BrowserSession), ApiError> {
    let kv = &signin.app.kv;
    if loaded.session.access_expires > session::now_unix() + 5 {
        return Ok((loaded.key, loaded.session));
    }
    let deadline = tokio::time::Instant::now() + hold;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
        let now = session::now_unix();
        let Some(current) = session::load_key(kv, loaded.key.clone(), now).await.map_err(kv_unavailable)?
        else {
            return Err(signed_out());
        };
        if current.raw != loaded.raw && current.session.access_expires > now {
            return Ok((current.key, current.session));
        }
    }
    Err(ApiError::service_unavailable("The session's token is being refreshed; retry in a moment."))
}

/// The JSON answer: the access token, never cached.
fn answer(ready: &Ready, key: &str, session: &BrowserSession, now: u64) -> Result<Response, ApiError> {
    let tokens = ready
        .seal
        .open(&session.sealed_tokens, key)
        .ok()
        .and_then(|plain| serde_json::from_slice::<Tokens>(&plain).ok())
        .ok_or_else(signed_out)?;
    let body = json!({
        "access_token": tokens.access_token,
        "token_type": "Bearer",
        "expires_in": session.access_expires.saturating_sub(now),
        "expires_at": session.access_expires,
    });
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

fn signed_out() -> ApiError {
    ApiError::unauthorized("No signed-in browser session: sign in at /auth/login.")
}
