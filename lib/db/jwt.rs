//! Short-lived HS256 tokens for PostgREST, signed with the Supabase project's JWT secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::secret::Secret;

/// Lifetime of a minted token: long enough for one call, short enough to be worthless if leaked.
pub const TOKEN_LIFETIME_SECS: u64 = 60;

/// Signs `claims` (plus `iat`/`exp`) as an HS256 JWT.
pub fn mint(claims: &Value, secret: &Secret, now_unix: u64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let mut claims = claims.clone();
    claims["iat"] = json!(now_unix);
    claims["exp"] = json!(now_unix + TOKEN_LIFETIME_SECS);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let signature = URL_SAFE_NO_PAD.encode(sign(signing_input.as_bytes(), secret));
    format!("{signing_input}.{signature}")
}

/// HMAC-SHA256 of `input` with the JWT secret.
pub fn sign(input: &[u8], secret: &Secret) -> Vec<u8> {
    hmac_sha256(secret.expose().as_bytes(), input)
}

/// HMAC-SHA256 of `input` under `key`.
pub fn hmac_sha256(key: &[u8], input: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(input);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_carry_claims_and_a_short_expiry() {
        let secret = Secret::new("super-secret-jwt-token-with-at-least-32-characters");
        let token = mint(&json!({"sub": "user_01", "role": "authenticated"}), &secret, 1_700_000_000);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64")).expect("json");
        assert_eq!(payload["sub"], "user_01");
        assert_eq!(payload["exp"], 1_700_000_060);
        let expected = URL_SAFE_NO_PAD.encode(sign(format!("{}.{}", parts[0], parts[1]).as_bytes(), &secret));
        assert_eq!(parts[2], expected);
    }
}
