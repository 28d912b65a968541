//! Flushing this instance's deltas into the KV, and when.
//!
//! One pipeline per flush: `HINCRBY` of every changed field into the totals hash and into the
//! hash of the current minute (which expires after [`MINUTES_KEPT`]), the sessions seen or
//! ended, and this instance's build. A failed flush puts its deltas back for the next one.
//!
//! [`after_response`] is what hosts call once a response is on its way: at most one flush per
//! `METRICS_FLUSH_SECONDS` per instance, never two at once, and then the alert evaluation
//! (`crate::alerts`), which is itself rate-limited fleet-wide.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::recorder::Deltas;
use super::snapshot::{BUILDS_KEY, MINUTES_KEPT, SESSIONS_KEY, TOTALS_KEY, minute_key};
use crate::kv::{Command, KvError};
use crate::state::AppState;

/// When this instance last flushed, and whether a flush is running.
#[derive(Debug)]
pub struct Schedule {
    interval: Duration,
    last_ms: AtomicU64,
    running: AtomicBool,
}

impl Schedule {
    pub fn new(interval: Duration) -> Self {
        Self { interval, last_ms: AtomicU64::new(0), running: AtomicBool::new(false) }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Claims the next flush when one is due and none runs (release with [`Self::done`]).
    fn claim(&self, now_ms: u64) -> bool {
        let last = self.last_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < self.interval.as_millis() as u64 {
            return false;
        }
        if self.running.swap(true, Ordering::Acquire) {
            return false;
        }
        self.last_ms.store(now_ms, Ordering::Relaxed);
        true
    }

    fn done(&self) {
        self.running.store(false, Ordering::Release);
    }
}

/// The background work after a response, when a flush is due: flush, then evaluate alerts.
/// `None` (and no cost beyond two atomic loads) otherwise.
pub fn after_response(state: &AppState) -> Option<impl Future<Output = ()> + Send + 'static> {
    if !state.metrics.claim(now_ms()) {
        return None;
    }
    let state = state.clone();
    Some(async move {
        let flushed = flush(&state).await;
        state.metrics.done();
        if flushed.is_ok() {
            crate::alerts::evaluate_if_due(&state).await;
        }
    })
}

/// The flush alone, when due, awaited: what a Lambda invocation does before it returns.
pub async fn before_return(state: &AppState) {
    if state.metrics.claim(now_ms()) {
        let _ = flush(state).await;
        state.metrics.done();
    }
}

/// Runs [`after_response`]'s work every interval until the process ends (`atoms serve`).
pub fn spawn_timer(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // The first tick one interval after start (an immediate one would flush nothing).
        let interval = state.metrics.interval();
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Some(work) = after_response(&state) {
                work.await;
            }
        }
    })
}

/// Flushes now whatever this instance counted; `Ok(false)` when there was nothing.
pub async fn flush(state: &AppState) -> Result<bool, KvError> {
    let deltas = super::take();
    if deltas.is_empty() {
        return Ok(false);
    }
    let config = &state.config;
    let build =
        format!("{}|{}|{}", env!("CARGO_PKG_VERSION"), config.platform.commit, config.platform.region);
    let commands = commands(&deltas, now_ms() / 1000, &build);
    match state.kv.pipeline(commands).await {
        Ok(_) => Ok(true),
        Err(error) => {
            tracing::warn!(error = %error, "metrics flush failed; the counts are kept for the next one");
            super::restore(deltas);
            Err(error)
        }
    }
}

/// The pipeline that adds `deltas` into the KV.
fn commands(deltas: &Deltas, now_unix: u64, build: &str) -> Vec<Command> {
    let minute = minute_key(now_unix / 60);
    let mut commands = Vec::with_capacity(2 * deltas.counters.len() + 8 * deltas.histograms.len() + 4);
    let mut add = |field: String, by: u64| {
        let by = i64::try_from(by).unwrap_or(i64::MAX);
        commands.push(Command::HIncrBy { key: TOTALS_KEY.to_owned(), field: field.clone(), by });
        commands.push(Command::HIncrBy { key: minute.clone(), field, by });
    };
    for (key, n) in &deltas.counters {
        add(key.field(""), *n);
    }
    for (key, hist) in &deltas.histograms {
        for (index, count) in hist.buckets.iter().enumerate().filter(|(_, count)| **count > 0) {
            add(key.field(&format!("b{index}")), *count);
        }
        add(key.field("s"), hist.sum_micros);
    }
    commands.push(Command::Expire { key: minute, ttl: MINUTES_KEPT });
    for (fingerprint, (_, live)) in &deltas.sessions {
        let member = hex(fingerprint);
        commands.push(if *live {
            Command::ZAdd { key: SESSIONS_KEY.to_owned(), score: now_unix as f64, member }
        } else {
            Command::ZRem { key: SESSIONS_KEY.to_owned(), member }
        });
    }
    commands.push(Command::ZAdd {
        key: BUILDS_KEY.to_owned(),
        score: now_unix as f64,
        member: build.to_owned(),
    });
    commands
}

use crate::hex::encode as hex;

pub(crate) use crate::clock::now_ms;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::series::{Hist, Key, Metric};

    #[test]
    fn schedule_allows_one_flush_per_interval() {
        let schedule = Schedule::new(Duration::from_secs(10));
        assert!(schedule.claim(100_000));
        assert!(!schedule.claim(200_000), "one at a time");
        schedule.done();
        assert!(!schedule.claim(105_000), "not due yet");
        assert!(schedule.claim(110_000));
    }

    #[test]
    fn deltas_become_one_pipeline() {
        let mut deltas = Deltas::default();
        deltas.counters.insert(Key::new(Metric::RateLimited, []), 3);
        let mut hist = Hist::default();
        hist.observe(Duration::from_millis(3));
        deltas.histograms.insert(Key::new(Metric::KvDuration, []), hist);
        deltas.sessions.insert([0xab; 16], (1, true));
        let commands = commands(&deltas, 120, "0.1.0|abc|iad1");
        let minute = minute_key(2);
        assert!(commands.contains(&Command::HIncrBy { key: TOTALS_KEY.into(), field: "rl".into(), by: 3 }));
        assert!(commands.contains(&Command::HIncrBy { key: minute.clone(), field: "rl".into(), by: 3 }));
        assert!(commands.contains(&Command::HIncrBy { key: minute.clone(), field: "kv_s|b0".into(), by: 1 }));
        assert!(commands.contains(&Command::HIncrBy {
            key: TOTALS_KEY.into(),
            field: "kv_s|s".into(),
            by: 3000
        }));
        assert!(commands.contains(&Command::Expire { key: minute, ttl: MINUTES_KEPT }));
        assert!(commands.iter().any(|c| matches!(c, Command::ZAdd { key, .. } if key == SESSIONS_KEY)));
    }
}
