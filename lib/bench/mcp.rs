//! `atoms bench mcp`: the MCP endpoint under load, beside a bare hyper server that returns the
//! same precomputed `tools/list` response bytes — measured in the same run, on the same machine.
//!
//! Reported: server CPU time per `tools/list` request at N connections (from `/proc/<pid>/stat`,
//! both servers as separate processes) and its ratio to the baseline; requests per second at N
//! connections; p50/p95 of `tools/list` (stateless, 2026-07-28) and `initialize` (2025-11-25)
//! over M sequential requests on one connection. Only loopback traffic, bounded in count.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{ChildServer, cpu_time, ms, quantile};

pub(crate) const TOOLS_LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;

#[derive(Debug)]
pub struct McpBenchReport {
    pub connections: usize,
    pub requests_per_connection: usize,
    pub atoms_cpu_per_request: Duration,
    pub baseline_cpu_per_request: Duration,
    pub atoms_rps: f64,
    pub baseline_rps: f64,
    pub tools_list: Vec<Duration>,
    pub initialize: Vec<Duration>,
}

pub(crate) fn free_port() -> Result<u16, String> {
    super::free_port().map_err(|e| e.to_string())
}

pub(crate) async fn wait_ready(port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Err(format!("nothing listens on port {port}"))
}

pub(crate) fn post(
    client: &reqwest::Client,
    url: &str,
    body: &'static str,
    method: &str,
    version: &str,
) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", version)
        .header("mcp-method", method)
        .body(body)
}

/// `connections` clients, each sending `per_connection` sequential `tools/list` calls (with
/// `token` as a bearer token, if given); returns (server CPU time per request, requests per
/// second).
pub(crate) async fn load(
    pid: u32,
    url: &str,
    token: Option<&str>,
    connections: usize,
    per_connection: usize,
) -> Result<(Duration, f64), String> {
    let before = cpu_time(pid)?;
    let started = Instant::now();
    let url = Arc::new(url.to_owned());
    let token: Option<Arc<str>> = token.map(Into::into);
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let url = url.clone();
            let token = token.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .map_err(|e| e.to_string())?;
                for _ in 0..per_connection {
                    let mut request = post(&client, &url, TOOLS_LIST, "tools/list", "2026-07-28");
                    if let Some(token) = &token {
                        request = request.bearer_auth(token);
                    }
                    let response = request.send().await.map_err(|e| e.to_string())?;
                    if !response.status().is_success() {
                        return Err(format!("HTTP {}", response.status()));
                    }
                    response.bytes().await.map_err(|e| e.to_string())?;
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    let elapsed = started.elapsed();
    let total = (connections * per_connection) as u32;
    let cpu = cpu_time(pid)?.saturating_sub(before);
    Ok((cpu / total.max(1), f64::from(total) / elapsed.as_secs_f64()))
}

async fn sequential(
    url: &str,
    body: &'static str,
    method: &str,
    version: &str,
    n: usize,
) -> Result<Vec<Duration>, String> {
    let client = reqwest::Client::new();
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let response = post(&client, url, body, method, version).send().await.map_err(|e| e.to_string())?;
        response.bytes().await.map_err(|e| e.to_string())?;
        samples.push(started.elapsed());
    }
    samples.sort();
    Ok(samples)
}

/// Runs the benchmark with `atoms` (a release build of this binary) as both servers.
pub async fn run(
    atoms: &Path,
    connections: usize,
    per_connection: usize,
    sequential_n: usize,
) -> Result<McpBenchReport, String> {
    let port = free_port()?;
    let server = ChildServer(
        Command::new(atoms)
            .args(["serve", "--no-database", "--port", &port.to_string()])
            .env_clear()
            .envs(super::trace_export_env())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?,
    );
    wait_ready(port).await?;
    let url = format!("http://127.0.0.1:{port}/api/mcp");

    // The exact bytes Atoms answers, for the baseline to serve.
    let client = reqwest::Client::new();
    let body = post(&client, &url, TOOLS_LIST, "tools/list", "2026-07-28")
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let body_file = std::env::temp_dir().join(format!("atoms-bench-body-{}", std::process::id()));
    std::fs::write(&body_file, &body).map_err(|e| e.to_string())?;
    let baseline_port = free_port()?;
    let baseline = ChildServer(
        Command::new(atoms)
            .args(["bench", "baseline-server", "--port", &baseline_port.to_string(), "--body"])
            .arg(&body_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?,
    );
    wait_ready(baseline_port).await?;
    let baseline_url = format!("http://127.0.0.1:{baseline_port}/api/mcp");

    // Warm both, then measure.
    load(server.0.id(), &url, None, connections, 50).await?;
    load(baseline.0.id(), &baseline_url, None, connections, 50).await?;
    let (atoms_cpu, atoms_rps) = load(server.0.id(), &url, None, connections, per_connection).await?;
    let (baseline_cpu, baseline_rps) =
        load(baseline.0.id(), &baseline_url, None, connections, per_connection).await?;
    let tools_list = sequential(&url, TOOLS_LIST, "tools/list", "2026-07-28", sequential_n).await?;
    let initialize = sequential(&url, INITIALIZE, "initialize", "2025-11-25", sequential_n).await?;
    let _ = std::fs::remove_file(&body_file);
    Ok(McpBenchReport {
        connections,
        requests_per_connection: per_connection,
        atoms_cpu_per_request: atoms_cpu,
        baseline_cpu_per_request: baseline_cpu,
        atoms_rps,
        baseline_rps,
        tools_list,
        initialize,
    })
}

/// The baseline: a bare hyper HTTP/1.1 server answering every request with `body`.
pub async fn baseline_server(port: u16, body: Vec<u8>) -> std::io::Result<()> {
    use http_body_util::Full;
    use hyper::body::Bytes;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let body = Bytes::from(body);
    loop {
        let (stream, _) = listener.accept().await?;
        let body = body.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |_request| {
                let response = hyper::Response::builder()
                    .header("content-type", "application/json")
                    .body(Full::new(body.clone()));
                async move { response }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

impl McpBenchReport {
    pub fn render(&self) -> String {
        let us = |d: Duration| d.as_secs_f64() * 1_000_000.0;
        let ratio = us(self.atoms_cpu_per_request) / us(self.baseline_cpu_per_request).max(0.001);
        format!(
            "tools/list under load: {} connections x {} requests\n  \
             atoms      server CPU {:.1} us/request, {:.0} requests/s\n  \
             bare hyper server CPU {:.1} us/request, {:.0} requests/s (same response bytes)\n  \
             ratio      {:.1}x\n\
             sequential on one connection ({} each):\n  \
             tools/list (2026-07-28, stateless) p50 {:.3} ms  p95 {:.3} ms\n  \
             initialize (2025-11-25, session)   p50 {:.3} ms  p95 {:.3} ms\n",
            self.connections,
            self.requests_per_connection,
            us(self.atoms_cpu_per_request),
            self.atoms_rps,
            us(self.baseline_cpu_per_request),
            self.baseline_rps,
            ratio,
            self.tools_list.len(),
            ms(quantile(&self.tools_list, 0.5)),
            ms(quantile(&self.tools_list, 0.95)),
            ms(quantile(&self.initialize, 0.5)),
            ms(quantile(&self.initialize, 0.95)),
        )
    }
}
