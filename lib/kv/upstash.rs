//! Upstash REST KV backend (what Vercel KV became): Redis commands as JSON arrays over HTTPS.
//!
//! Wire contract (Upstash REST API): `POST {url}` with body `["CMD", "arg", …]` for one command,
//! `POST {url}/pipeline` with `[[…], […]]` for several; `Authorization: Bearer {token}`. Each
//! reply is `{"result": …}` or `{"error": "…"}`. Atomic read-modify-write goes through `EVAL`
//! (see [`super::Command`]), so `/multi-exec` is not needed. Requests share the process's pooled
//! HTTP client and carry the KV timeout.

use std::time::Duration;

use serde_json::Value;

use super::{Command, KvError, Reply};
use crate::secret::Secret;

const BACKEND: &str = "upstash";

pub struct UpstashKv {
    url: reqwest::Url,
    token: Secret,
    http: reqwest::Client,
    timeout: Duration,
}

impl UpstashKv {
    pub fn new(url: reqwest::Url, token: Secret, http: reqwest::Client, timeout: Duration) -> Self {
        Self { url, token, http, timeout }
    }

    pub(crate) async fn execute(&self, commands: &[Command]) -> Result<Vec<Reply>, KvError> {
        let (endpoint, body) = match commands {
            [single] => (self.url.clone(), serde_json::json!(single.to_args())),
            many => {
                let mut url = self.url.clone();
                url.path_segments_mut()
                    .map_err(|()| self.protocol("KV_REST_API_URL cannot be a base URL"))?
                    .pop_if_empty()
                    .push("pipeline");
                (url, Value::Array(many.iter().map(|c| serde_json::json!(c.to_args())).collect()))
            }
        };
        let response = self
            .http
            .post(endpoint)
            .bearer_auth(self.token.expose())
            .timeout(self.timeout)
            .json(&body)
            .send()
            .await
            .map_err(|e| self.transport(&e))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(KvError::Unauthorized { backend: BACKEND });
        }
        let body: Value = response.json().await.map_err(|e| self.transport(&e))?;
        if status.is_server_error() && !matches!(&body, Value::Object(o) if o.contains_key("error")) {
            return Err(KvError::Unavailable { backend: BACKEND, reason: format!("HTTP {status}") });
        }
        match (commands.len(), body) {
            (1, entry @ Value::Object(_)) => Ok(vec![self.entry(entry)?]),
            (_, Value::Array(entries)) if commands.len() > 1 => {
                entries.into_iter().map(|e| self.entry(e)).collect()
            }
            (_, Value::Object(o)) if o.contains_key("error") => Err(self.error_of(&o)),
            _ => Err(self.protocol("reply body has the wrong shape")),
        }
    }

    /// One `{"result": …}` / `{"error": …}` entry.
    fn entry(&self, entry: Value) -> Result<Reply, KvError> {
        let Value::Object(mut object) = entry else {
            return Err(self.protocol("reply entry is not an object"));
        };
        if object.contains_key("error") {
            return Err(self.error_of(&object));
        }
        let result = object.remove("result").ok_or_else(|| self.protocol("reply entry has no result"))?;
        self.reply(result)
    }

    fn error_of(&self, object: &serde_json::Map<String, Value>) -> KvError {
        let message = object.get("error").and_then(Value::as_str).unwrap_or("unknown error");
        if message.contains("NOAUTH") || message.contains("WRONGPASS") {
            return KvError::Unauthorized { backend: BACKEND };
        }
        KvError::Command(message.to_owned())
    }

    fn reply(&self, value: Value) -> Result<Reply, KvError> {
        Ok(match value {
            Value::Null => Reply::Nil,
            Value::String(text) => Reply::Text(text),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Reply::Int(i),
                None => Reply::Text(n.to_string()),
            },
            Value::Bool(b) => Reply::Int(i64::from(b)),
            Value::Array(items) => {
                Reply::List(items.into_iter().map(|v| self.reply(v)).collect::<Result<_, _>>()?)
            }
            Value::Object(_) => return Err(self.protocol("nested object in result")),
        })
    }

    fn transport(&self, error: &reqwest::Error) -> KvError {
        if error.is_timeout() {
            KvError::Timeout { backend: BACKEND, after: self.timeout }
        } else if error.is_decode() {
            self.protocol("reply body is not JSON")
        } else {
            // reqwest's Display would include the URL; the kind is enough and leaks nothing.
            let reason = if error.is_connect() { "connection failed" } else { "request failed" };
            KvError::Unavailable { backend: BACKEND, reason: reason.to_owned() }
        }
    }

    fn protocol(&self, detail: &str) -> KvError {
        KvError::Protocol { backend: BACKEND, detail: detail.to_owned() }
    }
}
