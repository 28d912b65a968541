//! The official MCP conformance suite (`@modelcontextprotocol/conformance`) against
//! `atoms serve --conformance` on loopback:
//!
//! - 0.1.16, the active server suite (2025-06-18 / 2025-11-25): every scenario must pass;
//! - 0.2.0-alpha.12 with `--requirements 2026-07-28`: every scored scenario must pass without
//!   warnings, except any listed with a reason in `tests/conformance/2026-07-28-expected-failures.yml`
//!   (empty today).
//!
//! Runs only in builds with `--features conformance` (scripts/test does that); the summaries are
//! printed (run with `--nocapture` to see them).
#![cfg(feature = "conformance")]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn serve() -> (support::Process, String) {
    let server = support::atoms_serve(&["--conformance"], &[("LOG_LEVEL", "warn")]);
    let url = format!("http://localhost:{}/api/mcp", server.port);
    (server, url)
}

/// Runs one suite; returns (success, summary text).
fn run_suite(package: &str, url: &str, extra: &[&str], results: &Path) -> (bool, String) {
    let tools = support::test_tools_dir();
    let node = tools.join("node_modules/.bin/node");
    let suite = tools.join("node_modules").join(package).join("dist/index.js");
    assert!(
        node.is_file() && suite.is_file(),
        "{package} is not installed under {}: run scripts/test",
        tools.display()
    );
    let output = Command::new(node)
        .arg(suite)
        .args(["server", "--url", url])
        .args(extra)
        .current_dir(results)
        .stdin(Stdio::null())
        .output()
        .expect("run the conformance suite");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let summary = stdout.split("=== SUMMARY ===").nth(1).unwrap_or(&stdout).trim().to_owned();
    (output.status.success(), summary)
}

fn results_dir() -> support::TempDir {
    support::TempDir::new("conformance")
}

#[test]
fn the_active_server_suite_passes_completely() {
    let (_server, url) = serve();
    let results = results_dir();
    let (ok, summary) = run_suite("@modelcontextprotocol/conformance", &url, &[], &results.0);
    eprintln!("MCP conformance 0.1.16, active server suite:\n{summary}");
    assert!(ok, "conformance failures:\n{summary}");
    let scenarios = summary.lines().filter(|l| l.starts_with('✓') || l.starts_with('✗')).count();
    assert_eq!(scenarios, 30, "the active suite has 30 server scenarios:\n{summary}");
    assert!(summary.contains(", 0 failed") && !summary.contains('✗'), "{summary}");
    assert!(!summary.to_lowercase().contains("warning"), "no warnings:\n{summary}");
}

#[test]
fn the_2026_07_28_requirements_pass_except_the_listed_ones() {
    let (_server, url) = serve();
    let results = results_dir();
    let baseline: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/2026-07-28-expected-failures.yml");
    let baseline = baseline.display().to_string();
    let args = ["--requirements", "2026-07-28", "--expected-failures", &baseline];
    let (ok, summary) = run_suite("conformance-next", &url, &args, &results.0);
    eprintln!("MCP conformance 0.2.0-alpha.12, --requirements 2026-07-28:\n{summary}");
    assert!(ok, "unexpected conformance results (see the baseline file):\n{summary}");
}
