//! Who a database call runs as: the claims PostgREST would put in `request.jwt.claims`.

use serde_json::Value;

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

    /// The claims object of an `authenticated` caller (read back from [`Self::claims_json`],
    /// their one definition).
    pub fn claims(&self) -> Value {
        serde_json::from_str(&self.claims_json()).unwrap_or(Value::Null)
    }

    /// [`Self::claims`] as compact JSON text, written straight from the fields (the direct
    /// adapter sends it with every call; no `Value` is built).
    pub fn claims_json(&self) -> String {
        let mut json = String::with_capacity(96);
        self.push_claims_json(&mut json);
        json
    }

    /// [`Self::claims_json`] appended to `out`: the bytes serde would write for the claim set
    /// (the tests compare them with a serde definition), without serde's per-string machinery.
    pub fn push_claims_json(&self, out: &mut String) {
        out.push_str("{\"sub\":");
        push_json_string(out, &self.subject);
        out.push_str(",\"role\":\"authenticated\",\"aud\":\"authenticated\"");
        for (key, value) in [("email", &self.email), ("name", &self.name), ("org_id", &self.org_id)] {
            if let Some(value) = value {
                out.push_str(",\"");
                out.push_str(key);
                out.push_str("\":");
                push_json_string(out, value);
            }
        }
        if !self.roles.is_empty() {
            out.push_str(",\"roles\":[");
            for (index, role) in self.roles.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                push_json_string(out, role);
            }
            out.push(']');
        }
        if let Some(sid) = &self.session_id {
            out.push_str(",\"sid\":");
            push_json_string(out, sid);
        }
        out.push('}');
    }

    /// The `request.headers` object PostgREST would set (only what the functions read), as
    /// compact JSON text.
    pub fn headers_json(&self) -> String {
        let mut json = String::with_capacity(64);
        self.push_headers_json(&mut json);
        json
    }

    /// [`Self::headers_json`] appended to `out`.
    pub fn push_headers_json(&self, out: &mut String) {
        match &self.request_id {
            Some(id) => {
                out.push_str("{\"x-request-id\":");
                push_json_string(out, id);
                out.push('}');
            }
            None => out.push_str("{}"),
        }
    }
}

/// `value` as a JSON string, as serde writes it: copied between quotes when nothing in it needs
/// an escape (the usual case: ids, emails), else through serde.
fn push_json_string(out: &mut String, value: &str) {
    if value.bytes().all(|byte| byte >= 0x20 && byte != b'"' && byte != b'\\') {
        out.push('"');
        out.push_str(value);
        out.push('"');
    } else {
        // Serializing a `str` cannot fail.
        out.push_str(&serde_json::to_string(value).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::*;

    /// The claims as a serde definition: what the hand-written JSON must equal.
    #[derive(Serialize)]
    struct ClaimSet<'a> {
        sub: &'a str,
        role: &'static str,
        aud: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        email: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        org_id: Option<&'a str>,
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        roles: &'a [String],
        #[serde(skip_serializing_if = "Option::is_none")]
        sid: Option<&'a str>,
    }

    impl Identity {
        fn claim_set(&self) -> ClaimSet<'_> {
            ClaimSet {
                sub: &self.subject,
                role: "authenticated",
                aud: "authenticated",
                email: self.email.as_deref(),
                name: self.name.as_deref(),
                org_id: self.org_id.as_deref(),
                roles: &self.roles,
                sid: self.session_id.as_deref(),
            }
        }
    }

    #[test]
    fn both_forms_of_the_claims_agree_and_omit_what_is_unknown() {
        let bare = Identity::new("user_1");
        assert_eq!(bare.claims_json(), r#"{"sub":"user_1","role":"authenticated","aud":"authenticated"}"#);
        assert_eq!(bare.headers_json(), "{}");
        let mut full = Identity::new("user_\"2");
        full.email = Some("a@example.com".into());
        full.name = Some("Ada".into());
        full.org_id = Some("org_1".into());
        full.roles = vec!["admin".into(), "member".into()];
        full.session_id = Some("session_1".into());
        full.request_id = Some("req-1".into());
        let text: Value = serde_json::from_str(&full.claims_json()).expect("claims JSON");
        assert_eq!(text, full.claims());
        assert_eq!(
            full.claims(),
            serde_json::json!({"sub": "user_\"2", "role": "authenticated", "aud": "authenticated",
                "email": "a@example.com", "name": "Ada", "org_id": "org_1",
                "roles": ["admin", "member"], "sid": "session_1"})
        );
        assert_eq!(full.headers_json(), r#"{"x-request-id":"req-1"}"#);
    }

    #[test]
    fn the_hand_written_json_is_what_serde_writes() {
        let awkward = [
            "plain",
            "",
            "quote \" back \\ slash /",
            "ctl \u{0}\u{1f}\n\t",
            "é 日本 🦀 \u{7f} \u{2028}",
            "$a$",
        ];
        for text in awkward {
            let mut who = Identity::new(text);
            assert_eq!(
                who.claims_json(),
                serde_json::to_string(&who.claim_set()).expect("serde"),
                "{text:?}"
            );
            who.email = Some(text.to_owned());
            who.name = Some(format!("{text}!"));
            who.org_id = Some(text.to_owned());
            who.roles = vec![text.to_owned(), "member".to_owned()];
            who.session_id = Some(text.to_owned());
            who.request_id = Some(text.to_owned());
            assert_eq!(
                who.claims_json(),
                serde_json::to_string(&who.claim_set()).expect("serde"),
                "{text:?}"
            );
            let headers = serde_json::json!({"x-request-id": text});
            assert_eq!(who.headers_json(), serde_json::to_string(&headers).expect("serde"), "{text:?}");
            who.roles = vec![text.to_owned()];
            who.email = None;
            assert_eq!(
                who.claims_json(),
                serde_json::to_string(&who.claim_set()).expect("serde"),
                "{text:?}"
            );
        }
    }
}
