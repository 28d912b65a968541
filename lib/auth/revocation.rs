//! Revoked sign-in sessions, fleet-wide in the KV.
//!
//! A WorkOS session id (`sid`) is revoked by sign-out, by a `session.revoked` or `user.deleted`
//! webhook, or by an operator. Every instance refuses tokens carrying a revoked `sid` for as
//! long as such a token could still be valid, and the MCP sessions opened under that `sid` end
//! at once (their ids answer 404).
//!
//! Keys: `auth:revoked:<sid>` (a marker with a TTL) and `auth:sid-sessions:<sid>` (a sorted set
//! of the MCP session ids created under the sid, scored by creation time).

use std::time::Duration;

use crate::kv::{Kv, KvError};

/// How long a revocation is remembered when the caller knows no better: longer than any access
/// token WorkOS or AuthKit issues lives.
pub const DEFAULT_REVOCATION_TTL: Duration = Duration::from_secs(24 * 3600);

pub fn revoked_key(sid: &str) -> String {
    format!("auth:revoked:{sid}")
}

pub fn sessions_key(sid: &str) -> String {
    format!("auth:sid-sessions:{sid}")
}

/// Marks `sid` revoked for `ttl` and ends the MCP sessions opened under it. Returns how many
/// MCP sessions were ended.
pub async fn revoke(kv: &Kv, sid: &str, ttl: Duration) -> Result<usize, KvError> {
    kv.set(&revoked_key(sid), "1", Some(ttl)).await?;
    let sessions = kv.zrange_by_score(&sessions_key(sid), 0.0, 1e18, None).await?;
    let ids: Vec<&str> = sessions.iter().map(|(id, _)| id.as_str()).collect();
    // One round trip for every session's state and owner; a session ended if its state existed.
    let replies = kv.pipeline(crate::mcp::session_store::delete_commands(&ids)).await?;
    let ended = replies.iter().step_by(2).filter(|reply| **reply == crate::kv::Reply::Int(1)).count();
    kv.delete(&sessions_key(sid)).await?;
    Ok(ended)
}

/// True when `sid` was revoked (and the revocation has not expired).
pub async fn is_revoked(kv: &Kv, sid: &str) -> Result<bool, KvError> {
    Ok(kv.get(&revoked_key(sid)).await?.is_some())
}
