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
    /// The WorkOS organization the token was issued for (`org_id`).
    pub org_id: Option<String>,
    /// The caller's roles in that organization (`role` / `roles` claims).
    pub roles: Vec<String>,
    /// The sign-in session the token belongs to (`sid`); revoking it ends the token's use.
    pub session_id: Option<String>,
    /// The caller's own bearer token, forwarded to PostgREST in forward mode.
    pub bearer: Option<Secret>,
    /// Written to the audit log with every change.
    pub request_id: Option<String>,
}

impl Identity {
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            email: None,
            name: None,
            org_id: None,
            roles: Vec::new(),
            session_id: None,
            bearer: None,
            request_id: None,
        }
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
        if let Some(org_id) = &self.org_id {
            claims["org_id"] = json!(org_id);
        }
        if !self.roles.is_empty() {
            claims["roles"] = json!(self.roles);
        }
        if let Some(sid) = &self.session_id {
            claims["sid"] = json!(sid);
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
