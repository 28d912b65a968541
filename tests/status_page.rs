//! `/status` in a real headless Chromium (Debian's `chromium`): after traffic and an alert, the
//! page renders its tables and charts with data, under the boundary's CSP (Chromium reports no
//! violation), and a screenshot is written to `target/status-page.png` for a person to look at.
//! Outside local mode it is refused without `METRICS_TOKEN`, like `/metrics`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::StatusCode;

fn chromium() -> PathBuf {
    let path = PathBuf::from("/usr/bin/chromium");
    assert!(
        path.is_file(),
        "Debian's chromium is not installed: apt-get install -y chromium (scripts/test installs it)"
    );
    path
}

/// Runs headless Chromium on `url` with `extra` arguments; returns (stdout, stderr).
fn headless(url: &str, extra: &[&str]) -> (String, String) {
    let profile = support::TempDir::new("chromium");
    let output = Command::new("timeout")
        .arg("120")
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.0.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(output.status.success(), "chromium failed: {}", String::from_utf8_lossy(&output.stderr));
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn get(url: &str) -> StatusCode {
    reqwest::get(url).await.expect("request").status()
}

#[tokio::test]
async fn the_status_page_renders_with_data_in_headless_chromium() {
    // A database nobody listens on: /health/ready answers 503 (errors on the page) and the
    // dependency alert fires (a recent alert on the page).
    // Its own process: in-process servers of one test binary would share one recorder.
    let dead_db = format!("postgres://atoms@127.0.0.1:{}/atoms", support::free_port());
    let server = support::atoms_serve(&[], &[("DATABASE_URL", &dead_db), ("LOG_LEVEL", "warn")]);
    let base = format!("http://127.0.0.1:{}", server.port);
    for _ in 0..30 {
        assert_eq!(get(&format!("{base}/health/live")).await, StatusCode::OK);
    }
    for _ in 0..4 {
        assert_eq!(get(&format!("{base}/health/ready")).await, StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(get(&format!("{base}/metrics?evaluate")).await, StatusCode::OK);

    let url = format!("{base}/status");
    let response = reqwest::get(&url).await.expect("GET /status");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    assert!(
        response.headers()["content-security-policy"]
            .to_str()
            .expect("ascii")
            .starts_with("default-src 'none'")
    );

    let (dom, log) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || headless(&url, &["--dump-dom"])
    })
    .await
    .expect("chromium");
    for expected in [
        "<h1>Atoms status</h1>",
        "Dependencies",
        "/health/live",
        "/health/ready",
        "<svg",
        "<polyline",
        "dependency_down",
        "firing",
        "down",
    ] {
        assert!(dom.contains(expected), "the rendered page lacks {expected:?}:\n{dom}");
    }
    assert!(!log.contains("Content Security Policy"), "Chromium reported a CSP violation:\n{log}");

    let screenshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/status-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let argument = format!("--screenshot={}", screenshot.display());
    tokio::task::spawn_blocking(move || {
        headless(&url, &[&argument, "--window-size=1000,1500", "--hide-scrollbars"])
    })
    .await
    .expect("chromium");
    let png = std::fs::read(&screenshot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real picture: {} bytes", png.len());
}

#[tokio::test]
async fn the_status_page_is_protected_like_metrics() {
    let redis = support::start_redis();
    let config = support::config(&[
        ("ATOMS_ENV", "production"),
        ("PUBLIC_URL", "https://atoms.example.com"),
        ("AUTHKIT_DOMAIN", "acme.authkit.app"),
        ("WORKOS_CLIENT_ID", "client_01TEST"),
        ("WORKOS_API_KEY", "sk_test_secret_value"),
        ("ATOMS_SESSION_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="),
        ("DATABASE_URL", "postgres://u@127.0.0.1:1/atoms"),
        ("REDIS_URL", &support::redis_url(&redis)),
        ("METRICS_TOKEN", "status-token-0123456789"),
    ]);
    let base = support::spawn_app(config).await;
    assert_eq!(get(&format!("{base}/status")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&format!("{base}/api/metrics?view=status")).await, StatusCode::UNAUTHORIZED);
    let authorized = reqwest::Client::new()
        .get(format!("{base}/api/metrics?view=status"))
        .bearer_auth("status-token-0123456789")
        .send()
        .await
        .expect("GET");
    assert_eq!(authorized.status(), StatusCode::OK);
    assert!(authorized.text().await.expect("html").contains("<h1>Atoms status</h1>"));
}
