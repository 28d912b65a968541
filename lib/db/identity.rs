//! Who a database call runs as: the claims PostgREST would put in `request.jwt.claims`.

use serde_json::{Value, json};

use crate::secret::Secret;

/// The caller of one operation, as the auth layer established it.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The token's `sub` (e.g. a WorkOS `user_01…`), the identity inside the database.
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// The caller's own bearer token, forwarded to PostgREST in forward mode.
    pub bearer: Option<Secret>,
    /// Written to the audit log with every change.
    pub request_id: Option<String>,
}

impl Identity {
    pub fn new(subject: impl Into<String>) -> Self {
        Self { subject: subject.into(), email: None, name: None, bearer: None, request_id: None }
    }

    /// The claims object of an `authenticated` caller.
    pub fn claims(&self) -> Value {
        let mut claims = json!({ "sub": self.subject, "role": "authenticated", "aud": "authenticated" });
        if let Some(email) = &self.email {
            claims["email"] = json!(email);
        }
        if let Some(name) = &self.name {
            claims["name"] = json!(name);
        }
        claims
    }

    /// The `request.headers` object PostgREST would set (only what the functions read).
    pub fn headers(&self) -> Value {
        match &self.request_id {
            Some(id) => json!({ "x-request-id": id }),
            None => json!({}),
        }
    }
}
