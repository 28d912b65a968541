//! The observability variables: who may read `/metrics` and `/status`, how often instances
//! flush their counts to the KV, where alerts go and when they fire, and where traces are
//! exported (`OTEL_*`, the OpenTelemetry SDK's standard names).

use std::time::Duration;

use super::reader::EnvReader;
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct ObservabilityConfig {
    /// `METRICS_TOKEN`: the bearer token of `GET /metrics` and `GET /status` (16+ characters,
    /// compared in constant time). Unset: both are refused outside local mode on loopback.
    pub metrics_token: Option<Secret>,
    /// `CRON_SECRET`: what Vercel's cron sends as `Authorization: Bearer …`; accepted (16+
    /// characters, constant time) for `GET /api/metrics?evaluate` only — it never reads metrics.
    pub cron_secret: Option<Secret>,
    /// `METRICS_FLUSH_SECONDS`: the least time between two flushes of an instance's counts to
    /// the KV (default 10, at most 300) — also the most an instance that dies can lose.
    pub flush_interval: Duration,
    pub alerts: AlertConfig,
    /// Trace export over OTLP/HTTP JSON (`crate::otlp`); `None` (the default) = off.
    pub traces: Option<TraceExportConfig>,
}

/// Where and how spans are exported. Set only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is.
#[derive(Debug, Clone)]
pub struct TraceExportConfig {
    /// Where spans are POSTed: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as given, else
    /// `{OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces` (http or https).
    pub url: reqwest::Url,
    /// `OTEL_EXPORTER_OTLP_HEADERS`: `name=value` pairs separated by commas (values
    /// percent-decoded), sent with every export — API keys: never logged.
    pub headers: Vec<(String, Secret)>,
    /// `OTEL_SERVICE_NAME`: the `service.name` resource attribute (default `atoms`).
    pub service_name: String,
    /// `OTEL_EXPORTER_OTLP_TIMEOUT` (or `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`), milliseconds: the
    /// whole of one export POST (default 2000, at most 10000; a Lambda invocation waits for it).
    pub timeout: Duration,
    /// `OTEL_BSP_SCHEDULE_DELAY`, milliseconds: how often `atoms serve` exports (default 5000,
    /// at most 60000; serverless hosts export after each response instead).
    pub schedule_delay: Duration,
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
    let cron_secret = env.secret(&["CRON_SECRET"]);
    if cron_secret.as_ref().is_some_and(|secret| secret.expose().len() < 16) {
        env.malformed("CRON_SECRET", "a random string of 16+ characters (openssl rand -hex 32)");
    }
    let flush_interval = Duration::from_secs(env.positive(&["METRICS_FLUSH_SECONDS"], 10, 300));
    let traces = read_traces(env);
    ObservabilityConfig { metrics_token, cron_secret, flush_interval, alerts: read_alerts(env), traces }
}

fn read_traces(env: &mut EnvReader<'_>) -> Option<TraceExportConfig> {
    const EXPECTED: &str = "an http(s) URL, e.g. http://localhost:4318 or https://api.honeycomb.io";
    let protocols = ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"];
    if let Some((variable, protocol)) = env.named(&protocols)
        && protocol != "http/json"
    {
        env.malformed(variable, "http/json (the only protocol Atoms exports), or unset");
    }
    let url = if env.string(&["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]).is_some() {
        env.url(&["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], EXPECTED)?
    } else {
        let base = env.url(&["OTEL_EXPORTER_OTLP_ENDPOINT"], EXPECTED)?;
        let path = format!("{}/v1/traces", base.path().trim_end_matches('/'));
        let mut url = base;
        url.set_path(&path);
        url
    };
    let mut headers = Vec::new();
    let header_names = ["OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"];
    if let Some((variable, pairs)) = env.named(&header_names) {
        for pair in pairs.split(',').filter(|pair| !pair.trim().is_empty()) {
            let Some(header) = export_header(pair) else {
                let expected =
                    "comma-separated name=value pairs (values percent-encoded), e.g. x-honeycomb-team=KEY";
                env.malformed(variable, expected);
                break;
            };
            headers.push(header);
        }
    }
    let service_name =
        env.string(&["OTEL_SERVICE_NAME"]).map(|name| name.trim().to_owned()).filter(|name| !name.is_empty());
    let timeout =
        env.positive(&["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"], 2000, 10_000);
    Some(TraceExportConfig {
        url,
        headers,
        service_name: service_name.unwrap_or_else(|| "atoms".to_owned()),
        timeout: Duration::from_millis(timeout),
        schedule_delay: Duration::from_millis(env.positive(&["OTEL_BSP_SCHEDULE_DELAY"], 5000, 60_000)),
    })
}

/// One `name=value` of `OTEL_EXPORTER_OTLP_HEADERS`, the value percent-decoded; `None` unless
/// both make a valid HTTP header.
fn export_header(pair: &str) -> Option<(String, Secret)> {
    let (name, value) = pair.split_once('=')?;
    let name = name.trim().to_ascii_lowercase();
    let value = percent_decode(value.trim())?;
    reqwest::header::HeaderName::from_bytes(name.as_bytes()).ok()?;
    reqwest::header::HeaderValue::from_str(&value).ok()?;
    Some((name, Secret::new(value)))
}

/// `%XX` escapes decoded (the W3C baggage form the OpenTelemetry SDKs read); `None` when an
/// escape is broken or the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
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
