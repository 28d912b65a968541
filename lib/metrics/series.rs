//! The metrics Atoms records, their labels, and how one series is written as a field of a KV
//! hash (`<code>|<label>|…`, histograms with a `|b<i>` bucket or `|s` sum suffix) and read back.
//!
//! Every label value is bounded: routes by the router's patterns (interned, at most
//! [`super::labels::MAX_ROUTES`]), methods, statuses, tools and operations by fixed tables; an
//! unknown value becomes `other`.

use std::time::Duration;

/// Upper bounds (seconds) of every duration histogram: Prometheus' default buckets.
pub const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    HttpRequests,
    HttpDuration,
    McpRequests,
    ToolCalls,
    ToolDuration,
    DbRpcDuration,
    KvDuration,
    AuthFailures,
    RateLimited,
    CacheRequests,
    ColdStarts,
}

impl Metric {
    pub const ALL: [Metric; 11] = [
        Self::HttpRequests,
        Self::HttpDuration,
        Self::McpRequests,
        Self::ToolCalls,
        Self::ToolDuration,
        Self::DbRpcDuration,
        Self::KvDuration,
        Self::AuthFailures,
        Self::RateLimited,
        Self::CacheRequests,
        Self::ColdStarts,
    ];

    /// The short, stable code used in KV fields (changing one orphans stored counts).
    pub fn code(self) -> &'static str {
        match self {
            Self::HttpRequests => "http",
            Self::HttpDuration => "http_s",
            Self::McpRequests => "mcp",
            Self::ToolCalls => "tool",
            Self::ToolDuration => "tool_s",
            Self::DbRpcDuration => "db_s",
            Self::KvDuration => "kv_s",
            Self::AuthFailures => "auth",
            Self::RateLimited => "rl",
            Self::CacheRequests => "cache",
            Self::ColdStarts => "cold",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|metric| metric.code() == code)
    }

    /// The exposition name (counters get `_total` from the encoder).
    pub fn name(self) -> &'static str {
        match self {
            Self::HttpRequests => "atoms_http_requests",
            Self::HttpDuration => "atoms_http_request_duration_seconds",
            Self::McpRequests => "atoms_mcp_requests",
            Self::ToolCalls => "atoms_tool_calls",
            Self::ToolDuration => "atoms_tool_call_duration_seconds",
            Self::DbRpcDuration => "atoms_db_rpc_duration_seconds",
            Self::KvDuration => "atoms_kv_command_duration_seconds",
            Self::AuthFailures => "atoms_auth_failures",
            Self::RateLimited => "atoms_rate_limited",
            Self::CacheRequests => "atoms_cache_requests",
            Self::ColdStarts => "atoms_cold_starts",
        }
    }

    pub fn help(self) -> &'static str {
        match self {
            Self::HttpRequests => "HTTP requests answered, by route pattern, method and status.",
            Self::HttpDuration => "Time from request to response head, by route pattern.",
            Self::McpRequests => "MCP JSON-RPC requests, by method and protocol era.",
            Self::ToolCalls => "MCP tool calls, by tool, operation and outcome (ok or the error code).",
            Self::ToolDuration => "MCP tool call duration, by tool and operation.",
            Self::DbRpcDuration => "Database function call duration (one round trip, one transaction).",
            Self::KvDuration => "KV round trip duration (one pipeline of commands).",
            Self::AuthFailures => "Refused credentials on the MCP route, by reason.",
            Self::RateLimited => "Requests refused by the rate limiter.",
            Self::CacheRequests => "Cache lookups, by cache (read, list) and result.",
            Self::ColdStarts => "Function instances started, by function.",
        }
    }

    pub fn label_names(self) -> &'static [&'static str] {
        match self {
            Self::HttpRequests => &["route", "method", "status"],
            Self::HttpDuration => &["route"],
            Self::McpRequests => &["method", "era"],
            Self::ToolCalls => &["tool", "operation", "outcome"],
            Self::ToolDuration => &["tool", "operation"],
            Self::DbRpcDuration | Self::KvDuration | Self::RateLimited => &[],
            Self::AuthFailures => &["reason"],
            Self::CacheRequests => &["cache", "result"],
            Self::ColdStarts => &["function"],
        }
    }

    pub fn is_histogram(self) -> bool {
        matches!(self, Self::HttpDuration | Self::ToolDuration | Self::DbRpcDuration | Self::KvDuration)
    }
}

/// One series as recorded in-process: a metric and its label values (unused slots empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub metric: Metric,
    pub labels: [&'static str; 3],
}

/// Hashes the metric and each label's length and first and last bytes into one word: consistent
/// with `Eq`, and distinct enough for the few dozen series an instance records (a collision
/// costs a string comparison). Every request records several series, and SipHash over the
/// whole labels was a measurable share of a tool call (callgrind).
impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mut word = self.metric as u64;
        for label in self.labels {
            let bytes = label.as_bytes();
            let ends =
                (u64::from(*bytes.first().unwrap_or(&0)) << 8) | u64::from(*bytes.last().unwrap_or(&0));
            word = word.rotate_left(21) ^ ((bytes.len() as u64) << 16) ^ ends;
        }
        state.write_u64(word);
    }
}

/// The hasher of the recorder's maps: keys are [`Key`]s, one word each, from labels the code
/// chose (never from a client), so a multiply-and-fold is enough.
#[derive(Default)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        let folded = u128::from(self.0) * 0x9E37_79B9_7F4A_7C15;
        (folded as u64) ^ ((folded >> 64) as u64)
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = self.0.rotate_left(32) ^ word;
    }
}

/// A map keyed by [`Key`].
pub type KeyMap<V> = std::collections::HashMap<Key, V, std::hash::BuildHasherDefault<KeyHasher>>;

impl Key {
    pub fn new<const N: usize>(metric: Metric, values: [&'static str; N]) -> Self {
        let mut labels = [""; 3];
        labels[..N].copy_from_slice(&values);
        Self { metric, labels }
    }

    /// The KV hash field of this series (`part` is a histogram suffix, or empty).
    pub fn field(&self, part: &str) -> String {
        let count = self.metric.label_names().len();
        let mut field = String::from(self.metric.code());
        for value in &self.labels[..count] {
            field.push('|');
            field.push_str(&value.replace('|', "_"));
        }
        if !part.is_empty() {
            field.push('|');
            field.push_str(part);
        }
        field
    }
}

/// A series read back from the KV: its labels are owned strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Series {
    pub metric: Metric,
    pub labels: Vec<String>,
}

impl Series {
    pub fn label(&self, name: &str) -> &str {
        let index = self.metric.label_names().iter().position(|n| *n == name);
        index.and_then(|i| self.labels.get(i)).map_or("", String::as_str)
    }
}

/// Which part of a series a KV field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Count,
    Bucket(usize),
    SumMicros,
}

/// Parses a KV field; `None` for anything this version does not know (skipped, never fatal).
pub fn parse_field(field: &str) -> Option<(Series, Part)> {
    let mut pieces = field.split('|');
    let metric = Metric::from_code(pieces.next()?)?;
    let labels: Vec<String> = pieces.by_ref().take(metric.label_names().len()).map(str::to_owned).collect();
    if labels.len() != metric.label_names().len() {
        return None;
    }
    let part = match (metric.is_histogram(), pieces.next()) {
        (false, None) => Part::Count,
        (true, Some("s")) => Part::SumMicros,
        (true, Some(bucket)) => {
            let index: usize = bucket.strip_prefix('b')?.parse().ok()?;
            (index <= BUCKETS.len()).then_some(Part::Bucket(index))?
        }
        _ => return None,
    };
    pieces.next().is_none().then_some((Series { metric, labels }, part))
}

/// A duration histogram: per-bucket (not cumulative) counts, the last one above every bound.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hist {
    pub buckets: [u64; BUCKETS.len() + 1],
    pub sum_micros: u64,
}

impl Hist {
    pub fn observe(&mut self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let index = BUCKETS.iter().position(|bound| seconds <= *bound).unwrap_or(BUCKETS.len());
        self.buckets[index] += 1;
        self.sum_micros = self.sum_micros.saturating_add(duration.as_micros() as u64);
    }

    pub fn add(&mut self, other: &Hist) {
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *mine += theirs;
        }
        self.sum_micros = self.sum_micros.saturating_add(other.sum_micros);
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    pub fn sum_seconds(&self) -> f64 {
        self.sum_micros as f64 / 1e6
    }

    /// The `q` quantile in seconds, interpolated inside its bucket as Prometheus'
    /// `histogram_quantile` does; `None` without observations. Above the last bound it is
    /// that bound (the histogram knows no more).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let mut seen = 0u64;
        for (index, count) in self.buckets.iter().enumerate() {
            let before = seen;
            seen += count;
            if (seen as f64) >= rank && *count > 0 {
                let Some(upper) = BUCKETS.get(index) else { return Some(BUCKETS[BUCKETS.len() - 1]) };
                let lower = if index == 0 { 0.0 } else { BUCKETS[index - 1] };
                let within = (rank - before as f64) / *count as f64;
                return Some(lower + (upper - lower) * within.clamp(0.0, 1.0));
            }
        }
        Some(BUCKETS[BUCKETS.len() - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let key = Key::new(Metric::HttpRequests, ["/api/mcp", "POST", "200"]);
        assert_eq!(key.field(""), "http|/api/mcp|POST|200");
        let (series, part) = parse_field(&key.field("")).expect("parses");
        assert_eq!(series.labels, ["/api/mcp", "POST", "200"]);
        assert_eq!(series.label("status"), "200");
        assert_eq!(part, Part::Count);
        let hist = Key::new(Metric::HttpDuration, ["/a|b"]);
        assert_eq!(hist.field("b3"), "http_s|/a_b|b3");
        assert_eq!(parse_field("http_s|/a_b|b3").map(|(_, p)| p), Some(Part::Bucket(3)));
        assert_eq!(parse_field("kv_s|s").map(|(_, p)| p), Some(Part::SumMicros));
        for junk in ["", "nope|x", "http|a|b", "http|a|b|c|d", "kv_s", "kv_s|b99", "rl|x"] {
            assert_eq!(parse_field(junk), None, "{junk}");
        }
    }

    #[test]
    fn quantiles_interpolate_within_buckets() {
        let mut hist = Hist::default();
        assert_eq!(hist.quantile(0.95), None);
        for _ in 0..90 {
            hist.observe(Duration::from_millis(2));
        }
        for _ in 0..10 {
            hist.observe(Duration::from_millis(700));
        }
        let p50 = hist.quantile(0.5).expect("p50");
        assert!(p50 > 0.0 && p50 <= 0.005, "{p50}");
        let p95 = hist.quantile(0.95).expect("p95");
        assert!(p95 > 0.5 && p95 <= 1.0, "{p95}");
        hist.observe(Duration::from_secs(60));
        assert_eq!(hist.quantile(1.0), Some(10.0));
        assert_eq!(hist.count(), 101);
    }
}
