//! The authentication variables: which tokens the resource server accepts (`ATOMS_AUTH_MODE`),
//! AuthKit and WorkOS, and the secrets of the browser sign-in flow.

use std::time::Duration;

use super::reader::EnvReader;
use crate::secret::Secret;

/// Which bearer tokens the MCP route (and later `/metrics`, `/auth/token`) accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// WorkOS AuthKit: MCP OAuth tokens and WorkOS session tokens, both RS256 over JWKS.
    AuthKit,
    /// Supabase-issued JWTs: HS256 with `SUPABASE_JWT_SECRET`, else the project's JWKS.
    Supabase,
    /// Loopback only: `atoms dev-token` tokens, and no token is the local user.
    Local,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthKit => "authkit",
            Self::Supabase => "supabase",
            Self::Local => "local",
        }
    }
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `ATOMS_AUTH_MODE`: `authkit` (the default whenever `AUTHKIT_DOMAIN` is set, and on every
    /// non-local target), `supabase` or `local` (the default of a local target without AuthKit;
    /// refused on production and preview).
    pub mode: AuthMode,
    /// `AUTHKIT_DOMAIN` (alias `FASTMCP_SERVER_AUTH_AUTHKITPROVIDER_AUTHKIT_DOMAIN`): the AuthKit
    /// host, e.g. `acme.authkit.app` (an `https://` prefix is accepted and dropped).
    pub authkit_domain: Option<String>,
    /// The AuthKit origin: `https://<AUTHKIT_DOMAIN>`, or an `http://` origin whose host is
    /// loopback (a local double; any other `http://` domain is malformed). It is the issuer of
    /// MCP OAuth tokens, serves `/oauth2/jwks` and the authorization server metadata.
    pub authkit_url: Option<reqwest::Url>,
    /// `AUTHKIT_ALLOWED_AUDIENCES`: comma-separated extra `aud` values accepted on MCP OAuth
    /// tokens (client ids, for clients without resource indicators), beside the resource URL.
    pub allowed_audiences: Vec<String>,
    /// `AUTHKIT_REQUIRED_SCOPES` (alias `FASTMCP_SERVER_AUTH_AUTHKITPROVIDER_REQUIRED_SCOPES`):
    /// comma- or space-separated scopes every token must carry (else 403 `insufficient_scope`).
    pub required_scopes: Vec<String>,
    /// `AUTH_JWKS_CACHE_SECONDS`: how long fetched signing keys are trusted (default 600).
    pub jwks_ttl: Duration,
    /// `AUTH_JWKS_REFETCH_SECONDS`: the least time between two fetches of a key set caused by a
    /// token naming an unknown `kid` (default 60).
    pub jwks_refetch: Duration,
    pub workos: WorkosConfig,
    /// `SUPABASE_JWT_SECRET`: in `supabase` mode, HS256 tokens are checked with it; without it,
    /// against the project's JWKS (`{SUPABASE_URL}/auth/v1/.well-known/jwks.json`).
    pub supabase_jwt_secret: Option<Secret>,
    /// `SUPABASE_URL` (alias `NEXT_PUBLIC_SUPABASE_URL`), whose `/auth/v1` issues `supabase` tokens.
    pub supabase_url: Option<reqwest::Url>,
    /// `ATOMS_SESSION_KEY`: 32 random bytes (base64 or 64 hex characters) encrypting the refresh
    /// tokens of browser sessions at rest.
    pub session_key: Option<Secret>,
}

#[derive(Debug, Clone)]
pub struct WorkosConfig {
    /// `WORKOS_CLIENT_ID` (alias `FASTMCP_SERVER_AUTH_AUTHKITPROVIDER_CLIENT_ID`): `client_…`.
    pub client_id: Option<String>,
    /// `WORKOS_API_KEY`: `sk_…`, for the code exchange, refresh and session revocation.
    pub api_key: Option<Secret>,
    /// `WORKOS_API_URL`: the WorkOS API origin (default `https://api.workos.com`; `http://` only
    /// on a loopback host, for a local double).
    pub api_url: reqwest::Url,
    /// `WORKOS_ISSUER`: the `iss` of WorkOS session access tokens when a custom auth domain is
    /// used; default `{WORKOS_API_URL}/user_management/{WORKOS_CLIENT_ID}`.
    pub issuer: Option<String>,
    /// `WORKOS_WEBHOOK_SECRET`: verifies `WorkOS-Signature` on `/auth/webhooks/workos`.
    pub webhook_secret: Option<Secret>,
}

impl WorkosConfig {
    /// The `iss` of WorkOS session access tokens, when a client id is configured.
    pub fn session_issuer(&self) -> Option<String> {
        if let Some(issuer) = &self.issuer {
            return Some(issuer.clone());
        }
        let client_id = self.client_id.as_ref()?;
        Some(format!("{}/user_management/{client_id}", self.api_url.as_str().trim_end_matches('/')))
    }

    /// Where the keys of WorkOS session access tokens are published.
    pub fn jwks_url(&self) -> Option<String> {
        let client_id = self.client_id.as_ref()?;
        Some(format!("{}/sso/jwks/{client_id}", self.api_url.as_str().trim_end_matches('/')))
    }
}

impl AuthConfig {
    /// AuthKit's key set (`{AUTHKIT_DOMAIN}/oauth2/jwks`).
    pub fn authkit_jwks_url(&self) -> Option<String> {
        self.authkit_url.as_ref().map(|url| format!("{}/oauth2/jwks", url.as_str().trim_end_matches('/')))
    }

    /// The `iss` of Supabase Auth tokens (`{SUPABASE_URL}/auth/v1`).
    pub fn supabase_issuer(&self) -> Option<String> {
        self.supabase_url.as_ref().map(|url| format!("{}/auth/v1", url.as_str().trim_end_matches('/')))
    }

    /// The `iss` of MCP OAuth tokens: the AuthKit origin without a trailing slash.
    pub fn authkit_issuer(&self) -> Option<String> {
        self.authkit_url.as_ref().map(|url| url.as_str().trim_end_matches('/').to_owned())
    }
}

/// True for hosts that never leave the machine.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `https://…`, or `http://…` on a loopback host (local doubles).
fn secure_or_loopback(url: &reqwest::Url) -> bool {
    url.scheme() == "https" || url.host_str().is_some_and(is_loopback_host)
}

pub(super) fn read_auth(env: &mut EnvReader<'_>, local_target: bool) -> AuthConfig {
    let names = ["AUTHKIT_DOMAIN", "FASTMCP_SERVER_AUTH_AUTHKITPROVIDER_AUTHKIT_DOMAIN"];
    let authkit_url = env.named(&names).and_then(|(name, raw)| {
        let raw = raw.trim_end_matches('/');
        let with_scheme = if raw.contains("://") { raw.to_owned() } else { format!("https://{raw}") };
        match reqwest::Url::parse(&with_scheme) {
            Ok(url)
                if url.host_str().is_some_and(|h| h.contains('.') || is_loopback_host(h))
                    && url.path() == "/"
                    && url.query().is_none()
                    && url.username().is_empty()
                    && secure_or_loopback(&url) =>
            {
                Some(url)
            }
            _ => {
                env.malformed(name, "a host name such as acme.authkit.app (http:// only on a loopback host)");
                None
            }
        }
    });
    let authkit_domain = authkit_url.as_ref().map(|url| {
        let host = url.host_str().unwrap_or_default();
        match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    });
    let mode = match env.named(&["ATOMS_AUTH_MODE"]).map(|(n, v)| (n, v.to_ascii_lowercase())) {
        None if authkit_url.is_some() || !local_target => AuthMode::AuthKit,
        None => AuthMode::Local,
        Some((_, mode)) if mode == "authkit" => AuthMode::AuthKit,
        Some((_, mode)) if mode == "supabase" => AuthMode::Supabase,
        Some((_, mode)) if mode == "local" && local_target => AuthMode::Local,
        Some((name, mode)) if mode == "local" => {
            env.malformed(name, "authkit or supabase (local is refused on production and preview)");
            AuthMode::AuthKit
        }
        Some((name, _)) => {
            env.malformed(name, "authkit, supabase or local");
            if local_target { AuthMode::Local } else { AuthMode::AuthKit }
        }
    };
    let list = |raw: String| -> Vec<String> {
        raw.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let allowed_audiences = env.string(&["AUTHKIT_ALLOWED_AUDIENCES"]).map(list).unwrap_or_default();
    let required_scopes = env
        .string(&["AUTHKIT_REQUIRED_SCOPES", "FASTMCP_SERVER_AUTH_AUTHKITPROVIDER_REQUIRED_SCOPES"])
        .map(list)
        .unwrap_or_default();
    let jwks_ttl = Duration::from_secs(env.positive(&["AUTH_JWKS_CACHE_SECONDS"], 600, 86_400));
    let jwks_refetch = Duration::from_secs(env.positive(&["AUTH_JWKS_REFETCH_SECONDS"], 60, 3_600));
    let api_url = env
        .url(&["WORKOS_API_URL"], "an https URL such as https://api.workos.com")
        .filter(|url| {
            let ok = secure_or_loopback(url);
            if !ok {
                env.malformed("WORKOS_API_URL", "an https URL (http:// only on a loopback host)");
            }
            ok
        })
        .unwrap_or_else(|| reqwest::Url::parse("https://api.workos.com").unwrap_or_else(|_| unreachable!()));
    let workos = WorkosConfig {
        client_id: env.string(&["WORKOS_CLIENT_ID", "FASTMCP_SERVER_AUTH_AUTHKITPROVIDER_CLIENT_ID"]),
        api_key: env.secret(&["WORKOS_API_KEY"]),
        api_url,
        issuer: env.string(&["WORKOS_ISSUER"]).map(|s| s.trim_end_matches('/').to_owned()),
        webhook_secret: env.secret(&["WORKOS_WEBHOOK_SECRET"]),
    };
    let supabase_jwt_secret = env.secret(&["SUPABASE_JWT_SECRET"]);
    // Format problems of SUPABASE_URL are reported by the database section.
    let supabase_url = env
        .string(&["SUPABASE_URL", "NEXT_PUBLIC_SUPABASE_URL"])
        .and_then(|raw| reqwest::Url::parse(raw.trim_end_matches('/')).ok());
    if mode == AuthMode::Supabase && supabase_url.as_ref().is_some_and(|url| !secure_or_loopback(url)) {
        // Its JWKS would come over plain http: anyone on the path could inject a key.
        env.malformed("SUPABASE_URL", "an https URL (http:// only on a loopback host) in supabase auth mode");
    }
    let session_key = env.secret(&["ATOMS_SESSION_KEY"]);
    if session_key.as_ref().is_some_and(|key| decode_session_key(key.expose()).is_none()) {
        env.malformed(
            "ATOMS_SESSION_KEY",
            "32 random bytes as base64 or 64 hex characters (openssl rand -base64 32)",
        );
    }
    AuthConfig {
        mode,
        authkit_domain,
        authkit_url,
        allowed_audiences,
        required_scopes,
        jwks_ttl,
        jwks_refetch,
        workos,
        supabase_jwt_secret,
        supabase_url,
        session_key,
    }
}

/// The 32 bytes of `ATOMS_SESSION_KEY` (64 hex characters, or standard/url-safe base64).
pub fn decode_session_key(raw: &str) -> Option<[u8; 32]> {
    use base64::Engine as _;
    let raw = raw.trim();
    let bytes = if raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32).map(|i| u8::from_str_radix(&raw[2 * i..2 * i + 2], 16).ok()).collect::<Option<Vec<u8>>>()?
    } else {
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        engines.iter().find_map(|engine| engine.decode(raw).ok())?
    };
    bytes.try_into().ok()
}
