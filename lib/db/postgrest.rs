//! The PostgREST adapter (production on Supabase): `POST {SUPABASE_URL}/rest/v1/rpc/<fn>` with
//! the arguments as the raw JSON body (each function takes one unnamed `jsonb` parameter),
//! `apikey: <anon key>` and `Authorization: Bearer <token for the caller>`.
//!
//! The token is minted per call (HS256, `SUPABASE_JWT_SECRET`, ≤ 60 s) or, without a secret,
//! the caller's own token is forwarded (Supabase third-party auth trusting AuthKit). Error bodies
//! `{code, message, details, hint}` and statuses map to [`DbError`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::Value;

use super::{DbError, Identity, jwt};
use crate::config::{PostgrestIdentity, SupabaseConfig};

pub struct PostgrestDb {
    config: SupabaseConfig,
    http: reqwest::Client,
    timeout: Duration,
}

/// PostgREST's error body.
#[derive(Deserialize)]
struct PostgrestError {
    code: Option<String>,
    message: Option<String>,
}

impl PostgrestDb {
    pub fn new(config: SupabaseConfig, http: reqwest::Client, timeout: Duration) -> Self {
        Self { config, http, timeout }
    }

    /// Calls `public.<function>(args)` as `identity`: the JSON text PostgREST answers.
    pub async fn rpc_text(
        &self,
        function: &str,
        args: &Value,
        identity: &Identity,
    ) -> Result<String, DbError> {
        let token = match &self.config.identity {
            PostgrestIdentity::Mint { jwt_secret } => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
                jwt::mint(&identity.claims(), jwt_secret, now)
            }
            PostgrestIdentity::Forward => match &identity.bearer {
                Some(token) => token.expose().to_owned(),
                None => {
                    return Err(DbError::Unauthenticated(
                        "no caller token to forward to PostgREST (set SUPABASE_JWT_SECRET to mint one)"
                            .to_owned(),
                    ));
                }
            },
        };
        let url = format!("{}/rest/v1/rpc/{function}", self.config.url.as_str().trim_end_matches('/'));
        let mut request = self
            .http
            .post(url)
            .timeout(self.timeout)
            .header("apikey", self.config.anon_key.expose())
            .bearer_auth(token)
            .header("accept", "application/json")
            .json(args);
        if let Some(id) = &identity.request_id {
            request = request.header("x-request-id", id);
        }
        let response = request.send().await.map_err(|e| transport(&e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| transport(&e))?;
        if status.is_success() {
            return String::from_utf8(body.into())
                .map_err(|_| DbError::Internal(format!("{function} returned invalid JSON")));
        }
        Err(error_from(status, &body))
    }

    /// PostgREST's root answers when PostgREST and its database are up.
    pub async fn ping(&self) -> Result<(), DbError> {
        let url = format!("{}/rest/v1/", self.config.url.as_str().trim_end_matches('/'));
        let response = self
            .http
            .get(url)
            .timeout(self.timeout)
            .header("apikey", self.config.anon_key.expose())
            .send()
            .await
            .map_err(|e| transport(&e))?;
        if response.status().is_success() { Ok(()) } else { Err(error_from(response.status(), &[])) }
    }
}

fn transport(error: &reqwest::Error) -> DbError {
    if error.is_timeout() {
        DbError::Timeout
    } else {
        // reqwest's Display includes the URL; the kind is enough.
        DbError::Unavailable(
            if error.is_connect() { "PostgREST connection failed" } else { "PostgREST request failed" }
                .to_owned(),
        )
    }
}

/// Maps an error response: the SQLSTATE in `code` when the database raised it, else the status.
fn error_from(status: reqwest::StatusCode, body: &[u8]) -> DbError {
    let parsed: Option<PostgrestError> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|e| e.message.clone())
        .unwrap_or_else(|| format!("PostgREST answered HTTP {}", status.as_u16()));
    if let Some(code) = parsed.as_ref().and_then(|e| e.code.as_deref())
        && !code.starts_with("PGRST")
    {
        return DbError::from_sqlstate(code, &message);
    }
    match status.as_u16() {
        400 => DbError::InvalidArgument(message),
        401 => DbError::Unauthenticated(message),
        403 => DbError::PermissionDenied(message),
        404 => DbError::NotFound(message),
        409 => DbError::Conflict(message),
        504 => DbError::Timeout,
        500..=599 => DbError::Unavailable(message),
        _ => DbError::Internal(message),
    }
}
