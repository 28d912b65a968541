//! `atoms bench auth`: what token verification costs. Two `atoms serve` processes answer the
//! same stateless `tools/list` — one in local mode (no token), one in `authkit` mode with a
//! bearer token (RS256, 2048-bit key, with a `sid`, so the revocation lookup is included) — and
//! the server CPU per request of both is measured under the same load, warm (keys and the
//! verified token cached). The cold side: the first authenticated request of a fresh process
//! (one JWKS fetch and one RSA verification) beside its second.
//!
//! The signing key is throwaway, made by the `openssl` CLI; the JWKS is served from this
//! process on loopback. Only loopback traffic, bounded in count.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::json;

use super::mcp::{TOOLS_LIST, free_port, load, post, wait_ready};
use super::{ChildServer, ms, quantile};

#[derive(Debug)]
pub struct AuthBenchReport {
    pub connections: usize,
    pub requests_per_connection: usize,
    pub local_cpu: Duration,
    pub authkit_cpu: Duration,
    pub local_rps: f64,
    pub authkit_rps: f64,
    /// First authenticated request of fresh processes (JWKS fetch + RSA check), sorted.
    pub cold_first: Vec<Duration>,
    /// The second request of the same processes, sorted.
    pub cold_second: Vec<Duration>,
    pub jwks_fetches: usize,
}

/// A throwaway RSA key pair from `openssl genpkey`.
fn signing_key() -> Result<ring::signature::RsaKeyPair, String> {
    let output = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-outform", "DER"])
        .output()
        .map_err(|e| format!("atoms bench auth needs the openssl CLI for a throwaway key: {e}"))?;
    if !output.status.success() {
        return Err(format!("openssl genpkey failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    ring::signature::RsaKeyPair::from_der(&output.stdout).map_err(|e| format!("openssl key: {e}"))
}

fn sign(key: &ring::signature::RsaKeyPair, claims: &serde_json::Value) -> Result<String, String> {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "bench"});
    let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| "signing failed".to_owned())?;
    Ok(format!("{input}.{}", B64.encode(signature)))
}

/// Serves `{"keys": [jwk]}` at `/oauth2/jwks` on `port`, counting fetches.
async fn jwks_server(port: u16, jwk: serde_json::Value, fetches: Arc<AtomicUsize>) -> Result<(), String> {
    let body = json!({ "keys": [jwk] }).to_string();
    let app = axum::Router::new().route(
        "/oauth2/jwks",
        axum::routing::get(move || {
            fetches.fetch_add(1, Ordering::Relaxed);
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(())
}

fn serve(atoms: &Path, port: u16, env: &[(&str, String)]) -> Result<ChildServer, String> {
    Ok(ChildServer(
        Command::new(atoms)
            .args(["serve", "--no-database", "--port", &port.to_string()])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?,
    ))
}

/// One authenticated `tools/list`; its latency.
async fn timed_list(client: &reqwest::Client, url: &str, token: &str) -> Result<Duration, String> {
    let started = Instant::now();
    let response = post(client, url, TOOLS_LIST, "tools/list", "2026-07-28")
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    response.bytes().await.map_err(|e| e.to_string())?;
    Ok(started.elapsed())
}

pub async fn run(
    atoms: &Path,
    connections: usize,
    per_connection: usize,
    cold_runs: usize,
) -> Result<AuthBenchReport, String> {
    let key = signing_key()?;
    let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(key.public());
    let jwk = json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "bench",
        "n": B64.encode(&public.n), "e": B64.encode(&public.e)});
    let jwks_port = free_port()?;
    let fetches = Arc::new(AtomicUsize::new(0));
    jwks_server(jwks_port, jwk, fetches.clone()).await?;
    let issuer = format!("http://127.0.0.1:{jwks_port}");

    let authkit_env = |port: u16| {
        vec![
            ("ATOMS_AUTH_MODE", "authkit".to_owned()),
            ("AUTHKIT_DOMAIN", issuer.clone()),
            ("WORKOS_CLIENT_ID", "client_bench".to_owned()),
            ("PUBLIC_URL", format!("http://127.0.0.1:{port}")),
            ("LOG_LEVEL", "warn".to_owned()),
        ]
    };
    let now = crate::clock::now_unix() as i64;
    let token_for = |port: u16| {
        sign(
            &key,
            &json!({"iss": issuer, "sub": "user_bench", "sid": "session_bench", "aud": format!("http://127.0.0.1:{port}/api/mcp"),
                "iat": now, "exp": now + 3600, "scope": "openid profile email"}),
        )
    };

    // Warm: the same load against both modes.
    let local_port = free_port()?;
    let local = serve(atoms, local_port, &[("LOG_LEVEL", "warn".to_owned())])?;
    let authkit_port = free_port()?;
    let authkit = serve(atoms, authkit_port, &authkit_env(authkit_port))?;
    wait_ready(local_port).await?;
    wait_ready(authkit_port).await?;
    let local_url = format!("http://127.0.0.1:{local_port}/api/mcp");
    let authkit_url = format!("http://127.0.0.1:{authkit_port}/api/mcp");
    let token = token_for(authkit_port)?;
    load(local.0.id(), &local_url, None, connections, 50).await?;
    load(authkit.0.id(), &authkit_url, Some(&token), connections, 50).await?;
    let (local_cpu, local_rps) = load(local.0.id(), &local_url, None, connections, per_connection).await?;
    let (authkit_cpu, authkit_rps) =
        load(authkit.0.id(), &authkit_url, Some(&token), connections, per_connection).await?;
    drop((local, authkit));

    // Cold: fresh processes, first and second authenticated request.
    let before = fetches.load(Ordering::Relaxed);
    let (mut cold_first, mut cold_second) = (Vec::new(), Vec::new());
    for _ in 0..cold_runs {
        let port = free_port()?;
        let _server = serve(atoms, port, &authkit_env(port))?;
        wait_ready(port).await?;
        let url = format!("http://127.0.0.1:{port}/api/mcp");
        let token = token_for(port)?;
        let client = reqwest::Client::new();
        cold_first.push(timed_list(&client, &url, &token).await?);
        cold_second.push(timed_list(&client, &url, &token).await?);
    }
    cold_first.sort();
    cold_second.sort();
    Ok(AuthBenchReport {
        connections,
        requests_per_connection: per_connection,
        local_cpu,
        authkit_cpu,
        local_rps,
        authkit_rps,
        cold_first,
        cold_second,
        jwks_fetches: fetches.load(Ordering::Relaxed) - before,
    })
}

impl AuthBenchReport {
    pub fn render(&self) -> String {
        let us = |d: Duration| d.as_secs_f64() * 1_000_000.0;
        format!(
            "stateless tools/list under load: {} connections x {} requests\n  \
             local mode (no token)            server CPU {:.1} us/request, {:.0} requests/s\n  \
             authkit mode (RS256 bearer, sid) server CPU {:.1} us/request, {:.0} requests/s\n  \
             ratio                            {:.2}x (warm: keys and the verified token cached)\n\
             cold instance, {} fresh processes ({} JWKS fetches in all):\n  \
             first authenticated request  p50 {:.3} ms  p95 {:.3} ms (JWKS fetch + RSA check)\n  \
             second request               p50 {:.3} ms  p95 {:.3} ms\n",
            self.connections,
            self.requests_per_connection,
            us(self.local_cpu),
            self.local_rps,
            us(self.authkit_cpu),
            self.authkit_rps,
            us(self.authkit_cpu) / us(self.local_cpu).max(0.001),
            self.cold_first.len(),
            self.jwks_fetches,
            ms(quantile(&self.cold_first, 0.5)),
            ms(quantile(&self.cold_first, 0.95)),
            ms(quantile(&self.cold_second, 0.5)),
            ms(quantile(&self.cold_second, 0.95)),
        )
    }
}
