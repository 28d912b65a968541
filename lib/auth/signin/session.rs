//! Browser sessions in the KV: what a signed-in browser's cookie names.
//!
//! Keys (ids are stored by their SHA-256, so the KV holds no usable cookie value):
//! - `auth:browser-session:<digest>`: the [`BrowserSession`] as JSON; its TTL is the idle
//!   timeout (`AUTH_SESSION_IDLE_HOURS`), renewed on use, never past the absolute end
//!   (`MCP_SESSION_TTL_HOURS` after sign-in);
//! - `auth:user-browser-sessions:<user id>`: the user's sessions, scored by creation time, so
//!   `MAX_SESSIONS_PER_USER` evicts the oldest and `user.deleted` finds them all;
//! - `auth:sid-browser-session:<sid>`: which session holds the WorkOS session `sid`
//!   (`session.revoked` webhooks name only the sid).
//!
//! Ending a session (sign-out, eviction, webhook) deletes all three and marks its `sid` revoked
//! fleet-wide ([`crate::auth::revocation`]): the access tokens it handed out stop working too.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::random;
use crate::auth::revocation;
use crate::auth::workos::User;
use crate::kv::{Kv, KvError};

/// One signed-in browser.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BrowserSession {
    pub user: User,
    pub organization_id: Option<String>,
    /// The WorkOS session (`sid` claim of its access tokens).
    pub sid: Option<String>,
    /// Unix seconds.
    pub created: u64,
    pub last_seen: u64,
    /// The absolute end (`created` + `MCP_SESSION_TTL_HOURS`).
    pub expires: u64,
    /// The browser's `User-Agent` at sign-in, at most 200 characters (shown to its owner only).
    pub user_agent: Option<String>,
    /// `exp` of the current access token.
    pub access_expires: u64,
    /// The access and refresh token, sealed ([`super::seal`]) for this session's key.
    pub sealed_tokens: String,
}

/// A session as read, with the exact stored text (the compare-and-set witness).
pub struct Loaded {
    pub key: String,
    pub raw: String,
    pub session: BrowserSession,
}

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub idle: Duration,
    pub absolute: Duration,
    pub max_per_user: u32,
}

pub fn key(session_id: &str) -> String {
    format!("auth:browser-session:{}", random::digest(session_id))
}

fn user_key(user_id: &str) -> String {
    format!("auth:user-browser-sessions:{user_id}")
}

fn sid_key(sid: &str) -> String {
    format!("auth:sid-browser-session:{sid}")
}

pub use crate::clock::now_unix;

impl BrowserSession {
    /// The KV TTL at `now`: the idle timeout, cut at the absolute end. `None` once over.
    pub fn ttl(&self, now: u64, idle: Duration) -> Option<Duration> {
        let left = self.expires.checked_sub(now).filter(|s| *s > 0)?;
        Some(idle.min(Duration::from_secs(left)))
    }
}

/// Stores a new session under a fresh id and returns the id (the cookie value). The user's
/// oldest sessions beyond `MAX_SESSIONS_PER_USER` are ended.
pub async fn create(
    kv: &Kv,
    session_id: &str,
    session: &BrowserSession,
    lifetimes: Lifetimes,
) -> Result<(), KvError> {
    let key = key(session_id);
    let ttl = session.ttl(session.created, lifetimes.idle).unwrap_or(Duration::from_secs(1));
    kv.set(&key, &to_json(session), Some(ttl)).await?;
    let index = user_key(&session.user.id);
    // Scored to the microsecond, so sign-ins within one second still evict oldest first.
    let score =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    kv.zadd(&index, score, &key).await?;
    kv.expire(&index, lifetimes.absolute).await?;
    if let Some(sid) = &session.sid {
        kv.set(&sid_key(sid), &key, Some(lifetimes.absolute)).await?;
    }
    let count = kv.zcard(&index).await?;
    let excess = count.saturating_sub(u64::from(lifetimes.max_per_user.max(1)));
    if excess > 0 {
        let limit = Some(excess as usize + 1);
        let oldest = kv.zrange_by_score(&index, f64::NEG_INFINITY, f64::INFINITY, limit).await?;
        for (victim, _) in oldest.into_iter().filter(|(k, _)| *k != key).take(excess as usize) {
            end_by_key(kv, &victim).await?;
            kv.zrem(&index, &victim).await?;
        }
    }
    Ok(())
}

/// The live session a cookie value names; `None` when absent, expired or unreadable.
pub async fn load(kv: &Kv, session_id: &str, now: u64) -> Result<Option<Loaded>, KvError> {
    if !random::is_token(session_id) {
        return Ok(None);
    }
    load_key(kv, key(session_id), now).await
}

pub async fn load_key(kv: &Kv, key: String, now: u64) -> Result<Option<Loaded>, KvError> {
    let Some(raw) = kv.get(&key).await? else { return Ok(None) };
    let Ok(session) = serde_json::from_str::<BrowserSession>(&raw) else {
        tracing::warn!("a browser session in the KV does not parse; ending it");
        kv.delete(&key).await?;
        return Ok(None);
    };
    if session.expires <= now {
        end_by_key(kv, &key).await?;
        return Ok(None);
    }
    Ok(Some(Loaded { key, raw, session }))
}

/// Replaces `loaded` with `next` if nobody changed it since it was read; renews the idle TTL.
/// False when it changed (or ended) meanwhile.
pub async fn replace(
    kv: &Kv,
    loaded: &Loaded,
    next: &BrowserSession,
    now: u64,
    idle: Duration,
) -> Result<bool, KvError> {
    let Some(ttl) = next.ttl(now, idle) else { return Ok(false) };
    kv.compare_and_set(&loaded.key, Some(&loaded.raw), Some(&to_json(next)), Some(ttl)).await
}

/// Notes a use: renews the idle timeout and, at most once a minute, `last_seen`.
pub async fn touch(kv: &Kv, loaded: &Loaded, now: u64, idle: Duration) -> Result<(), KvError> {
    if now.saturating_sub(loaded.session.last_seen) >= 60 {
        let next = BrowserSession { last_seen: now, ..loaded.session.clone() };
        replace(kv, loaded, &next, now, idle).await?;
    } else if let Some(ttl) = loaded.session.ttl(now, idle) {
        kv.expire(&loaded.key, ttl).await?;
    }
    Ok(())
}

/// Ends the session stored at `key`: deletes it and its index entries and revokes its `sid`.
/// Returns the ended session's `sid`, if it had one.
pub async fn end_by_key(kv: &Kv, key: &str) -> Result<Option<String>, KvError> {
    let Some(raw) = kv.get(key).await? else { return Ok(None) };
    kv.delete(key).await?;
    let Ok(session) = serde_json::from_str::<BrowserSession>(&raw) else { return Ok(None) };
    kv.zrem(&user_key(&session.user.id), key).await?;
    if let Some(sid) = &session.sid {
        kv.compare_and_set(&sid_key(sid), Some(key), None, None).await?;
        revocation::revoke(kv, sid, revocation::DEFAULT_REVOCATION_TTL).await?;
    }
    Ok(session.sid)
}

/// `session.revoked`: revokes `sid` and ends the browser session holding it, if any.
pub async fn end_by_sid(kv: &Kv, sid: &str) -> Result<(), KvError> {
    if let Some(key) = kv.get(&sid_key(sid)).await? {
        end_by_key(kv, &key).await?;
    }
    revocation::revoke(kv, sid, revocation::DEFAULT_REVOCATION_TTL).await?;
    Ok(())
}

/// `user.deleted`: ends every browser session of `user_id`. Returns how many.
pub async fn end_all_of_user(kv: &Kv, user_id: &str) -> Result<usize, KvError> {
    let index = user_key(user_id);
    let keys = kv.zrange_by_score(&index, f64::NEG_INFINITY, f64::INFINITY, None).await?;
    let mut ended = 0;
    for (key, _) in &keys {
        if kv.get(key).await?.is_some() {
            end_by_key(kv, key).await?;
            ended += 1;
        }
    }
    kv.delete(&index).await?;
    Ok(ended)
}

fn to_json(session: &BrowserSession) -> String {
    serde_json::to_string(session).unwrap_or_else(|_| unreachable!("a session always serialises"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kv_ttl_is_the_idle_timeout_cut_at_the_absolute_end() {
        let user = User { id: "user_1".into(), email: None, first_name: None, last_name: None };
        let session = BrowserSession {
            user,
            organization_id: None,
            sid: None,
            created: 1_000,
            last_seen: 1_000,
            expires: 1_000 + 24 * 3600,
            user_agent: None,
            access_expires: 1_300,
            sealed_tokens: String::new(),
        };
        let idle = Duration::from_secs(8 * 3600);
        assert_eq!(session.ttl(1_000, idle), Some(idle), "idle first");
        assert_eq!(session.ttl(1_000 + 20 * 3600, idle), Some(Duration::from_secs(4 * 3600)), "then the end");
        assert_eq!(session.ttl(1_000 + 24 * 3600, idle), None, "over");
    }
}
