//! Compact JWS tokens as bearer credentials: parsing, signature checks, and the time and
//! audience rules every issuer shares.
//!
//! Nothing here trusts the token's header to choose how it is checked: the caller pins the
//! algorithm (RS256 for AuthKit and WorkOS, HS256 for a Supabase secret) and the key, and a
//! header naming anything else is refused before any cryptography runs.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// How far clocks may disagree when checking `exp`, `nbf` and `iat`.
pub const LEEWAY_SECONDS: i64 = 30;

/// Largest token accepted (bytes); real access tokens are 1–2 KB.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a token was refused. The `Display` text is for logs (never containing the token); the
/// client only ever learns the RFC 6750 code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("algorithm {0:?} is not accepted")]
    Algorithm(String),
    #[error("no key with this kid")]
    UnknownKey,
    #[error("signature does not verify")]
    Signature,
    #[error("issuer is not trusted")]
    Issuer,
    #[error("audience does not name this server")]
    Audience,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token is missing a required scope")]
    Scope,
    #[error("the token's session was revoked")]
    Revoked,
}

/// A token split into its parts; nothing in it is trusted yet.
pub struct Unverified<'a> {
    pub header: Value,
    pub claims: Value,
    signing_input: &'a str,
    signature: Vec<u8>,
}

impl<'a> Unverified<'a> {
    pub fn parse(token: &'a str) -> Result<Self, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed("too long"));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("not three dot-separated parts"));
        };
        let decode =
            |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| TokenError::Malformed("not base64url"));
        let header: Value = serde_json::from_slice(&decode(header)?)
            .map_err(|_| TokenError::Malformed("header is not JSON"))?;
        let claims: Value = serde_json::from_slice(&decode(payload)?)
            .map_err(|_| TokenError::Malformed("payload is not JSON"))?;
        if !header.is_object() || !claims.is_object() {
            return Err(TokenError::Malformed("header or payload is not an object"));
        }
        // Critical extensions we do not understand must not be ignored (RFC 7515 §4.1.11).
        if header.get("crit").is_some() {
            return Err(TokenError::Malformed("unsupported critical header"));
        }
        let signing_input = &token[..token.len() - signature.len() - 1];
        Ok(Self { header, claims, signing_input, signature: decode(signature)? })
    }

    /// The header's `alg`, which must be exactly `expected`.
    pub fn require_alg(&self, expected: &str) -> Result<(), TokenError> {
        match self.header.get("alg").and_then(Value::as_str) {
            Some(alg) if alg == expected => Ok(()),
            Some(alg) => Err(TokenError::Algorithm(alg.chars().take(16).collect())),
            None => Err(TokenError::Algorithm(String::new())),
        }
    }

    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// The unverified `iss`, used only to choose which issuer's keys to check against.
    pub fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    /// RS256 (RSASSA-PKCS1-v1_5 with SHA-256, 2048–8192-bit keys) against `key`.
    pub fn verify_rs256(&self, key: &RsaKey) -> Result<(), TokenError> {
        self.require_alg("RS256")?;
        let public = ring::signature::RsaPublicKeyComponents { n: &key.n, e: &key.e };
        public
            .verify(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                self.signing_input.as_bytes(),
                &self.signature,
            )
            .map_err(|_| TokenError::Signature)
    }

    /// The header's `alg`, which must be one of `accepted` *and* fit `key`'s type (an RSA key
    /// only ever checks RS256, a P-256 key only ES256: no algorithm confusion).
    pub fn verify_with(&self, key: &PublicKey, accepted: &[&str]) -> Result<(), TokenError> {
        let alg = self.header.get("alg").and_then(Value::as_str).unwrap_or_default();
        if !accepted.contains(&alg) {
            return Err(TokenError::Algorithm(alg.chars().take(16).collect()));
        }
        match (alg, key) {
            ("RS256", PublicKey::Rsa(key)) => self.verify_rs256(key),
            ("ES256", PublicKey::P256(point)) => {
                let key =
                    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point);
                key.verify(self.signing_input.as_bytes(), &self.signature).map_err(|_| TokenError::Signature)
            }
            _ => Err(TokenError::Algorithm(alg.chars().take(16).collect())),
        }
    }

    /// HS256 with `secret` (constant-time comparison inside `ring`).
    pub fn verify_hs256(&self, secret: &[u8]) -> Result<(), TokenError> {
        self.require_alg("HS256")?;
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        ring::hmac::verify(&key, self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| TokenError::Signature)
    }
}

/// An RSA public key from a JWKS (`n`, `e` big-endian, no leading zeros needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaKey {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

/// A signing key from a JWKS: RSA (RS256) or NIST P-256 (ES256, Supabase's asymmetric keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    Rsa(RsaKey),
    /// The uncompressed point `04 || x || y` (65 bytes).
    P256(Vec<u8>),
}

/// Checks `exp` (required), `nbf` and `iat` (when present) against `now` with the leeway.
/// Returns `exp`.
pub fn check_times(claims: &Value, now: i64) -> Result<i64, TokenError> {
    let number = |name: &str| {
        claims.get(name).map(|v| v.as_i64().ok_or(TokenError::Malformed("time claim is not an integer")))
    };
    let exp = number("exp").ok_or(TokenError::Malformed("no exp"))??;
    if exp.saturating_add(LEEWAY_SECONDS) <= now {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = number("nbf").transpose()?
        && nbf.saturating_sub(LEEWAY_SECONDS) > now
    {
        return Err(TokenError::NotYetValid);
    }
    if let Some(iat) = number("iat").transpose()?
        && iat.saturating_sub(LEEWAY_SECONDS) > now
    {
        return Err(TokenError::NotYetValid);
    }
    Ok(exp)
}

/// True when the `aud` claim (a string or an array of strings) contains one of `accepted`.
pub fn audience_matches(claims: &Value, accepted: &[String]) -> bool {
    let contains = |aud: &str| accepted.iter().any(|a| a == aud);
    match claims.get("aud") {
        Some(Value::String(aud)) => contains(aud),
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(contains),
        _ => false,
    }
}

/// The scopes a token grants: `scope` (space-separated, RFC 8693/9068) or `scp` (array).
pub fn scopes(claims: &Value) -> Vec<&str> {
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(scope)), _) => scope.split_whitespace().collect(),
        (_, Some(Value::Array(scp))) => scp.iter().filter_map(Value::as_str).collect(),
        (_, Some(Value::String(scp))) => scp.split_whitespace().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(header: &Value, claims: &Value, secret: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(ring::hmac::sign(&key, input.as_bytes())))
    }

    #[test]
    fn the_algorithm_is_pinned_by_the_caller() {
        let t = token(&json!({"alg": "HS256"}), &json!({"sub": "a"}), b"secret");
        let parsed = Unverified::parse(&t).expect("parses");
        assert!(parsed.verify_hs256(b"secret").is_ok());
        assert_eq!(parsed.verify_hs256(b"other"), Err(TokenError::Signature));
        let key = RsaKey { n: vec![1; 256], e: vec![1, 0, 1] };
        assert_eq!(parsed.verify_rs256(&key), Err(TokenError::Algorithm("HS256".into())));
        let none = token(&json!({"alg": "none"}), &json!({"sub": "a"}), b"");
        let parsed = Unverified::parse(&none).expect("parses");
        assert_eq!(parsed.verify_hs256(b""), Err(TokenError::Algorithm("none".into())));
    }

    #[test]
    fn malformed_tokens_are_refused_before_any_check() {
        for bad in ["", "a.b", "a.b.c.d", "!!.e30.", "e30.e30", "W10.e30.", &"a".repeat(MAX_TOKEN_BYTES + 1)]
        {
            assert!(matches!(Unverified::parse(bad), Err(TokenError::Malformed(_))), "{bad}");
        }
        let crit = token(&json!({"alg": "HS256", "crit": ["b64"]}), &json!({}), b"k");
        assert!(matches!(Unverified::parse(&crit), Err(TokenError::Malformed(_))));
    }

    #[test]
    fn times_have_thirty_seconds_of_leeway() {
        let now = 1_000_000;
        assert_eq!(check_times(&json!({"exp": now - 29}), now), Ok(now - 29));
        assert_eq!(check_times(&json!({"exp": now - 30}), now), Err(TokenError::Expired));
        assert_eq!(
            check_times(&json!({"exp": now + 60, "nbf": now + 31}), now),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(check_times(&json!({"exp": now + 60, "nbf": now + 30}), now), Ok(now + 60));
        assert_eq!(
            check_times(&json!({"exp": now + 60, "iat": now + 120}), now),
            Err(TokenError::NotYetValid)
        );
        assert!(matches!(check_times(&json!({}), now), Err(TokenError::Malformed(_))));
        assert!(matches!(check_times(&json!({"exp": "soon"}), now), Err(TokenError::Malformed(_))));
    }

    #[test]
    fn audiences_and_scopes_in_both_shapes() {
        let ours = vec!["https://atoms.example.com/api/mcp".to_owned()];
        assert!(audience_matches(&json!({"aud": "https://atoms.example.com/api/mcp"}), &ours));
        assert!(audience_matches(&json!({"aud": ["x", "https://atoms.example.com/api/mcp"]}), &ours));
        assert!(!audience_matches(&json!({"aud": "https://atoms.example.com/api/mcp/"}), &ours));
        assert!(!audience_matches(&json!({}), &ours));
        assert_eq!(scopes(&json!({"scope": "a b"})), ["a", "b"]);
        assert_eq!(scopes(&json!({"scp": ["a", "b"]})), ["a", "b"]);
    }
}
