//! `atoms smoke <base-url>`: the deployment playbook's smoke tests against any deployment (a
//! Vercel preview, production, a Lambda function URL, a local `atoms serve`).
//!
//! Each check is one or two requests and says ✓ or ✗ with the reason, or – when it cannot apply
//! (the tool checks need `--token`). A check whose feature the deployment does not offer fails
//! with what was missing, never silently. The run is bounded: at most [`MAX_REQUESTS`] requests,
//! each with its own timeout, all within one time budget; redirects are not followed (a check
//! sees what the deployment answered). The token and Vercel's protection bypass secret are sent
//! only to the deployment's own origin and never printed.

mod checks;

pub(crate) use checks::mcp_request;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::secret::Secret;

/// At most this many requests per run (the checks need 10 when everything applies).
pub const MAX_REQUESTS: usize = 16;

/// What to smoke-test and how long to wait.
pub struct SmokeOptions {
    /// The deployment's origin, e.g. `https://atoms.example.com` (a path prefix is kept).
    pub base_url: String,
    /// A bearer token for the MCP route: enables `tools/list` and the read-only tool call.
    pub token: Option<Secret>,
    /// Vercel's Protection Bypass for Automation secret (`VERCEL_AUTOMATION_BYPASS_SECRET`):
    /// sent as `x-vercel-protection-bypass` on every request to the deployment's own origin,
    /// never elsewhere and never printed.
    pub protection_bypass: Option<Secret>,
    /// The MCP route (the deployment's `ATOMS_MCP_PATH`).
    pub mcp_path: String,
    /// Timeout of each request.
    pub request_timeout: Duration,
    /// Time budget of the whole run; checks not reached by then fail as "not run".
    pub budget: Duration,
}

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Not applicable to this run (e.g. no `--token`): neither passes nor fails the run.
    Skip,
}

/// One check: a stable name (for `--json` consumers and tests), its verdict and the reason.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

/// The result of one run.
#[derive(Debug, Serialize)]
pub struct SmokeReport {
    pub base_url: String,
    pub passed: bool,
    pub requests: usize,
    pub elapsed_ms: u64,
    pub checks: Vec<Check>,
}

#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    #[error("not a base URL: {0} (expected http:// or https://, e.g. https://atoms.example.com)")]
    BadUrl(String),
    #[error("the MCP path must start with '/': {0}")]
    BadPath(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Runs every check in order against `options.base_url`.
pub async fn run(options: SmokeOptions) -> Result<SmokeReport, SmokeError> {
    let base = normalise_base(&options.base_url)?;
    if !options.mcp_path.starts_with('/') {
        return Err(SmokeError::BadPath(options.mcp_path));
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(options.request_timeout)
        .user_agent(concat!("atoms-smoke/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SmokeError::Client(e.to_string()))?;
    let started = Instant::now();
    let mut probe = checks::Probe {
        client,
        base: base.clone(),
        mcp_path: options.mcp_path,
        token: options.token,
        protection_bypass: options.protection_bypass,
        request_timeout: options.request_timeout,
        deadline: started + options.budget,
        requests: 0,
    };
    let checks = checks::run_all(&mut probe).await;
    Ok(SmokeReport {
        base_url: base,
        passed: checks.iter().all(|c| c.status != Status::Fail),
        requests: probe.requests,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        checks,
    })
}

/// `https://host/` → `https://host`; refuses anything but an absolute http(s) URL without query.
fn normalise_base(raw: &str) -> Result<String, SmokeError> {
    let url = reqwest::Url::parse(raw).map_err(|_| SmokeError::BadUrl(raw.to_owned()))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(SmokeError::BadUrl(raw.to_owned()));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

impl SmokeReport {
    /// ✓/✗/– per check, then a summary line.
    pub fn render(&self) -> String {
        let mut out = format!("atoms smoke {}\n", self.base_url);
        for check in &self.checks {
            let mark = match check.status {
                Status::Pass => "✓",
                Status::Fail => "✗",
                Status::Skip => "–",
            };
            out.push_str(&format!("{mark} {}: {}\n", check.name, check.detail));
        }
        let count = |status| self.checks.iter().filter(|c| c.status == status).count();
        out.push_str(&format!(
            "{}: {} passed, {} failed, {} skipped ({} requests, {:.1} s)\n",
            if self.passed { "smoke passed" } else { "smoke FAILED" },
            count(Status::Pass),
            count(Status::Fail),
            count(Status::Skip),
            self.requests,
            self.elapsed_ms as f64 / 1000.0
        ));
        out
    }

    /// The report as one JSON document.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")) + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_normalised_or_refused() {
        assert_eq!(
            normalise_base("https://atoms.example.com/").ok().as_deref(),
            Some("https://atoms.example.com")
        );
        assert_eq!(normalise_base("http://127.0.0.1:3000").ok().as_deref(), Some("http://127.0.0.1:3000"));
        assert_eq!(
            normalise_base("https://h.example/prefix/").ok().as_deref(),
            Some("https://h.example/prefix")
        );
        for bad in ["atoms.example.com", "ftp://h.example", "https://h.example/?x=1", ""] {
            assert!(normalise_base(bad).is_err(), "{bad}");
        }
    }
}
