//! `POST /auth/logout`: ends the browser session, its WorkOS session, and every token of it.
//!
//! Our session and its `sid` are ended first (KV: the `sid` is refused fleet-wide at once);
//! then WorkOS revokes its session, so the refresh token dies too. WorkOS down does not keep
//! anyone signed in: ours is gone either way, and the failure is logged. A cross-site POST is
//! refused (403) by `Sec-Fetch-Site` / `Origin`, on top of the cookie's `SameSite=Lax` (which
//! still lets another port of the same host — same-site — send it).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{Shared, cookie, kv_unavailable, page, session};
use crate::http::ApiError;

pub(super) async fn logout(State(signin): Shared, headers: HeaderMap) -> Result<Response, ApiError> {
    let ready = signin.ready()?;
    if !same_origin(&headers, &ready.origin) {
        return Err(ApiError::forbidden("Sign-out must come from this site."));
    }
    if let Some(id) = cookie::read(&headers, cookie::SESSION) {
        let kv = &signin.app.kv;
        let loaded = session::load(kv, id, session::now_unix()).await.map_err(kv_unavailable)?;
        if let Some(loaded) = loaded {
            let sid = session::end_by_key(kv, &loaded.key).await.map_err(kv_unavailable)?;
            if let Some(sid) = sid
                && let Err(error) = signin.workos(ready).revoke_session(&sid).await
            {
                tracing::warn!(error = %error, "sign-out: WorkOS did not revoke the session; ours is ended");
            }
        }
    }
    let wants_page = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let mut response =
        if wants_page { page::signed_out() } else { Json(json!({ "signed_out": true })).into_response() };
    response.headers_mut().append(header::SET_COOKIE, cookie::clear(cookie::SESSION));
    Ok(response)
}

/// True unless the browser says the POST came from elsewhere. `Sec-Fetch-Site` decides when
/// present (`same-origin`, or `none` for a person's own action); otherwise `Origin`, when sent,
/// must be ours. (Our pages' `Referrer-Policy: no-referrer` makes Chromium send `Origin: null`
/// on their own form posts, so `Origin` alone cannot decide for current browsers.) Clients that
/// are not browsers send neither.
fn same_origin(headers: &HeaderMap, ours: &str) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match (header("sec-fetch-site"), header("origin")) {
        (Some(site), _) => site == "same-origin" || site == "none",
        (None, Some(origin)) => origin == ours,
        (None, None) => true,
    }
}
