//! The observability variables: who may read `/metrics` and `/status`, how often instances
//! flush their counts to the KV, and where alerts go and when they fire.

use std::time::Duration;

use super::reader::EnvReader;
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct ObservabilityConfig {
    /// `METRICS_TOKEN`: the bearer token of `GET /metrics` and `GET /status` (16+ characters,
    /// compared in constant time). Unset: both are refused outside local mode on loopback.
    pub metrics_token: Option<Secret>,
    /// `METRICS_FLUSH_SECONDS`: the least time between two flushes of an instance's counts to
    /// the KV (default 10, at most 300) — also the most an instance that dies can lose.
    pub flush_interval: Duration,
    pub alerts: AlertConfig,
}

/// Where an alert is delivered; the URL is a credential (Slack's carries its token).
#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: Secret,
    /// A Slack incoming webhook (`https://hooks.slack.com/…`) gets Slack's message format;
    /// any other URL a JSON body signed with `ALERT_WEBHOOK_SECRET`.
    pub slack: bool,
}

#[derive(Debug, Clone)]
pub struct AlertConfig {
    /// `ALERT_WEBHOOK_URLS`: comma-separated http(s) URLs; none = alerts are only recorded
    /// (status page) and logged.
    pub webhooks: Vec<Webhook>,
    /// `ALERT_WEBHOOK_SECRET`: the HMAC-SHA256 key of `X-Atoms-Signature` (required when a
    /// non-Slack URL is configured).
    pub secret: Option<Secret>,
    /// `ALERT_ERROR_RATE`: the share of 5xx answers that fires `error_rate` (default 0.01).
    pub error_rate: f64,
    /// `ALERT_ERROR_RATE_WINDOW_MINUTES` (default 5).
    pub error_rate_window: u32,
    /// `ALERT_P95_SECONDS`: the fleet's p95 request latency that fires `latency_p95` (default 1).
    pub p95: f64,
    /// `ALERT_P95_WINDOW_MINUTES` (default 10).
    pub p95_window: u32,
    /// `ALERT_AUTH_FAILURES`: refused credentials within the spike window that fire
    /// `auth_failures` (default 50).
    pub auth_failures: u64,
    /// `ALERT_RATE_LIMITED`: rate-limited requests within the spike window that fire
    /// `rate_limited` (default 100).
    pub rate_limited: u64,
    /// `ALERT_SPIKE_WINDOW_MINUTES`: the window of the two spike rules (default 5).
    pub spike_window: u32,
    /// `ALERT_MIN_REQUESTS`: the error-rate and latency rules judge only windows with at least
    /// this many requests (default 20), so three requests and one error are not an incident.
    pub min_requests: u64,
}

pub(super) fn read_observability(env: &mut EnvReader<'_>) -> ObservabilityConfig {
    let metrics_token = env.secret(&["METRICS_TOKEN"]);
    if metrics_token.as_ref().is_some_and(|token| token.expose().len() < 16) {
        env.malformed("METRICS_TOKEN", "a random string of 16+ characters (openssl rand -hex 32)");
    }
    let flush_interval = Duration::from_secs(env.positive(&["METRICS_FLUSH_SECONDS"], 10, 300));
    ObservabilityConfig { metrics_token, flush_interval, alerts: read_alerts(env) }
}

fn read_alerts(env: &mut EnvReader<'_>) -> AlertConfig {
    let mut webhooks = Vec::new();
    for raw in env.string(&["ALERT_WEBHOOK_URLS"]).unwrap_or_default().split(',').map(str::trim) {
        if raw.is_empty() {
            continue;
        }
        match reqwest::Url::parse(raw) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
                let slack = url.scheme() == "https" && url.host_str() == Some("hooks.slack.com");
                webhooks.push(Webhook { url: Secret::new(raw), slack });
            }
            _ => env.malformed("ALERT_WEBHOOK_URLS", "comma-separated http(s) URLs"),
        }
    }
    let secret = env.secret(&["ALERT_WEBHOOK_SECRET"]);
    if webhooks.iter().any(|hook| !hook.slack) && secret.is_none() {
        env.missing("ALERT_WEBHOOK_SECRET", "the key that signs alert bodies sent to non-Slack webhook URLs");
    }
    let error_rate = fraction(env, "ALERT_ERROR_RATE", 0.01);
    let p95: f64 = env.parsed(&["ALERT_P95_SECONDS"], 1.0, "seconds, e.g. 1 or 0.5");
    let p95 = if p95 > 0.0 && p95.is_finite() {
        p95
    } else {
        env.malformed("ALERT_P95_SECONDS", "a positive number of seconds, e.g. 1 or 0.5");
        1.0
    };
    AlertConfig {
        webhooks,
        secret,
        error_rate,
        error_rate_window: env.positive(&["ALERT_ERROR_RATE_WINDOW_MINUTES"], 5, 60) as u32,
        p95,
        p95_window: env.positive(&["ALERT_P95_WINDOW_MINUTES"], 10, 60) as u32,
        auth_failures: env.positive(&["ALERT_AUTH_FAILURES"], 50, 100_000_000),
        rate_limited: env.positive(&["ALERT_RATE_LIMITED"], 100, 100_000_000),
        spike_window: env.positive(&["ALERT_SPIKE_WINDOW_MINUTES"], 5, 60) as u32,
        min_requests: env.positive(&["ALERT_MIN_REQUESTS"], 20, 100_000_000),
    }
}

/// A share strictly between 0 and 1.
fn fraction(env: &mut EnvReader<'_>, name: &str, default: f64) -> f64 {
    let value = env.parsed(&[name], default, "a fraction between 0 and 1, e.g. 0.01 for 1 %");
    if value > 0.0 && value < 1.0 {
        value
    } else {
        env.malformed(name, "a fraction between 0 and 1, e.g. 0.01 for 1 %");
        default
    }
}
