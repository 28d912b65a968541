//! `atoms bench remote <base-url>`: latency of a running deployment, per endpoint, beside the
//! production checklist's baselines (health p95 < 50 ms, `tools/list` p95 < 100 ms, tool
//! execution p95 < 500 ms).
//!
//! Bounded: sequential requests on one keep-alive connection, at most [`MAX_REQUESTS`] per
//! endpoint, each with a timeout, all within one time budget; the first request of each endpoint
//! is reported apart (it may pay a cold start) and left out of the percentiles. Load is only sent
//! to loopback unless the operator says the target is theirs (`--yes-this-is-mine`): a benchmark
//! against someone else's deployment is a denial-of-service attempt.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{ms, quantile};
use crate::secret::Secret;

/// Upper bound of `--requests` (per endpoint).
pub const MAX_REQUESTS: usize = 1_000;

pub struct RemoteOptions {
    pub base_url: String,
    /// Sent on the MCP requests (a deployment needs one; `atoms serve` on loopback does not).
    pub token: Option<Secret>,
    pub mcp_path: String,
    /// Measured requests per endpoint (plus one first request each).
    pub requests: usize,
    pub request_timeout: Duration,
    /// Time budget of the whole run; endpoints not finished by then report what they measured.
    pub budget: Duration,
    /// The operator's word that a non-loopback target is theirs.
    pub yes_this_is_mine: bool,
}

/// One endpoint's measurements.
pub struct EndpointReport {
    pub name: &'static str,
    /// The checklist's p95 baseline, when it has one.
    pub baseline_p95: Option<Duration>,
    pub first: Option<Duration>,
    /// Successful requests' latencies, sorted.
    pub samples: Vec<Duration>,
    /// Failed requests by reason, with counts.
    pub errors: Vec<(String, usize)>,
}

pub struct RemoteReport {
    pub base_url: String,
    pub requests: usize,
    pub endpoints: Vec<EndpointReport>,
    pub budget_spent: bool,
}

#[derive(Clone, Copy)]
enum Endpoint {
    Health,
    Live,
    ToolsList,
    ToolCall,
}

impl Endpoint {
    const ALL: [Endpoint; 4] = [Endpoint::Health, Endpoint::Live, Endpoint::ToolsList, Endpoint::ToolCall];

    fn name(self) -> &'static str {
        match self {
            Endpoint::Health => "GET /health",
            Endpoint::Live => "GET /health/live",
            Endpoint::ToolsList => "tools/list",
            Endpoint::ToolCall => "tools/call workspace_tool.list_workspaces",
        }
    }

    fn baseline_p95(self) -> Option<Duration> {
        match self {
            Endpoint::Health => Some(Duration::from_millis(50)),
            Endpoint::Live => None,
            Endpoint::ToolsList => Some(Duration::from_millis(100)),
            Endpoint::ToolCall => Some(Duration::from_millis(500)),
        }
    }
}

/// Refuses bad input and non-loopback targets (unless allowed), then measures every endpoint.
pub async fn run(options: RemoteOptions) -> Result<RemoteReport, String> {
    if options.requests == 0 || options.requests > MAX_REQUESTS {
        return Err(format!("--requests must be between 1 and {MAX_REQUESTS} (got {})", options.requests));
    }
    let url = reqwest::Url::parse(&options.base_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| format!("not a base URL: {} (e.g. http://127.0.0.1:3000)", options.base_url))?;
    if !options.yes_this_is_mine && !is_loopback(&url).await {
        return Err(format!(
            "refusing to send {} requests to {}: it is not a loopback address. Benchmark only \
             deployments you own; add --yes-this-is-mine to confirm this one is yours",
            options.requests * Endpoint::ALL.len(),
            url.host_str().unwrap_or_default()
        ));
    }
    let base = url.as_str().trim_end_matches('/').to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(options.request_timeout)
        .pool_max_idle_per_host(1)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let deadline = Instant::now() + options.budget;
    let mut endpoints = Vec::new();
    let mut budget_spent = false;
    for endpoint in Endpoint::ALL {
        let mut report = EndpointReport {
            name: endpoint.name(),
            baseline_p95: endpoint.baseline_p95(),
            first: None,
            samples: Vec::with_capacity(options.requests),
            errors: Vec::new(),
        };
        for i in 0..=options.requests {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                budget_spent = true;
                break;
            }
            let request =
                build(&client, &base, &options, endpoint).timeout(options.request_timeout.min(remaining));
            let started = Instant::now();
            let outcome = send(request).await;
            let elapsed = started.elapsed();
            match outcome {
                Ok(()) if i == 0 => report.first = Some(elapsed),
                Ok(()) => report.samples.push(elapsed),
                Err(reason) => match report.errors.iter_mut().find(|(r, _)| *r == reason) {
                    Some((_, count)) => *count += 1,
                    None => report.errors.push((reason, 1)),
                },
            }
        }
        report.samples.sort_unstable();
        endpoints.push(report);
    }
    Ok(RemoteReport { base_url: base, requests: options.requests, endpoints, budget_spent })
}

/// Loopback by address, by `localhost`, or because every address the name resolves to is.
async fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let lookup = tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((host, port))).await;
    match lookup {
        Ok(Ok(addresses)) => {
            let addresses: Vec<_> = addresses.collect();
            !addresses.is_empty() && addresses.iter().all(|a| a.ip().is_loopback())
        }
        _ => false,
    }
}

fn build(
    client: &reqwest::Client,
    base: &str,
    options: &RemoteOptions,
    endpoint: Endpoint,
) -> reqwest::RequestBuilder {
    let mcp = format!("{base}{}", options.mcp_path);
    let token = options.token.as_ref();
    match endpoint {
        Endpoint::Health => client.get(format!("{base}/health")),
        Endpoint::Live => client.get(format!("{base}/health/live")),
        Endpoint::ToolsList => crate::smoke::mcp_request(client, &mcp, "tools/list", None, json!({}), token),
        Endpoint::ToolCall => {
            let params =
                json!({"name": "workspace_tool", "arguments": {"operation": "list_workspaces", "limit": 10}});
            crate::smoke::mcp_request(client, &mcp, "tools/call", Some("workspace_tool"), params, token)
        }
    }
}

/// Sends one request and reads the whole answer; an error names why it does not count.
async fn send(request: reqwest::RequestBuilder) -> Result<(), String> {
    let response = request
        .send()
        .await
        .map_err(|e| if e.is_timeout() { "timeout".to_owned() } else { "connection failed".to_owned() })?;
    let status = response.status();
    let body = response.bytes().await.map_err(|_| "body not read".to_owned())?;
    if !status.is_success() {
        return Err(format!("status {}", status.as_u16()));
    }
    // MCP answers: a JSON-RPC error or a failed tool result does not count as a measurement.
    if let Ok(message) = serde_json::from_slice::<Value>(&body) {
        if message["error"].is_object() {
            return Err(format!("JSON-RPC error {}", message["error"]["code"]));
        }
        if message["result"]["isError"] == true {
            return Err(format!("tool error {}", message["result"]["structuredContent"]["error"]["code"]));
        }
    }
    Ok(())
}

impl RemoteReport {
    pub fn render(&self) -> String {
        let mut out = format!(
            "atoms bench remote {} ({} sequential requests per endpoint on one connection, after one first request)\n\n",
            self.base_url, self.requests
        );
        out.push_str(&format!(
            "{:<44} {:>5} {:>6} {:>9} {:>9} {:>9} {:>9}  checklist\n",
            "endpoint", "ok", "errors", "first", "p50", "p95", "p99"
        ));
        for e in &self.endpoints {
            let q = |p| {
                if e.samples.is_empty() {
                    "-".to_owned()
                } else {
                    format!("{:.2} ms", ms(quantile(&e.samples, p)))
                }
            };
            let first = e.first.map_or("-".to_owned(), |d| format!("{:.2} ms", ms(d)));
            let errors: usize = e.errors.iter().map(|(_, n)| n).sum();
            let verdict = match (e.baseline_p95, e.samples.is_empty()) {
                (None, _) => "-".to_owned(),
                (Some(b), true) => format!("p95 < {} ms: ✗ no successful request", b.as_millis()),
                (Some(b), false) => {
                    let p95 = quantile(&e.samples, 0.95);
                    format!("p95 < {} ms: {}", b.as_millis(), if p95 < b { "✓" } else { "✗" })
                }
            };
            out.push_str(&format!(
                "{:<44} {:>5} {:>6} {:>9} {:>9} {:>9} {:>9}  {verdict}\n",
                e.name,
                e.samples.len(),
                errors,
                first,
                q(0.50),
                q(0.95),
                q(0.99)
            ));
            for (reason, count) in &e.errors {
                out.push_str(&format!("    {count} × {reason}\n"));
            }
        }
        if self.budget_spent {
            out.push_str("\nthe time budget ran out: some endpoints measured fewer requests\n");
        }
        out
    }
}
