//! One issuer's signing keys, fetched from its JWKS URL and cached per instance.
//!
//! - Keys are trusted for `AUTH_JWKS_CACHE_SECONDS` (default 10 minutes), then refetched on the
//!   next use; if that refetch fails, the keys already known keep serving (an issuer outage does
//!   not log everyone out) and the next use tries again after [`RETRY_AFTER_FAILURE`].
//! - A token naming an unknown `kid` (a key rotated in since the last fetch) triggers a refetch,
//!   at most once per `AUTH_JWKS_REFETCH_SECONDS` (default a minute), so random kids cannot make
//!   us hammer the issuer.
//! - One fetch at a time per key set: concurrent requests wait for it instead of fetching too.
//! - Only signing keys are kept: RSA (`kty: RSA`, `alg` absent or `RS256`) and P-256
//!   (`kty: EC`, `crv: P-256`, `alg` absent or `ES256`), `use` absent or `sig`. Which algorithms
//!   an issuer may use is the verifier's decision, not the key set's.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::jwt::{PublicKey, RsaKey};

/// The least time between two fetches after a failed one.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);
/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Why no key could be found for a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The issuer does not publish this kid (after a refetch, or too soon for one).
    #[error("no key with this kid")]
    Unknown,
    /// Nothing is cached and the issuer's JWKS cannot be fetched.
    #[error("the issuer's keys cannot be fetched: {0}")]
    Unavailable(String),
}

#[derive(Default)]
struct Cached {
    keys: HashMap<String, Arc<PublicKey>>,
    fetched: Option<Instant>,
    last_failure: Option<Instant>,
}

/// What the cache says about a kid without fetching.
enum Decision {
    Key(Arc<PublicKey>),
    Refuse(KeyError),
    Fetch,
}

/// The keys of one JWKS URL.
pub struct KeySet {
    url: String,
    ttl: Duration,
    /// The least time between two fetches when a fresh set lacks a kid (default one minute).
    refetch_cooldown: Duration,
    cached: RwLock<Cached>,
    fetching: tokio::sync::Mutex<()>,
}

impl KeySet {
    pub fn new(url: String, ttl: Duration, refetch_cooldown: Duration) -> Self {
        Self { url, ttl, refetch_cooldown, cached: RwLock::default(), fetching: tokio::sync::Mutex::new(()) }
    }

    /// The key named `kid` (or the only key, when the token names none and the set has one).
    pub async fn key(
        &self,
        kid: Option<&str>,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> Result<Arc<PublicKey>, KeyError> {
        match self.decide(kid) {
            Decision::Key(key) => return Ok(key),
            Decision::Refuse(error) => return Err(error),
            Decision::Fetch => {}
        }
        // A stale key we still hold is served at once while someone else refetches.
        let _one_fetch = match self.fetching.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                if let Some(key) = self.known(kid) {
                    return Ok(key);
                }
                self.fetching.lock().await
            }
        };
        // Someone else may have fetched while we waited.
        match self.decide(kid) {
            Decision::Key(key) => return Ok(key),
            Decision::Refuse(error) => return Err(error),
            Decision::Fetch => {}
        }
        let fetched = fetch(&self.url, http, timeout).await;
        let mut cached = self.cached.write().unwrap_or_else(|e| e.into_inner());
        match fetched {
            Ok(keys) => {
                cached.keys = keys;
                cached.fetched = Some(Instant::now());
                cached.last_failure = None;
            }
            Err(reason) => {
                tracing::warn!(jwks = %self.url, reason = %reason, "JWKS fetch failed");
                cached.last_failure = Some(Instant::now());
                if cached.keys.is_empty() {
                    return Err(KeyError::Unavailable(reason));
                }
            }
        }
        find(&cached.keys, kid).ok_or(KeyError::Unknown)
    }

    fn decide(&self, kid: Option<&str>) -> Decision {
        let cached = self.cached.read().unwrap_or_else(|e| e.into_inner());
        let age = cached.fetched.map(|at| at.elapsed());
        let found = find(&cached.keys, kid);
        if let Some(key) = &found
            && age.is_some_and(|age| age < self.ttl)
        {
            return Decision::Key(key.clone());
        }
        if age.is_some_and(|age| age < self.ttl && age < self.refetch_cooldown) {
            // A fresh set that lacks the kid, fetched too recently to ask the issuer again.
            return Decision::Refuse(KeyError::Unknown);
        }
        // After a failure: nothing for RETRY_AFTER_FAILURE, and a kid we do not know only after
        // the refetch cooldown too (an outage must not turn unknown kids into a fetch storm).
        let quiet = |at: Instant| {
            at.elapsed() < RETRY_AFTER_FAILURE || (found.is_none() && at.elapsed() < self.refetch_cooldown)
        };
        if cached.last_failure.is_some_and(quiet) {
            // The issuer just failed us: serve what we know (even stale), without waiting again.
            return match (found, cached.keys.is_empty()) {
                (Some(key), _) => Decision::Key(key),
                (None, true) => Decision::Refuse(KeyError::Unavailable("the last fetch failed".to_owned())),
                (None, false) => Decision::Refuse(KeyError::Unknown),
            };
        }
        Decision::Fetch
    }
}

impl KeySet {
    /// A key we hold for `kid`, fresh or not.
    fn known(&self, kid: Option<&str>) -> Option<Arc<PublicKey>> {
        find(&self.cached.read().unwrap_or_else(|e| e.into_inner()).keys, kid)
    }
}

fn find(keys: &HashMap<String, Arc<PublicKey>>, kid: Option<&str>) -> Option<Arc<PublicKey>> {
    match kid {
        Some(kid) => keys.get(kid).cloned(),
        None if keys.len() == 1 => keys.values().next().cloned(),
        None => None,
    }
}

async fn fetch(
    url: &str,
    http: &reqwest::Client,
    timeout: Duration,
) -> Result<HashMap<String, Arc<PublicKey>>, String> {
    let response =
        http.get(url).timeout(timeout).send().await.map_err(|e| {
            if e.is_timeout() { "timed out".to_owned() } else { "connection failed".to_owned() }
        })?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status().as_u16()));
    }
    if response.content_length().is_some_and(|n| n as usize > MAX_JWKS_BYTES) {
        return Err("JWKS too large".to_owned());
    }
    let bytes = response.bytes().await.map_err(|_| "body could not be read".to_owned())?;
    if bytes.len() > MAX_JWKS_BYTES {
        return Err("JWKS too large".to_owned());
    }
    let document: Value = serde_json::from_slice(&bytes).map_err(|_| "JWKS is not JSON".to_owned())?;
    parse_jwks(&document)
}

/// The signing keys of a JWKS document, by kid (a key without kid is kept under "").
pub fn parse_jwks(document: &Value) -> Result<HashMap<String, Arc<PublicKey>>, String> {
    let keys = document.get("keys").and_then(Value::as_array).ok_or("JWKS has no keys array")?;
    let mut found = HashMap::new();
    for key in keys {
        let text = |name: &str| key.get(name).and_then(Value::as_str);
        if text("use").is_some_and(|u| u != "sig") {
            continue;
        }
        let decode =
            |name: &str| text(name).and_then(|v| URL_SAFE_NO_PAD.decode(v.trim_end_matches('=')).ok());
        let parsed = match (text("kty"), text("alg")) {
            (Some("RSA"), None | Some("RS256")) => match (decode("n"), decode("e")) {
                (Some(n), Some(e)) => PublicKey::Rsa(RsaKey { n, e }),
                _ => continue,
            },
            (Some("EC"), None | Some("ES256")) if text("crv") == Some("P-256") => {
                match (decode("x"), decode("y")) {
                    (Some(x), Some(y)) if x.len() == 32 && y.len() == 32 => {
                        PublicKey::P256([&[4u8][..], &x, &y].concat())
                    }
                    _ => continue,
                }
            }
            _ => continue,
        };
        found.insert(text("kid").unwrap_or_default().to_owned(), Arc::new(parsed));
    }
    Ok(found)
}
