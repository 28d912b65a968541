//! Sign-ins under way: what `/auth/login` remembers for `/auth/callback`.
//!
//! `auth:login-state:<digest of state>` holds the PKCE verifier, where to go afterwards and the
//! digest of the binding cookie set on the browser that started the sign-in; it lives 10
//! minutes and is taken exactly once (read, then a compare-and-set delete: of two callbacks
//! racing with the same `state`, one wins).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::random;
use crate::kv::{Kv, KvError};

/// How long a started sign-in may take.
pub const LIFETIME: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingSignIn {
    pub code_verifier: String,
    /// A path on our own origin (already checked), or none for the signed-in page.
    pub return_to: Option<String>,
    /// SHA-256 of the binding cookie's value.
    pub binding_digest: String,
}

fn key(state: &str) -> String {
    format!("auth:login-state:{}", random::digest(state))
}

pub async fn store(kv: &Kv, state: &str, pending: &PendingSignIn) -> Result<(), KvError> {
    let json = serde_json::to_string(pending).unwrap_or_else(|_| unreachable!("plain strings"));
    kv.set(&key(state), &json, Some(LIFETIME)).await
}

/// The sign-in `state` names, removed so it can never be used again; `None` when unknown,
/// expired or already taken.
pub async fn take(kv: &Kv, state: &str) -> Result<Option<PendingSignIn>, KvError> {
    if !random::is_token(state) {
        return Ok(None);
    }
    let key = key(state);
    let Some(raw) = kv.get(&key).await? else { return Ok(None) };
    if !kv.compare_and_set(&key, Some(&raw), None, None).await? {
        return Ok(None);
    }
    Ok(serde_json::from_str(&raw).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_state_is_taken_once() {
        let kv = Kv::memory();
        let state = random::token();
        let pending = PendingSignIn {
            code_verifier: random::token(),
            return_to: None,
            binding_digest: random::digest("b"),
        };
        store(&kv, &state, &pending).await.expect("store");
        assert_eq!(take(&kv, &random::token()).await.expect("kv"), None, "another state");
        assert_eq!(take(&kv, "not-a-state").await.expect("kv"), None, "malformed");
        assert_eq!(take(&kv, &state).await.expect("kv"), Some(pending));
        assert_eq!(take(&kv, &state).await.expect("kv"), None, "replayed");
    }
}
