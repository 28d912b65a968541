//! `atoms bench function`: measurements of a function binary as the platform sees it — cold start and
//! memory — reported as numbers, never asserted in tests.
//!
//! The binary is started the way Vercel's runtime starts it locally (`VERCEL_DEV_PORT`), on a
//! loopback port; only loopback traffic is generated, bounded in count.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::ChildServer;

/// Results of one benchmark run.
#[derive(Debug, Clone)]
pub struct BenchReport {
    pub binary_bytes: u64,
    /// Spawn → first `200` from `path`, per run, sorted.
    pub cold_starts: Vec<Duration>,
    /// Peak resident set size (`VmHWM`) after `requests` sequential requests.
    pub peak_rss_kib: u64,
    pub requests: usize,
    /// Median latency of the sequential requests.
    pub median_request: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot start {0}: {1}")]
    Spawn(String, std::io::Error),
    #[error("the binary did not answer {0} with 200 within 10 s")]
    NoAnswer(String),
    #[error("request failed: {0}")]
    Request(String),
    #[error("cannot read /proc for the process: {0}")]
    Proc(std::io::Error),
}

fn free_port() -> Result<u16, BenchError> {
    super::free_port().map_err(|e| BenchError::Request(e.to_string()))
}

fn spawn(binary: &Path, port: u16) -> Result<ChildServer, BenchError> {
    Command::new(binary)
        .env_clear()
        .env("VERCEL_DEV_PORT", port.to_string())
        .env("PORT", port.to_string())
        .env("LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(ChildServer)
        .map_err(|e| BenchError::Spawn(binary.display().to_string(), e))
}

/// What one measured request is: a GET of a path, or an MCP `server/discover` POST.
#[derive(Debug, Clone)]
pub enum Probe {
    Get(String),
    /// A stateless (2026-07-28) `server/discover` call to the MCP endpoint at this path. It
    /// carries no token, so only a binary serving its own loopback listener (built without a
    /// platform feature) answers it 200; a Vercel build answers 401.
    McpDiscover(String),
}

impl Probe {
    fn path(&self) -> &str {
        match self {
            Self::Get(path) | Self::McpDiscover(path) => path,
        }
    }

    fn request(&self, client: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
        match self {
            Self::Get(_) => client.get(url),
            Self::McpDiscover(_) => client
                .post(url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "server/discover")
                .body(
                    r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#,
                ),
        }
    }
}

/// Polls until `probe` answers 200 (1 ms between attempts).
async fn first_ok(client: &reqwest::Client, url: &str, probe: &Probe) -> Result<(), BenchError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(response) = probe.request(client, url).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Err(BenchError::NoAnswer(url.to_owned()))
}

/// Cold start over `runs` spawns, then peak RSS over `requests` sequential `probe` requests.
pub async fn run(
    binary: &Path,
    probe: &Probe,
    runs: usize,
    requests: usize,
) -> Result<BenchReport, BenchError> {
    let path = probe.path();
    let binary_bytes =
        std::fs::metadata(binary).map_err(|e| BenchError::Spawn(binary.display().to_string(), e))?.len();
    let mut cold_starts = Vec::with_capacity(runs);
    for _ in 0..runs {
        let port = free_port()?;
        let url = format!("http://127.0.0.1:{port}{path}");
        // A fresh client per run: the measured start includes a new TCP connection, as a
        // platform's first request to a new instance does.
        let client = reqwest::Client::new();
        let started = Instant::now();
        let _server = spawn(binary, port)?;
        first_ok(&client, &url, probe).await?;
        cold_starts.push(started.elapsed());
    }
    cold_starts.sort();

    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}{path}");
    let server = spawn(binary, port)?;
    let client = reqwest::Client::new();
    first_ok(&client, &url, probe).await?;
    let mut latencies = Vec::with_capacity(requests);
    for _ in 0..requests {
        let started = Instant::now();
        let response =
            probe.request(&client, &url).send().await.map_err(|e| BenchError::Request(e.to_string()))?;
        let _ = response.bytes().await.map_err(|e| BenchError::Request(e.to_string()))?;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let peak_rss_kib = peak_rss_kib(server.0.id())?;
    Ok(BenchReport {
        binary_bytes,
        cold_starts,
        peak_rss_kib,
        requests,
        median_request: latencies.get(latencies.len() / 2).copied().unwrap_or_default(),
    })
}

/// `VmHWM` (peak resident set) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> Result<u64, BenchError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(BenchError::Proc)?;
    Ok(status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0))
}

impl BenchReport {
    pub fn render(&self, binary: &Path) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let median = self.cold_starts.get(self.cold_starts.len() / 2).copied().unwrap_or_default();
        let (min, max) = (
            self.cold_starts.first().copied().unwrap_or_default(),
            self.cold_starts.last().copied().unwrap_or_default(),
        );
        format!(
            "binary            {}\n\
             size              {:.2} MiB ({} bytes)\n\
             cold start        median {:.1} ms over {} runs (min {:.1}, max {:.1})\n\
             requests          {} sequential, median {:.3} ms\n\
             peak RSS          {:.1} MiB (VmHWM)\n",
            binary.display(),
            self.binary_bytes as f64 / (1024.0 * 1024.0),
            self.binary_bytes,
            ms(median),
            self.cold_starts.len(),
            ms(min),
            ms(max),
            self.requests,
            ms(self.median_request),
            self.peak_rss_kib as f64 / 1024.0,
        )
    }
}
