//! The WorkOS User Management API, as the browser sign-in flow uses it: the authorization URL,
//! `POST /user_management/authenticate` (authorization-code and refresh-token grants) and
//! `POST /user_management/sessions/revoke`.
//!
//! Every call goes through the shared client (its timeout is `ATOMS_OUTBOUND_TIMEOUT_MS`) and
//! fails with a [`WorkosError`] that names the failure kind, never a token, code or body.

use serde::Deserialize;
use serde_json::json;

use crate::secret::Secret;

/// Why a WorkOS call failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkosError {
    #[error("WorkOS did not answer in time")]
    Timeout,
    #[error("WorkOS is unreachable")]
    Unreachable,
    /// A 4xx: the grant, code or session was refused. `code` is WorkOS's error code
    /// (`invalid_grant`, …), reduced to `[a-z0-9_.]`.
    #[error("WorkOS refused the request ({status} {code})")]
    Rejected { status: u16, code: String },
    #[error("WorkOS failed with status {0}")]
    Server(u16),
    #[error("WorkOS answered in an unexpected shape ({0})")]
    Malformed(&'static str),
}

impl WorkosError {
    /// True when WorkOS itself is unavailable (retry later), as opposed to refusing.
    pub fn is_unavailable(&self) -> bool {
        !matches!(self, Self::Rejected { .. })
    }
}

impl From<reqwest::Error> for WorkosError {
    fn from(error: reqwest::Error) -> Self {
        if error.is_timeout() { Self::Timeout } else { Self::Unreachable }
    }
}

/// The signed-in user, as WorkOS describes them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
}

impl User {
    /// "First Last", or whichever part exists.
    pub fn display_name(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.first_name, &self.last_name]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// A successful `authenticate` answer (either grant).
#[derive(Deserialize)]
pub struct Authenticated {
    pub user: User,
    #[serde(default)]
    pub organization_id: Option<String>,
    pub access_token: Secret,
    pub refresh_token: Secret,
}

/// The WorkOS API of one deployment: origin, client id and API key.
pub struct Workos<'a> {
    pub http: &'a reqwest::Client,
    pub api_url: &'a reqwest::Url,
    pub client_id: &'a str,
    pub api_key: &'a Secret,
}

/// The largest answer read from WorkOS; real ones are a few KB.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

impl Workos<'_> {
    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.api_url.as_str().trim_end_matches('/'))
    }

    /// Where the browser goes to sign in: AuthKit's hosted page, PKCE S256.
    pub fn authorize_url(&self, redirect_uri: &str, state: &str, code_challenge: &str) -> String {
        let mut url = reqwest::Url::parse(&self.endpoint("/user_management/authorize"))
            .unwrap_or_else(|_| self.api_url.clone());
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("provider", "authkit")
            .append_pair("client_id", self.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256");
        url.into()
    }

    /// Exchanges an authorization code (with its PKCE verifier) for the user and their tokens.
    pub async fn authenticate_code(
        &self,
        code: &str,
        code_verifier: &str,
        user_agent: Option<&str>,
    ) -> Result<Authenticated, WorkosError> {
        let mut body = json!({
            "client_id": self.client_id,
            "client_secret": self.api_key.expose(),
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": code_verifier,
        });
        if let Some(agent) = user_agent {
            body["user_agent"] = agent.into();
        }
        self.authenticate(body).await
    }

    /// Trades a refresh token (single use) for a new access and refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Authenticated, WorkosError> {
        self.authenticate(json!({
            "client_id": self.client_id,
            "client_secret": self.api_key.expose(),
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        }))
        .await
    }

    /// Ends a WorkOS session (the `sid` of its access tokens): its refresh token stops working.
    pub async fn revoke_session(&self, session_id: &str) -> Result<(), WorkosError> {
        let response = self
            .http
            .post(self.endpoint("/user_management/sessions/revoke"))
            .bearer_auth(self.api_key.expose())
            .json(&json!({ "session_id": session_id }))
            .send()
            .await?;
        read(response).await.map(drop)
    }

    async fn authenticate(&self, body: serde_json::Value) -> Result<Authenticated, WorkosError> {
        let response =
            self.http.post(self.endpoint("/user_management/authenticate")).json(&body).send().await?;
        let bytes = read(response).await?;
        serde_json::from_slice(&bytes).map_err(|_| WorkosError::Malformed("authenticate answer"))
    }
}

/// The body of a 2xx answer, or the error its status and body describe.
async fn read(response: reqwest::Response) -> Result<Vec<u8>, WorkosError> {
    let status = response.status();
    if response.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
        return Err(WorkosError::Malformed("answer too large"));
    }
    let bytes = response.bytes().await?;
    if bytes.len() > MAX_ANSWER_BYTES {
        return Err(WorkosError::Malformed("answer too large"));
    }
    if status.is_success() {
        return Ok(bytes.to_vec());
    }
    if status.is_client_error() {
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let code =
            body["error"].as_str().or(body["code"].as_str()).map_or_else(|| "refused".to_owned(), safe_code);
        return Err(WorkosError::Rejected { status: status.as_u16(), code });
    }
    Err(WorkosError::Server(status.as_u16()))
}

/// An error code fit for messages and logs: lowercase letters, digits, `_` and `.`, ≤ 64.
pub fn safe_code(raw: &str) -> String {
    let code: String = raw
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '.')
        .take(64)
        .collect();
    if code.is_empty() { "refused".to_owned() } else { code }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_reduced_to_a_safe_alphabet() {
        assert_eq!(safe_code("invalid_grant"), "invalid_grant");
        assert_eq!(safe_code("<script>alert(1)</script>"), "scriptalert1script");
        assert_eq!(safe_code("ÉÉ"), "refused");
    }

    #[test]
    fn display_name_joins_what_exists() {
        let user = |first: Option<&str>, last: Option<&str>| User {
            id: "user_1".into(),
            email: None,
            first_name: first.map(Into::into),
            last_name: last.map(Into::into),
        };
        assert_eq!(user(Some("Ada"), Some("Lovelace")).display_name().as_deref(), Some("Ada Lovelace"));
        assert_eq!(user(None, Some("Lovelace")).display_name().as_deref(), Some("Lovelace"));
        assert_eq!(user(Some(" "), None).display_name(), None);
    }
}
