//! One probe per external dependency, each bounded by `ATOMS_HEALTH_TIMEOUT_MS`.
//!
//! A dependency that is not configured reports `not_configured` — never `ok`. Error details name
//! the failure kind only: no URLs with credentials, no keys, no response bodies.

use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::state::AppState;

/// The outcome of one probe.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub status: CheckStatus,
    /// What was checked, e.g. `memory`, `redis`, `postgrest`, `tcp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    Error,
    NotConfigured,
}

impl Check {
    fn not_configured() -> Self {
        Self { status: CheckStatus::NotConfigured, kind: None, latency_ms: None, error: None }
    }

    pub fn failed(&self) -> bool {
        self.status == CheckStatus::Error
    }
}

/// Runs `probe` with the health timeout and measures it.
async fn timed<F>(kind: &'static str, timeout: Duration, probe: F) -> Check
where
    F: Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    let outcome = tokio::time::timeout(timeout, probe)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {}ms", timeout.as_millis())));
    let latency_ms = Some((started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0);
    match outcome {
        Ok(()) => Check { status: CheckStatus::Ok, kind: Some(kind), latency_ms, error: None },
        Err(error) => Check { status: CheckStatus::Error, kind: Some(kind), latency_ms, error: Some(error) },
    }
}

/// The KV: one `PING`.
pub async fn kv(state: &AppState) -> Check {
    let kv = state.kv.clone();
    timed(kv.backend_name(), state.config.health_timeout, async move {
        kv.ping().await.map_err(|e| e.to_string())
    })
    .await
}

/// The database: `select 1` through the direct adapter, or PostgREST's root.
pub async fn database(state: &AppState) -> Check {
    let Some(db) = state.db.clone() else {
        return Check::not_configured();
    };
    timed(db.adapter_name(), state.config.health_timeout, async move {
        db.ping().await.map_err(|e| e.to_string())
    })
    .await
}

/// AuthKit's JWKS: reachable and shaped like a key set.
pub async fn auth_jwks(state: &AppState) -> Check {
    let Some(domain) = &state.config.auth.authkit_domain else {
        return Check::not_configured();
    };
    let timeout = state.config.health_timeout;
    let request = state.http.get(format!("https://{domain}/oauth2/jwks")).timeout(timeout);
    timed("jwks", timeout, async move {
        let body: serde_json::Value =
            expect_success(request).await?.json().await.map_err(|_| "JWKS is not JSON".to_owned())?;
        match body.get("keys").and_then(|keys| keys.as_array()) {
            Some(keys) if !keys.is_empty() => Ok(()),
            _ => Err("JWKS has no keys".to_owned()),
        }
    })
    .await
}

async fn expect_success(request: reqwest::RequestBuilder) -> Result<reqwest::Response, String> {
    let response = request.send().await.map_err(|e| {
        if e.is_timeout() {
            "timed out".to_owned()
        } else if e.is_connect() {
            "connection failed".to_owned()
        } else {
            "request failed".to_owned()
        }
    })?;
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(format!("HTTP {}", response.status().as_u16()))
    }
}
