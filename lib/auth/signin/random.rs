//! Random values of the sign-in flow: opaque ids (session ids, `state`, cookie bindings), PKCE
//! verifiers and their S256 challenges, and the SHA-256 digests under which ids are stored.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Fills `buffer` from the operating system's generator. There is no fallback: without
/// randomness no sign-in may proceed, and the process cannot serve securely anyway.
pub(super) fn fill(buffer: &mut [u8]) {
    getrandom::fill(buffer).unwrap_or_else(|_| panic!("the operating system's random generator failed"));
}

/// 256 random bits, base64url (43 characters): unguessable ids and PKCE verifiers (RFC 7636
/// asks 43–128 characters of `[A-Za-z0-9-._~]`).
pub fn token() -> String {
    let mut bytes = [0u8; 32];
    fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE S256 challenge of `verifier`: base64url(SHA-256(verifier)).
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The hex SHA-256 of an id: what the KV keys carry, so reading the KV yields no usable
/// session id or `state`.
pub fn digest(id: &str) -> String {
    crate::hex::encode(&Sha256::digest(id.as_bytes()))
}

/// True when `candidate` is shaped like a [`token`] (43 base64url characters); anything else
/// is refused before it reaches the KV.
pub fn is_token(candidate: &str) -> bool {
    candidate.len() == 43 && candidate.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_well_formed() {
        let (a, b) = (token(), token());
        assert_ne!(a, b);
        assert!(is_token(&a) && is_token(&b));
        assert!(!is_token("short") && !is_token(&format!("{}=", &a[..42])));
    }

    #[test]
    fn s256_is_unpadded_base64url_of_sha256() {
        // SHA-256("abc") = ba7816bf…f20015ad (FIPS 180-2 test vector).
        assert_eq!(s256("abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
        assert_eq!(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
