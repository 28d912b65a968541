//! Legacy (2025-11-25 and older) MCP sessions in the KV, so any function instance can serve any
//! session: rmcp's `SessionStore` persists the client's `initialize` parameters under
//! `mcp:session:<id>` with the session TTL (`MCP_SESSION_TTL_HOURS`), refreshed on use.

use std::time::Duration;

use rmcp::transport::streamable_http_server::session::store::{
    SessionState, SessionStore, SessionStoreError,
};

use crate::kv::Kv;

/// The KV key of a session.
pub fn key(session_id: &str) -> String {
    format!("mcp:session:{session_id}")
}

pub struct KvSessionStore {
    pub kv: Kv,
    pub ttl: Duration,
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
        self.kv.set(&key(session_id), &raw, Some(self.ttl)).await?;
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        self.kv.delete(&key(session_id)).await?;
        Ok(())
    }
}
