//! The resource server's token check: which issuers are trusted (from `ATOMS_AUTH_MODE`), what
//! each token must prove, and the per-instance memory of verified tokens.
//!
//! Each issuer is pinned to its own key set and rules; the token's unverified `iss` only picks
//! which issuer to check it against:
//! - **AuthKit MCP OAuth tokens**: `iss` = the AuthKit origin, RS256 over `/oauth2/jwks`, `aud`
//!   must contain one of our resource URLs (RFC 8707) or an `AUTHKIT_ALLOWED_AUDIENCES` entry, and
//!   the token must carry `AUTHKIT_REQUIRED_SCOPES`.
//! - **WorkOS session access tokens** (our browser flow, `/auth/token`): `iss` =
//!   `{WORKOS_API_URL}/user_management/{client id}` (or `WORKOS_ISSUER`), RS256 over
//!   `/sso/jwks/{client id}`; an `aud`, when present, must be the client id.
//! - **Supabase Auth tokens** (`supabase` mode): `iss` = `{SUPABASE_URL}/auth/v1`,
//!   `aud` = `authenticated`, HS256 with `SUPABASE_JWT_SECRET`, else ES256 or RS256 over the
//!   project's JWKS (the key's type must fit the algorithm).
//!
//! Every token needs `exp` (≤ 30 s leeway, also on `nbf`/`iat`) and a `sub`. A verified token is
//! remembered (keyed by its SHA-256, bounded, never past its `exp`), so a warm request pays one
//! hash instead of an RSA check; revocation is checked by the caller on every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::jwks::{KeyError, KeySet};
use super::jwt::{self, TokenError, Unverified};
use crate::config::{AuthMode, Config};
use crate::db::Identity;
use crate::secret::Secret;

/// Most tokens remembered per instance.
const CACHE_CAPACITY: usize = 4096;

/// Which rules an issuer's tokens follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFamily {
    McpOAuth,
    WorkosSession,
    Supabase,
}

enum Keys {
    Jwks(KeySet),
    Hs256(Secret),
}

struct Issuer {
    family: TokenFamily,
    /// Algorithms accepted from this issuer's key set.
    algorithms: &'static [&'static str],
    iss: String,
    keys: Keys,
    /// `aud` must contain one of these; empty = `aud` optional but, when present, checked
    /// against `optional_audience`.
    audiences: Vec<String>,
    optional_audience: Option<String>,
}

/// A token that passed every check.
#[derive(Debug, Clone)]
pub struct Verified {
    pub identity: Identity,
    /// `exp`, seconds since the epoch.
    pub expires_at: i64,
}

/// Why a request's credential was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The token is not acceptable (RFC 6750 `invalid_token`).
    Invalid(TokenError),
    /// Valid, but lacks a required scope (RFC 6750 `insufficient_scope`, 403).
    InsufficientScope,
    /// The issuer's keys cannot be fetched: nobody can tell (503, retry).
    Unavailable(String),
}

/// The verifier of one process, built once per cold start (no I/O until the first token).
pub struct Verifier {
    issuers: Vec<Issuer>,
    required_scopes: Vec<String>,
    http: reqwest::Client,
    timeout: Duration,
    cache: Mutex<HashMap<[u8; 32], Arc<Verified>>>,
}

impl Verifier {
    /// The verifier `config` asks for; `None` in `local` mode (dev tokens, decided elsewhere).
    pub fn from_config(config: &Config, http: &reqwest::Client) -> Option<Self> {
        let auth = &config.auth;
        let jwks = |url: String| Keys::Jwks(KeySet::new(url, auth.jwks_ttl, auth.jwks_refetch));
        let mut issuers = Vec::new();
        match auth.mode {
            AuthMode::Local => return None,
            AuthMode::AuthKit => {
                if let (Some(iss), Some(url)) = (auth.authkit_issuer(), auth.authkit_jwks_url()) {
                    let mut audiences = resource_urls(config);
                    audiences.extend(auth.allowed_audiences.iter().cloned());
                    issuers.push(Issuer {
                        family: TokenFamily::McpOAuth,
                        algorithms: &["RS256"],
                        iss,
                        keys: jwks(url),
                        audiences,
                        optional_audience: None,
                    });
                }
                if let (Some(iss), Some(url)) = (auth.workos.session_issuer(), auth.workos.jwks_url()) {
                    issuers.push(Issuer {
                        family: TokenFamily::WorkosSession,
                        algorithms: &["RS256"],
                        iss,
                        keys: jwks(url),
                        audiences: Vec::new(),
                        optional_audience: auth.workos.client_id.clone(),
                    });
                }
            }
            AuthMode::Supabase => {
                if let Some(iss) = auth.supabase_issuer() {
                    let keys = match &auth.supabase_jwt_secret {
                        Some(secret) => Keys::Hs256(secret.clone()),
                        None => jwks(format!("{iss}/.well-known/jwks.json")),
                    };
                    issuers.push(Issuer {
                        family: TokenFamily::Supabase,
                        // Supabase's asymmetric signing keys are ES256 (the default) or RS256.
                        algorithms: &["ES256", "RS256"],
                        iss,
                        keys,
                        audiences: vec!["authenticated".to_owned()],
                        optional_audience: None,
                    });
                }
            }
        }
        Some(Self {
            issuers,
            required_scopes: auth.required_scopes.clone(),
            http: http.clone(),
            timeout: config.outbound_timeout,
            cache: Mutex::default(),
        })
    }

    /// Checks `token` as of `now` (seconds since the epoch).
    pub async fn verify(&self, token: &str, now: i64) -> Result<Arc<Verified>, Failure> {
        let digest = digest(token);
        if let Some(verified) = self.remembered(&digest, now) {
            return Ok(verified);
        }
        let verified = Arc::new(self.verify_uncached(token, now).await?);
        self.remember(digest, verified.clone(), now);
        Ok(verified)
    }

    fn remembered(&self, digest: &[u8; 32], now: i64) -> Option<Arc<Verified>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(digest).filter(|v| v.expires_at.saturating_add(jwt::LEEWAY_SECONDS) > now).cloned()
    }

    fn remember(&self, digest: [u8; 32], verified: Arc<Verified>, now: i64) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, v| v.expires_at.saturating_add(jwt::LEEWAY_SECONDS) > now);
            if cache.len() >= CACHE_CAPACITY {
                // Still full of live tokens: start over rather than track recency on every hit.
                cache.clear();
            }
        }
        cache.insert(digest, verified);
    }

    async fn verify_uncached(&self, token: &str, now: i64) -> Result<Verified, Failure> {
        let parsed = Unverified::parse(token).map_err(Failure::Invalid)?;
        let iss = parsed.issuer().ok_or(Failure::Invalid(TokenError::Issuer))?;
        let issuer =
            self.issuers.iter().find(|i| i.iss == iss).ok_or(Failure::Invalid(TokenError::Issuer))?;
        match &issuer.keys {
            Keys::Hs256(secret) => parsed.verify_hs256(secret.expose().as_bytes()),
            Keys::Jwks(keys) => {
                // Refuse other algorithms before fetching anything for them.
                let alg = parsed.header.get("alg").and_then(Value::as_str).unwrap_or_default();
                if !issuer.algorithms.contains(&alg) {
                    return Err(Failure::Invalid(TokenError::Algorithm(alg.chars().take(16).collect())));
                }
                let key = keys.key(parsed.kid(), &self.http, self.timeout).await.map_err(|e| match e {
                    KeyError::Unknown => Failure::Invalid(TokenError::UnknownKey),
                    KeyError::Unavailable(reason) => Failure::Unavailable(reason),
                })?;
                parsed.verify_with(&key, issuer.algorithms)
            }
        }
        .map_err(Failure::Invalid)?;
        let claims = &parsed.claims;
        let expires_at = jwt::check_times(claims, now).map_err(Failure::Invalid)?;
        if !issuer.audiences.is_empty() && !jwt::audience_matches(claims, &issuer.audiences) {
            return Err(Failure::Invalid(TokenError::Audience));
        }
        if let Some(expected) = &issuer.optional_audience
            && claims.get("aud").is_some()
            && !jwt::audience_matches(claims, std::slice::from_ref(expected))
        {
            return Err(Failure::Invalid(TokenError::Audience));
        }
        if issuer.family == TokenFamily::McpOAuth {
            let granted = jwt::scopes(claims);
            if !self.required_scopes.iter().all(|s| granted.contains(&s.as_str())) {
                return Err(Failure::InsufficientScope);
            }
        }
        let identity = identity_of(claims).ok_or(Failure::Invalid(TokenError::Malformed("no usable sub")))?;
        Ok(Verified { identity, expires_at })
    }
}

/// The caller a verified token names.
fn identity_of(claims: &Value) -> Option<Identity> {
    let text =
        |name: &str| claims.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let subject = text("sub").filter(|s| s.len() <= 255 && !s.chars().any(char::is_control))?;
    let mut identity = Identity::new(subject);
    identity.email = text("email");
    identity.name = text("name").or_else(|| {
        let full =
            [text("first_name"), text("last_name")].into_iter().flatten().collect::<Vec<_>>().join(" ");
        (!full.is_empty()).then_some(full)
    });
    identity.org_id = text("org_id");
    identity.roles = match (claims.get("roles"), claims.get("role")) {
        (Some(Value::Array(roles)), _) => roles.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        (_, Some(Value::String(role))) => vec![role.clone()],
        _ => Vec::new(),
    };
    // WorkOS and AuthKit name the sign-in session `sid`; Supabase Auth `session_id`.
    identity.session_id = text("sid").or_else(|| text("session_id"));
    Some(identity)
}

/// The resource URLs tokens may be issued for (RFC 8707 / 9728 `resource`): `PUBLIC_URL` and,
/// on Vercel, the deployment's own hosts, each with the MCP path. The first is canonical.
pub fn resource_urls(config: &Config) -> Vec<String> {
    let path = &config.http.mcp_path;
    let mut urls: Vec<String> = config
        .http
        .public_url
        .iter()
        .map(|url| format!("{}{path}", url.as_str().trim_end_matches('/')))
        .collect();
    for host in &config.platform.deployment_hosts {
        let url = format!("https://{host}{path}");
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    urls
}

fn digest(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0; 32];
    out.copy_from_slice(digest.as_ref());
    out
}
