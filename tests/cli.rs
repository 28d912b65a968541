//! The `atoms` binary as an operator uses it: `check-env` and `serve` (and `scripts/serve`, which
//! sets up what `atoms serve` needs before building it).

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn atoms(args: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_atoms"))
        .args(args)
        .env_clear()
        .envs(vars.iter().copied())
        .output()
        .expect("run atoms")
}

#[test]
fn check_env_lists_what_production_lacks_without_printing_secrets() {
    let output = atoms(
        &["check-env", "--target", "production"],
        &[("SUPABASE_ANON_KEY", "anon-secret-value"), ("RATE_LIMIT_REQUESTS_PER_MINUTE", "fast")],
    );
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("SUPABASE_URL is missing"), "{stdout}");
    assert!(stdout.contains("RATE_LIMIT_REQUESTS_PER_MINUTE is malformed"), "{stdout}");
    assert!(!stdout.contains("anon-secret-value") && !stdout.contains("fast"), "{stdout}");
}

#[test]
fn check_env_passes_a_complete_production_environment() {
    let output = atoms(
        &["check-env", "--target", "production"],
        &[
            ("PUBLIC_URL", "https://atoms.example.com"),
            ("AUTHKIT_DOMAIN", "acme.authkit.app"),
            ("WORKOS_CLIENT_ID", "client_01TEST"),
            ("WORKOS_API_KEY", "sk_test_secret_value"),
            ("ATOMS_SESSION_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="),
            ("SUPABASE_URL", "https://abc.supabase.co"),
            ("SUPABASE_ANON_KEY", "anon-secret-value"),
            ("REDIS_URL", "rediss://:kv-password@kv.example.com:6380"),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("complete for target production"), "{stdout}");
    assert!(!stdout.contains("anon-secret-value") && !stdout.contains("kv-password"), "{stdout}");
    assert!(
        stdout
            .contains("browser sign-in: ready (WorkOS redirect URI https://atoms.example.com/auth/callback)"),
        "{stdout}"
    );
    assert!(stdout.contains("workos webhooks: not configured (WORKOS_WEBHOOK_SECRET)"), "{stdout}");
    assert!(!stdout.contains("sk_test_secret_value") && !stdout.contains("MDEyMzQ1"), "{stdout}");
}

#[test]
fn check_env_local_needs_nothing() {
    let output = atoms(&["check-env", "--target", "local"], &[]);
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn serve_refuses_a_public_bind_on_embedded_defaults() {
    let output = atoms(&["serve", "--host", "0.0.0.0", "--port", "0"], &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refusing to bind 0.0.0.0"), "{stderr}");
    assert!(stderr.contains("AUTHKIT_DOMAIN is missing"), "{stderr}");
}

#[test]
fn serve_prints_what_it_serves_and_answers_health() {
    let port = support::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_atoms"))
        .args(["serve", "--no-database", "--port", &port.to_string()])
        .env_clear()
        .env("REDIS_URL", format!("redis://:kv-password@127.0.0.1:{}", support::free_port()))
        .env("KV_TIMEOUT_MS", "300")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start atoms serve");
    let mut banner = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    stdout.read_line(&mut banner).expect("banner");
    assert!(banner.contains(&format!("serving on http://127.0.0.1:{port}")), "{banner}");
    let mut rest = String::new();
    while !rest.contains("/auth/webhooks/workos") && stdout.read_line(&mut rest).expect("banner") > 0 {}
    for route in ["GET  http://127.0.0.1:", "/auth/login", "/auth/token", "POST", "/auth/logout"] {
        assert!(rest.contains(route), "{route} in the banner: {rest}");
    }

    let body = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let url = format!("http://127.0.0.1:{port}/health");
            reqwest::get(&url).await.expect("health").text().await.expect("body")
        })
    })
    .join()
    .expect("client thread");
    assert!(body.contains("\"status\":\"unhealthy\""), "{body}");

    let _ = child.kill();
    let output = child.wait_with_output().expect("wait");
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(logs.contains("\"route\":\"/health\""), "one JSON line per request: {logs}");
    assert!(!logs.contains("kv-password"), "no secret in logs: {logs}");
}

#[test]
fn serve_without_postgres_names_the_fix() {
    let data = support::TempDir::new("serve-no-postgres");
    // Hidden binaries: no PATH at all (env_clear) and a directory that does not exist.
    let output = atoms(
        &["serve", "--port", "0"],
        &[
            ("ATOMS_DATA_DIR", &data.0.display().to_string()),
            ("ATOMS_POSTGRES_BIN_DIR", "/nonexistent/pg/bin"),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot start the local database"), "{stderr}");
    assert!(stderr.contains("ATOMS_POSTGRES_BIN_DIR=/nonexistent/pg/bin"), "says where it looked: {stderr}");
    assert!(stderr.contains("`apt-get install -y postgresql`"), "names the fix: {stderr}");
    assert!(output.stdout.is_empty(), "serves nothing: {}", String::from_utf8_lossy(&output.stdout));
}

/// `scripts/serve`, the README's first command, checks for PostgreSQL before it builds anything.
#[test]
fn the_serve_script_reports_missing_postgres_before_building() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/serve");
    let output = Command::new("bash")
        .arg(script)
        .args(["--port", "0"])
        .env("ATOMS_POSTGRES_BIN_DIR", "/nonexistent/pg/bin")
        .env_remove("DATABASE_URL")
        .env_remove("SUPABASE_URL")
        .env_remove("NEXT_PUBLIC_SUPABASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/serve");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("ATOMS_POSTGRES_BIN_DIR=/nonexistent/pg/bin"), "{stderr}");
    assert!(stderr.contains("`apt-get install -y postgresql`"), "names the fix: {stderr}");
    assert!(!stdout.contains("cargo build") && !stderr.contains("Finished"), "no build: {stdout}{stderr}");
}

#[test]
fn serve_starts_an_embedded_database_and_reuses_it() {
    let data = support::TempDir::new("serve-data");
    let data_dir = data.0.display().to_string();
    let health = |port: u16| {
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            runtime.block_on(async {
                let url = format!("http://127.0.0.1:{port}/health");
                reqwest::get(&url).await.expect("health").json::<serde_json::Value>().await.expect("json")
            })
        })
        .join()
        .expect("client thread")
    };
    for _ in 0..2 {
        let port = support::free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_atoms"))
            .args(["serve", "--port", &port.to_string()])
            .env_clear()
            .env("ATOMS_DATA_DIR", &data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start atoms serve");
        let mut banner = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut banner).expect("banner");
        assert!(banner.contains("serving on"), "{banner}");
        let report = health(port);
        assert_eq!(report["checks"]["database"]["status"], "ok", "{report}");
        assert_eq!(report["checks"]["database"]["kind"], "direct");
        let _ = child.kill();
        let _ = child.wait();
    }
    // The cluster keeps running between `atoms serve` runs (that is the reuse); stop it now.
    let cluster = atoms::db::local::LocalPostgres::start(&data.0.join("postgres")).expect("reuse cluster");
    cluster.stop().expect("stop cluster");
}

/// A complete production configuration that does not say `ATOMS_ENV`, with KV on `redis_url`.
fn production_without_atoms_env(redis_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("PUBLIC_URL", "https://atoms.example.com".to_owned()),
        ("AUTHKIT_DOMAIN", "acme.authkit.app".to_owned()),
        ("WORKOS_CLIENT_ID", "client_01TEST".to_owned()),
        ("WORKOS_API_KEY", "sk_test_secret_value".to_owned()),
        ("ATOMS_SESSION_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_owned()),
        ("SUPABASE_URL", "https://abc.supabase.co".to_owned()),
        ("SUPABASE_ANON_KEY", "anon-secret-value".to_owned()),
        ("REDIS_URL", redis_url.to_owned()),
    ]
}

/// Status of an MCP `initialize` without a token, sent to `port` as `Host: atoms.example.com`.
fn initialize_without_token(port: u16) -> u16 {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "cli-test", "version": "1"}}});
            let response = reqwest::Client::new()
                .post(format!("http://127.0.0.1:{port}/api/mcp"))
                .header("host", "atoms.example.com")
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(body.to_string())
                .send()
                .await
                .expect("initialize");
            response.status().as_u16()
        })
    })
    .join()
    .expect("client thread")
}

#[test]
fn a_public_bind_never_hands_out_the_local_identity() {
    let redis = support::start_redis();
    let vars = production_without_atoms_env(&support::redis_url(&redis));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = support::atoms_serve(&["--host", "0.0.0.0"], &vars);
    assert_eq!(initialize_without_token(server.port), 401, "no token on a public bind is no identity");
}

#[test]
fn atoms_env_cannot_make_a_vercel_production_process_local() {
    let redis = support::start_redis();
    let mut vars = production_without_atoms_env(&support::redis_url(&redis));
    vars.push(("ATOMS_ENV", "development".to_owned()));
    vars.push(("VERCEL_ENV", "production".to_owned()));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = support::atoms_serve(&[], &vars);
    assert_eq!(initialize_without_token(server.port), 401, "even on loopback");

    let output = atoms(&["check-env"], &vars);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("complete for target production"), "{stdout}");
    let incomplete = atoms(
        &["check-env", "--target", "local"],
        &[("ATOMS_ENV", "development"), ("VERCEL_ENV", "production")],
    );
    let stdout = String::from_utf8_lossy(&incomplete.stdout);
    assert_eq!(incomplete.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("not ready for target production"), "{stdout}");
    assert!(stdout.contains("--target local was asked for"), "{stdout}");
}

#[test]
fn check_env_reports_the_target_each_environment_runs_as() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "complete for target local"),
        (&[("ATOMS_ENV", "development")], "complete for target local"),
        (&[("VERCEL_ENV", "development")], "complete for target local"),
        (&[("VERCEL_ENV", "preview"), ("ATOMS_ENV", "local")], "not ready for target preview"),
        (&[("AWS_LAMBDA_FUNCTION_NAME", "atoms-mcp")], "not ready for target production"),
        (&[("ATOMS_ENV", "production")], "not ready for target production"),
    ];
    for (vars, expected) in cases {
        let output = atoms(&["check-env"], vars);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains(expected), "{vars:?}: {stdout}");
    }
}

#[test]
fn serve_refuses_an_mcp_path_over_another_route_instead_of_panicking() {
    for path in ["//", "/health"] {
        let output = atoms(&["serve", "--no-database", "--port", "0"], &[("ATOMS_MCP_PATH", path)]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{path}: {stderr}");
        assert!(stderr.contains("ATOMS_MCP_PATH is malformed"), "{stderr}");
    }
    let output = atoms(&["serve", "--no-database", "--port", "0"], &[("RUST_LOG", "atoms=loud")]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("RUST_LOG is malformed"));
}

#[test]
fn dev_token_prints_a_token_signed_by_a_private_key() {
    let dir = std::env::temp_dir().join(format!("atoms-cli-token-{}", uuid::Uuid::new_v4().simple()));
    let data_dir = dir.to_str().expect("utf-8");
    let output = atoms(
        &["dev-token", "--sub", "user_alice", "--email", "alice@example.com", "--ttl", "30m"],
        &[("ATOMS_DATA_DIR", data_dir)],
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let token = String::from_utf8(output.stdout).expect("utf-8");
    assert_eq!(token.trim().split('.').count(), 3, "one JWT on stdout: {token}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("dev-token.key")).expect("key file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the key is private");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let identity = atoms::auth::dev_token::DevTokens::new(&dir).verify(token.trim(), now).expect("verifies");
    assert_eq!(identity.subject, "user_alice");
    let bad = atoms(&["dev-token", "--sub", "x", "--ttl", "forever"], &[("ATOMS_DATA_DIR", data_dir)]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("--ttl"));
    let _ = std::fs::remove_dir_all(dir);
}
