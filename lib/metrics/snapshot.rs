//! Reading the fleet-wide aggregate back from the KV: the cumulative totals (for `/metrics`)
//! and the per-minute hashes (for alert windows and the status page), each in one pipeline.

use std::collections::BTreeMap;
use std::time::Duration;

use super::series::{Hist, Metric, Part, Series, parse_field};
use crate::kv::{Command, Kv, KvError, Reply};

/// The hash of cumulative totals.
pub const TOTALS_KEY: &str = "atoms:metrics:total";
/// The sorted set of live session fingerprints, scored by when they were last used.
pub const SESSIONS_KEY: &str = "atoms:metrics:sessions";
/// The sorted set of `version|commit|region` of instances, scored by their last flush.
pub const BUILDS_KEY: &str = "atoms:metrics:builds";
/// How long per-minute hashes are kept: the status page's hour, and some.
pub const MINUTES_KEPT: Duration = Duration::from_secs(2 * 3600);
/// Instances whose last flush is older than this are no longer listed in `atoms_build_info`.
pub const BUILD_SEEN_WITHIN: Duration = Duration::from_secs(24 * 3600);

/// The per-minute hash of minute `minute` (Unix time / 60).
pub fn minute_key(minute: u64) -> String {
    format!("atoms:metrics:minute:{minute}")
}

/// Counters and histograms summed over instances (and, for windows, over minutes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aggregate {
    pub counters: BTreeMap<Series, u64>,
    pub histograms: BTreeMap<Series, Hist>,
}

impl Aggregate {
    /// From an `HGETALL` reply; unknown or malformed fields are skipped.
    pub fn from_reply(reply: &Reply) -> Self {
        let mut aggregate = Self::default();
        let Reply::List(items) = reply else { return aggregate };
        for pair in items.chunks(2) {
            let [Reply::Text(field), value] = pair else { continue };
            let value = match value {
                Reply::Text(text) => text.parse::<i64>().unwrap_or(0),
                Reply::Int(n) => *n,
                _ => 0,
            };
            let Some((series, part)) = parse_field(field) else { continue };
            let value = value.max(0) as u64;
            match part {
                Part::Count => *aggregate.counters.entry(series).or_default() += value,
                Part::Bucket(index) => {
                    aggregate.histograms.entry(series).or_default().buckets[index] += value
                }
                Part::SumMicros => {
                    let hist = aggregate.histograms.entry(series).or_default();
                    hist.sum_micros = hist.sum_micros.saturating_add(value);
                }
            }
        }
        aggregate
    }

    pub fn add(&mut self, other: &Aggregate) {
        for (series, n) in &other.counters {
            *self.counters.entry(series.clone()).or_default() += n;
        }
        for (series, hist) in &other.histograms {
            self.histograms.entry(series.clone()).or_default().add(hist);
        }
    }

    /// The counters of `metric` whose labels pass `keep`, summed.
    pub fn count(&self, metric: Metric, keep: impl Fn(&Series) -> bool) -> u64 {
        self.counters.iter().filter(|(s, _)| s.metric == metric && keep(s)).map(|(_, n)| n).sum()
    }

    /// The histograms of `metric` whose labels pass `keep`, merged.
    pub fn hist(&self, metric: Metric, keep: impl Fn(&Series) -> bool) -> Hist {
        let mut merged = Hist::default();
        for (_, hist) in self.histograms.iter().filter(|(s, _)| s.metric == metric && keep(s)) {
            merged.add(hist);
        }
        merged
    }
}

/// What `/metrics` exposes.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub aggregate: Aggregate,
    /// Legacy sessions used within their idle lifetime, fleet-wide.
    pub sessions_active: u64,
    /// `(version, commit, region)` of instances that flushed within [`BUILD_SEEN_WITHIN`].
    pub builds: Vec<[String; 3]>,
}

/// Reads the totals in one round trip (dropping sessions idle for longer than `session_ttl`).
pub async fn read_totals(kv: &Kv, session_ttl: Duration, now_unix: f64) -> Result<Totals, KvError> {
    let commands = vec![
        Command::HGetAll { key: TOTALS_KEY.to_owned() },
        Command::ZRemRangeByScore {
            key: SESSIONS_KEY.to_owned(),
            min: f64::NEG_INFINITY,
            max: now_unix - session_ttl.as_secs_f64(),
        },
        Command::ZCard { key: SESSIONS_KEY.to_owned() },
        Command::ZRangeByScore {
            key: BUILDS_KEY.to_owned(),
            min: now_unix - BUILD_SEEN_WITHIN.as_secs_f64(),
            max: f64::INFINITY,
            limit: Some(100),
        },
    ];
    let replies = kv.pipeline(commands).await?;
    let aggregate = Aggregate::from_reply(&replies[0]);
    let sessions_active = match &replies[2] {
        Reply::Int(n) => (*n).max(0) as u64,
        _ => 0,
    };
    let builds = match &replies[3] {
        Reply::List(items) => items
            .chunks(2)
            .filter_map(|pair| match pair.first() {
                Some(Reply::Text(member)) => {
                    let mut parts = member.splitn(3, '|').map(str::to_owned);
                    Some([parts.next()?, parts.next()?, parts.next()?])
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(Totals { aggregate, sessions_active, builds })
}

/// The last `minutes` per-minute aggregates up to and including the minute of `now_unix`,
/// oldest first, in one round trip.
pub async fn read_minutes(kv: &Kv, minutes: u64, now_unix: u64) -> Result<Vec<(u64, Aggregate)>, KvError> {
    let last = now_unix / 60;
    let range: Vec<u64> = (last + 1 - minutes.max(1)..=last).collect();
    let commands = range.iter().map(|minute| Command::HGetAll { key: minute_key(*minute) }).collect();
    let replies = kv.pipeline(commands).await?;
    Ok(range.into_iter().zip(replies.iter().map(Aggregate::from_reply)).collect())
}

/// The per-minute aggregates summed.
pub fn sum(minutes: &[(u64, Aggregate)]) -> Aggregate {
    let mut total = Aggregate::default();
    for (_, aggregate) in minutes {
        total.add(aggregate);
    }
    total
}
