//! `atoms dev-token`: bearer tokens for local development, so several users can be tried on one
//! machine. HS256 JWTs signed with a 256-bit key generated once (file mode 0600) at
//! `ATOMS_DATA_DIR/dev-token.key`; accepted only where the local identity is (the local target
//! and a loopback listener, decided by the MCP guard) and never by a deployment.
//!
//! Verification pins the algorithm (the header must say HS256: `none` and anything else are
//! refused), compares the signature in constant time, and checks `iss`, `aud` and `exp`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::db::Identity;

const ISSUER: &str = "atoms-dev-token";
const AUDIENCE: &str = "atoms-local";
const KEY_FILE: &str = "dev-token.key";
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DevTokenError {
    #[error("no dev-token key yet: create a token with `atoms dev-token --sub <id>` first")]
    NoKey,
    #[error("cannot use the dev-token key at {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("not a dev token of this machine (malformed, wrong signature, issuer or audience)")]
    Invalid,
    #[error("the dev token has expired: create a new one with `atoms dev-token`")]
    Expired,
    #[error("{0}")]
    Argument(String),
}

/// The verifier of one data directory; reads the key on first use (tokens may be created after
/// the server started).
pub struct DevTokens {
    path: PathBuf,
    key: OnceLock<Vec<u8>>,
}

impl DevTokens {
    pub fn new(data_dir: &Path) -> Self {
        Self { path: data_dir.join(KEY_FILE), key: OnceLock::new() }
    }

    /// The caller a token names, if it is a valid, unexpired token of this machine's key.
    pub fn verify(&self, token: &str, now_unix: u64) -> Result<Identity, DevTokenError> {
        let key = match self.key.get() {
            Some(key) => key,
            None => {
                let key = read_key(&self.path)?;
                self.key.get_or_init(|| key)
            }
        };
        let claims = verify_signature(token, key)?;
        if claims["iss"] != ISSUER || claims["aud"] != AUDIENCE {
            return Err(DevTokenError::Invalid);
        }
        let expires = claims["exp"].as_u64().ok_or(DevTokenError::Invalid)?;
        if expires <= now_unix {
            return Err(DevTokenError::Expired);
        }
        let subject = claims["sub"]
            .as_str()
            .filter(|s| !s.is_empty() && s.len() <= 255)
            .ok_or(DevTokenError::Invalid)?;
        let mut identity = Identity::new(subject);
        identity.email = claims["email"].as_str().map(str::to_owned);
        identity.name = claims["name"].as_str().map(str::to_owned);
        Ok(identity)
    }
}

/// Signs a token for `subject`, creating the key on first use.
pub fn issue(
    data_dir: &Path,
    subject: &str,
    email: Option<&str>,
    name: Option<&str>,
    ttl_secs: u64,
    now_unix: u64,
) -> Result<String, DevTokenError> {
    if subject.is_empty() || subject.len() > 255 {
        return Err(DevTokenError::Argument("--sub must be 1 to 255 characters".to_owned()));
    }
    let path = data_dir.join(KEY_FILE);
    let key = match read_key(&path) {
        Ok(key) => key,
        Err(DevTokenError::NoKey) => create_key(data_dir, &path)?,
        Err(error) => return Err(error),
    };
    let mut claims =
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now_unix, "exp": now_unix + ttl_secs});
    if let Some(email) = email {
        claims["email"] = json!(email);
    }
    if let Some(name) = name {
        claims["name"] = json!(name);
    }
    let signing_input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(HEADER), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = URL_SAFE_NO_PAD.encode(crate::db::jwt::hmac_sha256(&key, signing_input.as_bytes()));
    Ok(format!("{signing_input}.{signature}"))
}

/// `atoms dev-token`: the token, and how to use it, for the data directory of this environment
/// (`ATOMS_DATA_DIR`, as `atoms serve` reads it).
pub fn command(subject: &str, email: Option<&str>, name: Option<&str>, ttl: &str) -> Result<String, String> {
    let config = crate::config::Config::from_env()
        .map_err(|problems| problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))?;
    let ttl = parse_ttl(ttl).map_err(|e| e.to_string())?;
    let now = now_unix();
    let token =
        issue(&config.database.data_dir, subject, email, name, ttl, now).map_err(|e| e.to_string())?;
    Ok(format!("{token}\n"))
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix() -> u64 {
    crate::clock::now_unix()
}

/// `30m`, `1h`, `7d` or plain seconds.
pub fn parse_ttl(text: &str) -> Result<u64, DevTokenError> {
    let bad =
        || DevTokenError::Argument(format!("--ttl {text:?}: use seconds or a number with s, m, h or d"));
    let (number, unit) = match text.char_indices().last() {
        Some((at, unit)) if unit.is_ascii_alphabetic() => (&text[..at], unit),
        _ => (text, 's'),
    };
    let number: u64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        's' => number,
        'm' => number.saturating_mul(60),
        'h' => number.saturating_mul(3600),
        'd' => number.saturating_mul(86_400),
        _ => return Err(bad()),
    };
    if seconds == 0 || seconds > 90 * 86_400 {
        return Err(DevTokenError::Argument("--ttl must be between 1 second and 90 days".to_owned()));
    }
    Ok(seconds)
}

fn verify_signature(token: &str, key: &[u8]) -> Result<Value, DevTokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(DevTokenError::Invalid);
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| DevTokenError::Invalid);
    let header: Value = serde_json::from_slice(&decode(header)?).map_err(|_| DevTokenError::Invalid)?;
    if header["alg"] != "HS256" {
        return Err(DevTokenError::Invalid);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| DevTokenError::Invalid)?;
    mac.update(&token.as_bytes()[..token.len() - signature.len() - 1]);
    mac.verify_slice(&decode(signature)?).map_err(|_| DevTokenError::Invalid)?;
    serde_json::from_slice(&decode(payload)?).map_err(|_| DevTokenError::Invalid)
}

fn read_key(path: &Path) -> Result<Vec<u8>, DevTokenError> {
    match std::fs::read(path) {
        Ok(key) if key.len() == 32 => Ok(key),
        Ok(_) => Err(DevTokenError::Key {
            path: path.display().to_string(),
            reason: "not a 32-byte key".to_owned(),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(DevTokenError::NoKey),
        Err(error) => Err(DevTokenError::Key { path: path.display().to_string(), reason: error.to_string() }),
    }
}

fn create_key(data_dir: &Path, path: &Path) -> Result<Vec<u8>, DevTokenError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let failed = |reason: String| DevTokenError::Key { path: path.display().to_string(), reason };
    std::fs::create_dir_all(data_dir).map_err(|e| failed(e.to_string()))?;
    let mut key = vec![0u8; 32];
    getrandom::fill(&mut key).map_err(|e| failed(format!("no system randomness: {e}")))?;
    // create_new: two concurrent first runs never overwrite each other's key.
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut file) => file.write_all(&key).map_err(|e| failed(e.to_string()))?,
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => return read_key(path),
        Err(error) => return Err(failed(error.to_string())),
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("atoms-dev-token-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let dir = scratch_dir();
        let token =
            issue(&dir, "user_alice", Some("alice@example.com"), Some("Alice"), 3600, 1_000).expect("issue");
        let tokens = DevTokens::new(&dir);
        let identity = tokens.verify(&token, 2_000).expect("valid");
        assert_eq!(
            (identity.subject.as_str(), identity.email.as_deref()),
            ("user_alice", Some("alice@example.com"))
        );
        assert_eq!(tokens.verify(&token, 4_600).map(|i| i.subject), Err(DevTokenError::Expired));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn forged_tokens_are_refused() {
        let dir = scratch_dir();
        let token = issue(&dir, "user_alice", None, None, 3600, 1_000).expect("issue");
        let tokens = DevTokens::new(&dir);
        let (signed, _) = token.rsplit_once('.').expect("three parts");
        let payload = URL_SAFE_NO_PAD.encode(
            json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": 9_999_999_999u64}).to_string(),
        );
        let header_none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        let tampered = format!(
            "{}.{payload}.{}",
            signed.split('.').next().expect("header"),
            token.rsplit('.').next().expect("sig")
        );
        for forged in [
            format!("{header_none}.{payload}."),
            tampered,
            format!("{signed}.AAAA"),
            "a.b".to_owned(),
            String::new(),
        ] {
            assert_eq!(
                tokens.verify(&forged, 2_000).map(|i| i.subject),
                Err(DevTokenError::Invalid),
                "{forged}"
            );
        }
        // Another machine's key: invalid here.
        let other = scratch_dir();
        let foreign = issue(&other, "user_alice", None, None, 3600, 1_000).expect("issue");
        assert_eq!(tokens.verify(&foreign, 2_000).map(|i| i.subject), Err(DevTokenError::Invalid));
        let _ = std::fs::remove_dir_all(dir);
        let _ = std::fs::remove_dir_all(other);
    }

    #[test]
    fn ttls_read_like_durations() {
        assert_eq!(parse_ttl("90"), Ok(90));
        assert_eq!(parse_ttl("30m"), Ok(1800));
        assert_eq!(parse_ttl("1h"), Ok(3600));
        assert_eq!(parse_ttl("2d"), Ok(172_800));
        assert!(
            parse_ttl("0").is_err()
                && parse_ttl("1y").is_err()
                && parse_ttl("91d").is_err()
                && parse_ttl("h").is_err()
        );
    }
}
