//! Errors of the KV backends, one enum for all three so callers handle an outage uniformly.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The backend did not answer within the configured timeout (`KV_TIMEOUT_MS`).
    #[error("KV {backend} did not answer within {}ms", after.as_millis())]
    Timeout { backend: &'static str, after: Duration },
    /// The backend could not be reached (connection refused, reset, DNS, HTTP 5xx).
    #[error("KV {backend} is unavailable: {reason}")]
    Unavailable { backend: &'static str, reason: String },
    /// The backend refused our credentials (HTTP 401/403, Redis `NOAUTH`/`WRONGPASS`).
    #[error("KV {backend} rejected the credentials; check the KV token or REDIS_URL password")]
    Unauthorized { backend: &'static str },
    /// The backend executed the command and answered with an error (e.g. `WRONGTYPE`).
    #[error("KV command failed: {0}")]
    Command(String),
    /// The backend answered something this client does not understand.
    #[error("KV {backend} sent an unexpected reply: {detail}")]
    Protocol { backend: &'static str, detail: String },
}

impl KvError {
    /// True when retrying later may succeed (outage or timeout), as opposed to a bad command.
    pub fn is_outage(&self) -> bool {
        matches!(self, Self::Timeout { .. } | Self::Unavailable { .. })
    }
}
