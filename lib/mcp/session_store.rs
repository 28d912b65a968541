//! Legacy (2025-11-25 and older) MCP sessions in the KV, so any function instance can serve any
//! session: rmcp's `SessionStore` persists the client's `initialize` parameters under
//! `mcp:session:<id>` with the session TTL (`MCP_SESSION_TTL_HOURS`), refreshed on use.
//!
//! rmcp answers `initialize` with the new session id even when storing it failed; the store
//! remembers such ids so the guard can answer 503 instead (a session no other instance can find
//! must not reach the client).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use rmcp::transport::streamable_http_server::session::store::{
    SessionState, SessionStore, SessionStoreError,
};

use crate::kv::Kv;

/// The KV key of a session.
pub fn key(session_id: &str) -> String {
    format!("mcp:session:{session_id}")
}

/// The KV key naming the subject that created a session (sessions belong to their user).
pub fn owner_key(session_id: &str) -> String {
    format!("mcp:session-owner:{session_id}")
}

/// Deletes of everything a session keeps in the KV (its state and its owner), for `ids`.
pub fn delete_commands(ids: &[&str]) -> Vec<crate::kv::Command> {
    ids.iter().flat_map(|id| [key(id), owner_key(id)]).map(|key| crate::kv::Command::Del { key }).collect()
}

pub struct KvSessionStore {
    pub kv: Kv,
    pub ttl: Duration,
    /// Sessions whose `store` failed, until the guard takes them.
    unstored: Mutex<HashSet<String>>,
}

impl KvSessionStore {
    pub fn new(kv: Kv, ttl: Duration) -> Self {
        Self { kv, ttl, unstored: Mutex::default() }
    }

    /// True (once) when storing `session_id` failed.
    pub fn take_unstored(&self, session_id: &str) -> bool {
        self.unstored.lock().map(|mut ids| ids.remove(session_id)).unwrap_or(false)
    }
}

#[async_trait::async_trait]
impl SessionStore for KvSessionStore {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let Some(raw) = self.kv.get(&key(session_id)).await? else {
            return Ok(None);
        };
        self.kv.expire(&key(session_id), self.ttl).await?;
        Ok(Some(serde_json::from_str(&raw)?))
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let raw = serde_json::to_string(state)?;
        let stored = self.kv.set(&key(session_id), &raw, Some(self.ttl)).await;
        if let Err(error) = &stored {
            tracing::warn!(error = %error, "new MCP session not stored: answering 503");
            if let Ok(mut ids) = self.unstored.lock() {
                ids.insert(session_id.to_owned());
            }
        }
        Ok(stored?)
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        self.kv.delete(&key(session_id)).await?;
        Ok(())
    }
}
