//! Sealing the WorkOS tokens of a browser session at rest: ChaCha20-Poly1305 under
//! `ATOMS_SESSION_KEY`, a random 96-bit nonce per seal, and the session's KV key as associated
//! data — a sealed value copied onto another session does not open.
//!
//! Wire form: base64url(nonce ‖ ciphertext ‖ tag). Random nonces are safe here: a key seals
//! one value per sign-in or refresh, far below the 2³² seals a 96-bit random nonce allows.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// A sealing key (the 32 bytes of `ATOMS_SESSION_KEY`).
pub struct SealKey(LessSafeKey);

/// The value does not open: tampered, sealed under another key or for another session.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the sealed session data does not open with this ATOMS_SESSION_KEY")]
pub struct Unsealable;

impl SealKey {
    pub fn new(key: &[u8; 32]) -> Self {
        let unbound =
            UnboundKey::new(&CHACHA20_POLY1305, key).unwrap_or_else(|_| unreachable!("32-byte key"));
        Self(LessSafeKey::new(unbound))
    }

    /// Encrypts `plaintext`, bound to `context` (the session's KV key).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        super::random::fill(&mut nonce);
        let mut buffer = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buffer,
            )
            .unwrap_or_else(|_| unreachable!("in-memory sealing of a small value"));
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// Decrypts a value [`SealKey::seal`] made for `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, Unsealable> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| Unsealable)?;
        if bytes.len() < NONCE_LEN + CHACHA20_POLY1305.tag_len() {
            return Err(Unsealable);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unsealable)?;
        let mut buffer = ciphertext.to_vec();
        let plaintext = self
            .0
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| Unsealable)?;
        Ok(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_what_it_sealed_and_nothing_else() {
        let key = SealKey::new(&[7; 32]);
        let sealed = key.seal(b"refresh-token", "session-a");
        assert_eq!(key.open(&sealed, "session-a").as_deref(), Ok(&b"refresh-token"[..]));
        assert!(!sealed.contains("refresh"), "the plaintext is not visible");
        assert_ne!(sealed, key.seal(b"refresh-token", "session-a"), "a fresh nonce per seal");
        assert_eq!(key.open(&sealed, "session-b"), Err(Unsealable), "bound to its session");
        assert_eq!(SealKey::new(&[8; 32]).open(&sealed, "session-a"), Err(Unsealable), "bound to its key");
        let mut tampered = URL_SAFE_NO_PAD.decode(&sealed).expect("base64");
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(key.open(&URL_SAFE_NO_PAD.encode(tampered), "session-a"), Err(Unsealable));
        assert_eq!(key.open("short", "session-a"), Err(Unsealable));
        assert_eq!(key.open("!!not base64!!", "session-a"), Err(Unsealable));
    }
}
