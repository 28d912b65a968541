//! Alerts: the rules ([`rules`]) judged on the fleet-wide metrics by whichever instance
//! flushes, one notification per incident and one when it resolves, delivered to webhooks
//! ([`webhook`]) off every user request's path.
//!
//! - **When**: after an instance's flush (`crate::metrics::flush::after_response`: Vercel's
//!   `wait_until`, the `atoms serve` timer), at most once per `METRICS_FLUSH_SECONDS`
//!   fleet-wide (a KV lock, `SET NX PX`); `GET /metrics?evaluate` evaluates at once (a
//!   scheduler's backstop, and what a Lambda deployment uses).
//! - **Deduplicated fleet-wide**: each rule's state is one KV key — absent while calm, the
//!   open incident while firing. A transition is a compare-and-set: of all instances that see
//!   a rule start (or stop) firing, exactly one wins the swap, and only the winner notifies.
//! - **Recorded**: every notification is kept a week in a sorted set for the status page.

pub mod rules;
pub mod webhook;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::kv::{Command, Reply};
use crate::metrics::snapshot::read_minutes;
use crate::state::AppState;
use rules::{Rule, Verdict};
use webhook::{Deployment, Notification};

/// The fleet-wide evaluation lock.
const LOCK_KEY: &str = "atoms:alerts:evaluating";
/// Recent notifications (JSON), scored by when they were decided.
pub const RECENT_KEY: &str = "atoms:alerts:recent";
const RECENT_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);

/// A rule's KV state key.
fn state_key(rule: Rule) -> String {
    format!("atoms:alerts:state:{}", rule.name())
}

/// The open incident of a firing rule, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Incident {
    id: String,
    started_at: u64,
}

/// Evaluates unless another instance did within the flush interval.
pub async fn evaluate_if_due(state: &AppState) {
    let interval = state.metrics.interval();
    match state.kv.set_if_absent(LOCK_KEY, "1", Some(interval)).await {
        Ok(true) => evaluate_now(state).await,
        Ok(false) => {}
        Err(error) => tracing::warn!(error = %error, "alert evaluation skipped: KV unavailable"),
    }
}

/// Judges every rule now and notifies the transitions this instance wins.
pub async fn evaluate_now(state: &AppState) {
    let config = &state.config.observability.alerts;
    let now = crate::metrics::flush::now_ms() / 1000;
    let longest = u64::from(Rule::longest_window(config));
    let (minutes, down) = tokio::join!(read_minutes(&state.kv, longest, now), down_dependencies(state));
    let minutes = match minutes {
        Ok(minutes) => minutes,
        Err(error) => {
            tracing::warn!(error = %error, "alert evaluation skipped: metrics unreadable");
            return;
        }
    };
    let verdicts = rules::judge(config, &minutes, &down);
    let keys: Vec<Command> = verdicts.iter().map(|v| Command::Get { key: state_key(v.rule) }).collect();
    let current = match state.kv.pipeline(keys).await {
        Ok(replies) => replies,
        Err(error) => {
            tracing::warn!(error = %error, "alert evaluation skipped: alert state unreadable");
            return;
        }
    };
    let mut notifications = Vec::new();
    for (verdict, stored) in verdicts.iter().zip(current) {
        let stored = match stored {
            Reply::Text(text) => Some(text),
            _ => None,
        };
        if let Some(notification) = transition(state, verdict, stored, now).await {
            notifications.push(notification);
        }
    }
    for notification in &notifications {
        tracing::warn!(rule = notification.rule, status = notification.status, incident = %notification.incident, summary = %notification.summary, "alert");
        record(state, notification, now).await;
        webhook::deliver(&state.http, config, notification).await;
    }
}

/// Swaps the rule's state when the verdict changed it; the notification if this instance won.
async fn transition(
    state: &AppState,
    verdict: &Verdict,
    stored: Option<String>,
    now: u64,
) -> Option<Notification> {
    let key = state_key(verdict.rule);
    match (verdict.firing, stored) {
        (true, None) => {
            let incident = Incident { id: incident_id(verdict.rule, now), started_at: now };
            let value = serde_json::to_string(&incident).ok()?;
            let won = state.kv.compare_and_set(&key, None, Some(&value), None).await.ok()?;
            won.then(|| notification(state, verdict, &incident, "firing", now))
        }
        (false, Some(stored)) => {
            let won = state.kv.compare_and_set(&key, Some(&stored), None, None).await.ok()?;
            let incident: Incident = serde_json::from_str(&stored).ok()?;
            won.then(|| notification(state, verdict, &incident, "resolved", now))
        }
        _ => None,
    }
}

fn notification(
    state: &AppState,
    verdict: &Verdict,
    incident: &Incident,
    status: &'static str,
    now: u64,
) -> Notification {
    let config = &state.config;
    Notification {
        incident: incident.id.clone(),
        rule: verdict.rule.name(),
        status,
        summary: verdict.summary.clone(),
        value: verdict.value,
        threshold: verdict.threshold,
        window_minutes: verdict.window_minutes,
        started_at: incident.started_at,
        at: now,
        deployment: Deployment {
            target: config.target.as_str(),
            region: config.platform.region.clone(),
            commit: config.platform.commit.clone(),
            url: config.http.public_url.as_ref().map(|url| url.as_str().trim_end_matches('/').to_owned()),
        },
    }
}

/// `<rule>-<unix>-<random>`: unique per incident.
fn incident_id(rule: Rule, now: u64) -> String {
    let mut random = [0u8; 4];
    let _ = getrandom::fill(&mut random);
    let suffix: String = crate::hex::encode(&random);
    format!("{}-{now}-{suffix}", rule.name())
}

/// Keeps the notification for the status page (a week).
async fn record(state: &AppState, notification: &Notification, now: u64) {
    let Ok(member) = serde_json::to_string(notification) else { return };
    let commands = vec![
        Command::ZAdd { key: RECENT_KEY.to_owned(), score: now as f64, member },
        Command::ZRemRangeByScore {
            key: RECENT_KEY.to_owned(),
            min: f64::NEG_INFINITY,
            max: now as f64 - RECENT_KEPT.as_secs_f64(),
        },
    ];
    if let Err(error) = state.kv.pipeline(commands).await {
        tracing::warn!(error = %error, "alert not recorded for the status page");
    }
}

/// The configured dependencies whose health probe fails now (the KV is judged by the
/// evaluation itself: it could not run without it).
async fn down_dependencies(state: &AppState) -> Vec<&'static str> {
    let (database, jwks) =
        tokio::join!(crate::health::checks::database(state), crate::health::checks::auth_jwks(state));
    [("database", database.failed()), ("authkit", jwks.failed())]
        .into_iter()
        .filter_map(|(name, failed)| failed.then_some(name))
        .collect()
}

/// The notifications decided in the last `within`, newest first (at most `limit`).
pub async fn recent(
    state: &AppState,
    within: Duration,
    limit: usize,
) -> Result<Vec<serde_json::Value>, crate::kv::KvError> {
    let now = crate::metrics::flush::now_ms() as f64 / 1000.0;
    let items = state.kv.zrange_by_score(RECENT_KEY, now - within.as_secs_f64(), f64::INFINITY, None).await?;
    Ok(items.iter().rev().take(limit).filter_map(|(member, _)| serde_json::from_str(member).ok()).collect())
}
