//! `POST /auth/webhooks/workos`: WorkOS events that end sessions.
//!
//! The `WorkOS-Signature: t=<ms>, v1=<hex>` header must carry an HMAC-SHA256 under
//! `WORKOS_WEBHOOK_SECRET` of `"{t}.{raw body}"`, compared in constant time, with `t` within
//! 180 s of now (a captured delivery replayed later is refused). `session.revoked` revokes its
//! session's `sid` and ends the browser session holding it; `user.deleted` ends every browser
//! session of the user and revokes their `sid`s. Other events are acknowledged and ignored.
//! Handling is idempotent, so WorkOS's retries are harmless.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{Shared, kv_unavailable, session};
use crate::http::ApiError;

/// How far the signature's timestamp may be from now.
pub(super) const TOLERANCE_MS: u64 = 180_000;

/// Why a delivery's signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum SignatureError {
    #[error("the WorkOS-Signature header is missing")]
    Missing,
    #[error("the WorkOS-Signature header is not `t=<ms>, v1=<hex>`")]
    Malformed,
    #[error("the WorkOS-Signature timestamp is more than 180 s from now")]
    Stale,
    #[error("the WorkOS-Signature does not match the body")]
    Mismatch,
}

pub(super) async fn webhook(
    State(signin): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let secret = signin.app.config.auth.workos.webhook_secret.as_ref().ok_or_else(|| {
        ApiError::service_unavailable("WorkOS webhooks are not configured here (WORKOS_WEBHOOK_SECRET).")
    })?;
    let header = headers.get("workos-signature").and_then(|v| v.to_str().ok());
    if let Err(error) = verify(secret.expose().as_bytes(), header, &body, now_ms()) {
        tracing::warn!(error = %error, "webhook refused");
        return Err(ApiError::unauthorized(error.to_string()));
    }
    let event: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("The webhook body is not a JSON event."))?;
    let name =
        event["event"].as_str().ok_or_else(|| ApiError::bad_request("The event has no `event` name."))?;
    let id = event["data"]["id"].as_str().filter(|id| !id.is_empty() && id.len() <= 255);
    let kv = &signin.app.kv;
    match (name, id) {
        ("session.revoked", Some(sid)) => session::end_by_sid(kv, sid).await.map_err(kv_unavailable)?,
        ("user.deleted", Some(user)) => {
            session::end_all_of_user(kv, user).await.map_err(kv_unavailable)?;
        }
        ("session.revoked" | "user.deleted", None) => {
            return Err(ApiError::bad_request("The event's data carries no id."));
        }
        _ => {}
    }
    tracing::info!(event = name, "webhook handled");
    Ok(Json(json!({ "received": true })))
}

/// Checks a `WorkOS-Signature` header against `body` at `now_ms`.
pub(super) fn verify(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now_ms: u64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let (mut timestamp, mut signature) = (None, None);
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = Some(value),
            Some(("v1", value)) => signature = Some(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    let millis: u64 = timestamp.parse().map_err(|_| SignatureError::Malformed)?;
    let signature =
        decode_hex(signature.ok_or(SignatureError::Malformed)?).ok_or(SignatureError::Malformed)?;
    if millis.abs_diff(now_ms) > TOLERANCE_MS {
        return Err(SignatureError::Stale);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&signature).map_err(|_| SignatureError::Mismatch)
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

use crate::clock::now_ms;

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], t: u64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("key");
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        let hex: String = crate::hex::encode(&mac.finalize().into_bytes());
        format!("t={t}, v1={hex}")
    }

    #[test]
    fn accepts_a_fresh_signature_and_refuses_everything_else() {
        let (secret, body, now) = (b"whsec".as_slice(), br#"{"event":"x"}"#.as_slice(), 1_800_000_000_000);
        assert_eq!(verify(secret, Some(&sign(secret, now, body)), body, now), Ok(()));
        assert_eq!(verify(secret, Some(&sign(secret, now - 179_000, body)), body, now), Ok(()));
        assert_eq!(
            verify(secret, Some(&sign(secret, now - 181_000, body)), body, now),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(secret, Some(&sign(secret, now + 181_000, body)), body, now),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(secret, Some(&sign(b"other", now, body)), body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(secret, Some(&sign(secret, now, body)), br#"{"event":"y"}"#, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(secret, None, body, now), Err(SignatureError::Missing));
        for malformed in ["t=abc, v1=00", "v1=00", "t=1", &format!("t={now}, v1=zz")] {
            assert_eq!(
                verify(secret, Some(malformed), body, now),
                Err(SignatureError::Malformed),
                "{malformed}"
            );
        }
    }
}
