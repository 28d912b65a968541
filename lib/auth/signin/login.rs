//! `GET /auth/login` and `GET /auth/callback`: AuthKit's hosted sign-in with PKCE, ending in a
//! browser session and the signed-in page.
//!
//! Attacks refused here (each has a test in `tests/auth_signin.rs`): a forged, expired or
//! replayed `state` (400); a `state` started in another browser, i.e. a victim sent someone
//! else's callback link (400: the binding cookie differs); a `return_to` off our origin (400);
//! a code WorkOS refuses (400 page) and WorkOS down (502 page, nothing stored).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use base64::Engine as _;
use serde::Deserialize;

use super::pending::{self, PendingSignIn};
use super::session::{self, BrowserSession};
use super::{Shared, cookie, kv_unavailable, page, random};
use crate::auth::workos::{Authenticated, WorkosError, safe_code};
use crate::http::ApiError;
use crate::http::page::{PageError, found};

const SIGN_IN_AGAIN: (&str, &str) = ("Sign in again", "/auth/login");

#[derive(Deserialize)]
pub(super) struct LoginQuery {
    return_to: Option<String>,
}

/// Starts a sign-in: remembers the PKCE verifier under a fresh `state`, binds it to this
/// browser, and sends the browser to AuthKit.
pub(super) async fn login(
    State(signin): Shared,
    Query(query): Query<LoginQuery>,
) -> Result<Response, PageError> {
    let ready = signin.ready()?;
    let return_to = match query.return_to.as_deref().filter(|r| !r.is_empty()) {
        None => None,
        Some(raw) => Some(local_return_to(raw, &ready.origin).ok_or_else(|| {
            PageError::new(ApiError::bad_request(
                "return_to must be a path on this site (another origin is never followed).",
            ))
        })?),
    };
    let state = random::token();
    let binding = random::token();
    let code_verifier = random::token();
    let challenge = random::s256(&code_verifier);
    let pending = PendingSignIn { code_verifier, return_to, binding_digest: random::digest(&binding) };
    pending::store(&signin.app.kv, &state, &pending).await.map_err(kv_unavailable)?;
    let redirect_uri = format!("{}/auth/callback", ready.origin);
    let target = signin.workos(ready).authorize_url(&redirect_uri, &state, &challenge);
    let mut response = found(&target);
    let lifetime = pending::LIFETIME.as_secs();
    response.headers_mut().append(header::SET_COOKIE, cookie::set(cookie::LOGIN, &binding, lifetime));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Deserialize)]
pub(super) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Finishes a sign-in: checks `state` and its browser, exchanges the code, opens the session.
pub(super) async fn callback(
    State(signin): Shared,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let ready = signin.ready()?;
    let kv = &signin.app.kv;
    let refuse = |message: &'static str| {
        PageError::new(ApiError::bad_request(message)).with_link(SIGN_IN_AGAIN.0, SIGN_IN_AGAIN.1)
    };
    let state = query.state.as_deref().ok_or_else(|| refuse("The sign-in answer carries no state."))?;
    let pending = pending::take(kv, state)
        .await
        .map_err(kv_unavailable)?
        .ok_or_else(|| refuse("This sign-in link has expired or was already used."))?;
    let bound =
        cookie::read(&headers, cookie::LOGIN).is_some_and(|b| random::digest(b) == pending.binding_digest);
    if !bound {
        return Err(refuse(
            "This sign-in was started in another browser (or its cookie was blocked); start it here.",
        ));
    }
    if let Some(error) = query.error.as_deref() {
        let message = format!("WorkOS ended the sign-in ({}).", safe_code(error));
        return Err(
            PageError::new(ApiError::bad_request(message)).with_link(SIGN_IN_AGAIN.0, SIGN_IN_AGAIN.1)
        );
    }
    let code = query.code.as_deref().filter(|c| !c.is_empty() && c.len() <= 512);
    let code = code.ok_or_else(|| refuse("The sign-in answer carries no code."))?;
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    let authenticated = signin
        .workos(ready)
        .authenticate_code(code, &pending.code_verifier, user_agent)
        .await
        .map_err(|error| workos_failure(&error))?;

    let now = session::now_unix();
    let session_id = random::token();
    let key = session::key(&session_id);
    let browser_session =
        new_session(&authenticated, &ready.seal, &key, now, ready.lifetimes.absolute, user_agent)
            .ok_or_else(|| {
                PageError::new(ApiError::bad_gateway("WorkOS answered with an unreadable access token."))
            })?;
    session::create(kv, &session_id, &browser_session, ready.lifetimes).await.map_err(kv_unavailable)?;

    let mut response = match &pending.return_to {
        Some(path) => found(path),
        None => page::signed_in(&browser_session, &signin.app.config, ready),
    };
    let max_age = ready.lifetimes.absolute.as_secs();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, cookie::set(cookie::SESSION, &session_id, max_age));
    headers.append(header::SET_COOKIE, cookie::clear(cookie::LOGIN));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A WorkOS failure on a browser page: refusal → 400, outage → 502; logged once, here.
fn workos_failure(error: &WorkosError) -> PageError {
    tracing::warn!(error = %error, "sign-in: the WorkOS code exchange failed");
    let api_error = match error {
        WorkosError::Rejected { code, .. } => {
            ApiError::bad_request(format!("WorkOS refused this sign-in ({code}); sign in again."))
        }
        _ => ApiError::bad_gateway("WorkOS, our sign-in provider, is not answering; retry in a minute."),
    };
    PageError::new(api_error).with_link(SIGN_IN_AGAIN.0, SIGN_IN_AGAIN.1)
}

/// The session record of a fresh sign-in; `None` when the access token is unreadable.
pub(super) fn new_session(
    authenticated: &Authenticated,
    seal: &super::SealKey,
    key: &str,
    now: u64,
    absolute: std::time::Duration,
    user_agent: Option<&str>,
) -> Option<BrowserSession> {
    let facts = token_facts(authenticated.access_token.expose())?;
    Some(BrowserSession {
        user: authenticated.user.clone(),
        organization_id: authenticated.organization_id.clone().or(facts.org_id),
        sid: facts.sid,
        created: now,
        last_seen: now,
        expires: now + absolute.as_secs(),
        user_agent: user_agent.map(|agent| agent.chars().take(200).collect()),
        access_expires: facts.exp,
        sealed_tokens: seal_tokens(seal, authenticated, key),
    })
}

/// The access and refresh token, sealed for the session at `key`.
pub(super) fn seal_tokens(seal: &super::SealKey, authenticated: &Authenticated, key: &str) -> String {
    let tokens = serde_json::json!({
        "access_token": authenticated.access_token.expose(),
        "refresh_token": authenticated.refresh_token.expose(),
    });
    seal.seal(tokens.to_string().as_bytes(), key)
}

/// What the session needs from an access token WorkOS just issued to us.
pub(super) struct TokenFacts {
    pub sid: Option<String>,
    pub exp: u64,
    pub org_id: Option<String>,
}

/// The claims of an access token taken straight from WorkOS's answer over TLS (authenticated
/// with our API key): read, not verified — it never came from a client. MCP requests carrying
/// it are verified by the resource server like any other token.
pub(super) fn token_facts(token: &str) -> Option<TokenFacts> {
    let payload = token.split('.').nth(1)?;
    let bytes =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(TokenFacts {
        sid: claims["sid"].as_str().map(str::to_owned),
        exp: claims["exp"].as_u64()?,
        org_id: claims["org_id"].as_str().map(str::to_owned),
    })
}

/// `raw` as a path (and query) on `origin`, if it stays on that origin.
pub(super) fn local_return_to(raw: &str, origin: &str) -> Option<String> {
    if raw.len() > 2048 || raw.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    let base = reqwest::Url::parse(origin).ok()?;
    let url = base.join(raw).ok()?;
    if url.origin() != base.origin() || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let mut local = url.path().to_owned();
    if let Some(query) = url.query() {
        local.push('?');
        local.push_str(query);
    }
    Some(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_stays_on_our_origin() {
        let origin = "https://atoms.example.com";
        assert_eq!(local_return_to("/docs?x=1", origin).as_deref(), Some("/docs?x=1"));
        assert_eq!(local_return_to("https://atoms.example.com/a", origin).as_deref(), Some("/a"));
        for foreign in [
            "https://evil.example/",
            "//evil.example/path",
            "/\\evil.example",
            "javascript:alert(1)",
            "http://atoms.example.com/",
            "https://atoms.example.com:8443/",
            "https://user@atoms.example.com/",
            "/a\nb",
        ] {
            assert_eq!(local_return_to(foreign, origin), None, "{foreign}");
        }
    }

    #[test]
    fn token_facts_read_sid_exp_and_org() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"sid":"session_1","exp":1700000000,"org_id":"org_1"}"#);
        let facts = token_facts(&format!("h.{payload}.s")).expect("facts");
        assert_eq!(
            (facts.sid.as_deref(), facts.exp, facts.org_id.as_deref()),
            (Some("session_1"), 1700000000, Some("org_1"))
        );
        assert!(token_facts("not-a-jwt").is_none());
        let no_exp = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"sid":"s"}"#);
        assert!(token_facts(&format!("h.{no_exp}.s")).is_none());
    }
}
