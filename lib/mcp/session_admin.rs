//! `atoms sessions`: operators list and end users' legacy MCP sessions in the shared KV.
//!
//! A session is live while its state key (`mcp:session:<id>`, idle TTL) and its owner key
//! (`mcp:session-owner:<id>`, absolute TTL) both exist; each user's sessions are listed in
//! `mcp:user-sessions:<sub>` (scored by creation time) by the guard when they are created.

use std::time::Duration;

use super::request_checks::user_sessions_key;
use super::session_store;
use crate::kv::{Command, Kv, KvError, Reply};

/// One open session of a user.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary {
    pub id: String,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: f64,
    /// Until it ends for inactivity (unless used).
    pub idle_expires_in: Duration,
    /// Until it ends however busy it is.
    pub absolute_expires_in: Duration,
}

/// The live sessions of `subject`, oldest first.
pub async fn list(kv: &Kv, subject: &str) -> Result<Vec<SessionSummary>, KvError> {
    let members = kv.zrange_by_score(&user_sessions_key(subject), 0.0, 1e18, None).await?;
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let ttls = members
        .iter()
        .flat_map(|(id, _)| [session_store::key(id), session_store::owner_key(id)])
        .map(|key| Command::Pttl { key })
        .collect();
    let replies = kv.pipeline(ttls).await?;
    let millis = |reply: &Reply| match reply {
        Reply::Int(ms) if *ms >= 0 => Some(Duration::from_millis(*ms as u64)),
        _ => None,
    };
    Ok(members
        .into_iter()
        .zip(replies.chunks(2))
        .filter_map(|((id, created_ms), pair)| {
            Some(SessionSummary {
                id,
                created_ms,
                idle_expires_in: millis(&pair[0])?,
                absolute_expires_in: millis(&pair[1])?,
            })
        })
        .collect())
}

/// Ends one session (whoever owns it). False when it was not live.
pub async fn revoke(kv: &Kv, session: &str) -> Result<bool, KvError> {
    let owner = kv.get(&session_store::owner_key(session)).await?;
    let mut commands = session_store::delete_commands(&[session]);
    if let Some(owner) = &owner {
        commands.push(Command::ZRem { key: user_sessions_key(owner), member: session.to_owned() });
    }
    let replies = kv.pipeline(commands).await?;
    Ok(replies.first() == Some(&Reply::Int(1)))
}

/// Ends every session of `subject`; returns how many were live.
pub async fn revoke_user(kv: &Kv, subject: &str) -> Result<usize, KvError> {
    let members = kv.zrange_by_score(&user_sessions_key(subject), 0.0, 1e18, None).await?;
    let ids: Vec<&str> = members.iter().map(|(id, _)| id.as_str()).collect();
    let mut commands = session_store::delete_commands(&ids);
    commands.push(Command::Del { key: user_sessions_key(subject) });
    let replies = kv.pipeline(commands).await?;
    // A session was live while its owner key existed (the state key may outlive it briefly).
    Ok(replies.iter().skip(1).step_by(2).take(members.len()).filter(|r| **r == Reply::Int(1)).count())
}

/// `atoms sessions …` as text (the CLI prints it).
pub async fn command(kv: &Kv, action: SessionAction) -> Result<String, String> {
    let kv_error = |e: KvError| format!("the KV cannot be reached: {e}");
    match action {
        SessionAction::List { user } => {
            let sessions = list(kv, &user).await.map_err(kv_error)?;
            if sessions.is_empty() {
                return Ok(format!("{user} has no open MCP sessions\n"));
            }
            let mut out = format!("{} open MCP session(s) of {user}, oldest first:\n", sessions.len());
            let now_ms = crate::clock::now_ms() as f64;
            for s in sessions {
                let age = (now_ms - s.created_ms).max(0.0) / 60_000.0;
                out.push_str(&format!(
                    "  {}  opened {:.0} min ago, idle expiry in {} min, ends in {} min at the latest\n",
                    s.id,
                    age,
                    s.idle_expires_in.as_secs() / 60,
                    s.absolute_expires_in.as_secs() / 60
                ));
            }
            Ok(out)
        }
        SessionAction::Revoke { session: Some(session), .. } => {
            if revoke(kv, &session).await.map_err(kv_error)? {
                Ok(format!("ended session {session}\n"))
            } else {
                Err(format!("no live session {session}"))
            }
        }
        SessionAction::Revoke { user: Some(user), .. } => {
            let ended = revoke_user(kv, &user).await.map_err(kv_error)?;
            Ok(format!("ended {ended} session(s) of {user}\n"))
        }
        SessionAction::Revoke { sid: Some(sid), .. } => {
            let ended =
                crate::auth::revocation::revoke(kv, &sid, crate::auth::revocation::DEFAULT_REVOCATION_TTL)
                    .await
                    .map_err(kv_error)?;
            Ok(format!(
                "revoked sign-in session {sid}: its tokens are refused, {ended} MCP session(s) ended\n"
            ))
        }
        SessionAction::Revoke { .. } => {
            Err("say which: a session id, --user <sub> or --sid <sid>".to_owned())
        }
    }
}

/// What `atoms sessions` was asked to do.
#[derive(Debug, Clone)]
pub enum SessionAction {
    List { user: String },
    Revoke { session: Option<String>, user: Option<String>, sid: Option<String> },
}
