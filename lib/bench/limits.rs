//! `atoms bench limits`: what the fleet-wide rate limiter adds to a request. Two `atoms serve`
//! processes on one real Redis — limiter off, and on with limits no request reaches — answer the
//! same requests: stateless `tools/list` (the limiter is then the request's only KV round trip)
//! and `ping` in a legacy session (the limiter rides in the session check's round trip). Reported:
//! p50/p95 over sequential requests and server CPU per request under load, side by side.
//!
//! Redis: `--redis-url`, else a throwaway `redis-server` from PATH on a free port.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::mcp::{TOOLS_LIST, free_port, load, post, wait_ready};
use super::{ChildServer, ms, quantile};

pub struct LimitsBenchReport {
    pub connections: usize,
    pub requests_per_connection: usize,
    /// (label, stateless p50/p95 samples, session ping samples, CPU per stateless request).
    pub runs: Vec<(&'static str, Vec<Duration>, Vec<Duration>, Duration)>,
}

const PING: &str = r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#;
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;

pub async fn run(
    atoms: &Path,
    redis_url: Option<String>,
    connections: usize,
    per_connection: usize,
    sequential: usize,
) -> Result<LimitsBenchReport, String> {
    let (_redis, redis_url) = match redis_url {
        Some(url) => (None, url),
        None => {
            let port = free_port()?;
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| {
                    format!("atoms bench limits needs redis-server on PATH (or --redis-url): {e}")
                })?;
            let redis = ChildServer(child);
            wait_ready(port).await?;
            (Some(redis), format!("redis://127.0.0.1:{port}"))
        }
    };
    let mut runs = Vec::new();
    for (label, enabled) in [("limiter off", "false"), ("limiter on", "true")] {
        let port = free_port()?;
        let server = ChildServer(
            Command::new(atoms)
                .args(["serve", "--no-database", "--port", &port.to_string()])
                .env_clear()
                .env("REDIS_URL", &redis_url)
                .env("RATE_LIMIT_ENABLED", enabled)
                .env("RATE_LIMIT_REQUESTS_PER_MINUTE", "1000000")
                .env("RATE_LIMIT_BURST_SIZE", "1000000")
                .env("LOG_LEVEL", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| e.to_string())?,
        );
        wait_ready(port).await?;
        let url = format!("http://127.0.0.1:{port}/api/mcp");
        load(server.0.id(), &url, None, connections, 50).await?;
        let (cpu, _) = load(server.0.id(), &url, None, connections, per_connection).await?;
        let client = reqwest::Client::new();
        let mut stateless = Vec::with_capacity(sequential);
        for _ in 0..sequential {
            let started = Instant::now();
            let response = post(&client, &url, TOOLS_LIST, "tools/list", "2026-07-28")
                .send()
                .await
                .map_err(|e| e.to_string())?;
            response.bytes().await.map_err(|e| e.to_string())?;
            stateless.push(started.elapsed());
        }
        let session = open_session(&client, &url).await?;
        let mut pings = Vec::with_capacity(sequential);
        for _ in 0..sequential {
            let started = Instant::now();
            let response = client
                .post(&url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2025-11-25")
                .header("mcp-session-id", &session)
                .body(PING)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("ping: HTTP {}", response.status()));
            }
            response.bytes().await.map_err(|e| e.to_string())?;
            pings.push(started.elapsed());
        }
        stateless.sort();
        pings.sort();
        runs.push((label, stateless, pings, cpu));
    }
    Ok(LimitsBenchReport { connections, requests_per_connection: per_connection, runs })
}

async fn open_session(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(INITIALIZE)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or("initialize gave no session")?;
    response.bytes().await.map_err(|e| e.to_string())?;
    let initialized = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", &session)
        .body(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    initialized.bytes().await.map_err(|e| e.to_string())?;
    Ok(session)
}

impl LimitsBenchReport {
    pub fn render(&self) -> String {
        let mut out = format!(
            "atoms serve on Redis, limiter off vs on (limits never reached); CPU under {} connections x {} stateless tools/list\n\
             {:<12} {:>26} {:>26} {:>16}\n",
            self.connections,
            self.requests_per_connection,
            "",
            "stateless tools/list p50/p95",
            "session ping p50/p95",
            "CPU/request"
        );
        for (label, stateless, pings, cpu) in &self.runs {
            out.push_str(&format!(
                "{label:<12} {:>17.3} / {:>6.3} ms {:>17.3} / {:>6.3} ms {:>13.1} us\n",
                ms(quantile(stateless, 0.5)),
                ms(quantile(stateless, 0.95)),
                ms(quantile(pings, 0.5)),
                ms(quantile(pings, 0.95)),
                cpu.as_secs_f64() * 1e6,
            ));
        }
        out
    }
}
