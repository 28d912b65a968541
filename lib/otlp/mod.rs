//! Optional trace export over OTLP/HTTP JSON, on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! The spans are the ones every log line already carries — `request` (the HTTP boundary),
//! `tool` (`crate::tools::call`), `db` (`Db::rpc`), `kv` (`Kv::pipeline`) — so logs and traces
//! tell the same story. [`layer`] adds a `tracing` layer that records their ids, parents, fields
//! and timings ([`layer`](self::layer) module) into a bounded batch; the hosts export it where
//! metrics flush: after each response on Vercel (`wait_until`), before a Lambda invocation
//! returns, every `OTEL_BSP_SCHEDULE_DELAY` (and when a batch fills, and at shutdown) in
//! `atoms serve`. A `traceparent` header (W3C Trace Context) on a request is continued.
//!
//! Off (the default) nothing is installed: [`start_request`] and the host hooks are one
//! atomic load.

mod export;
mod ids;
mod json;
mod layer;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::{HeaderMap, Method};
use tracing::Span;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::registry::LookupSpan;

use crate::config::TraceExportConfig;
use export::Exporter;
use layer::{OtlpLayer, Value};

/// The process's exporter, once [`layer`] installed one.
static EXPORTER: OnceLock<Exported> = OnceLock::new();

struct Exported {
    exporter: Arc<Exporter>,
    schedule_delay: Duration,
}

/// The layer that records this crate's spans for export, when `config` asks for export; also
/// makes the exporter the process's (the first call wins, like the subscriber itself).
pub fn layer<S>(config: Option<&TraceExportConfig>) -> Option<impl Layer<S> + Send + Sync + 'static>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let config = config?;
    let exporter = match Exporter::new(config) {
        Ok(exporter) => Arc::new(exporter),
        Err(error) => {
            tracing::error!(error = %error, "trace export is off: its HTTP client cannot be built");
            return None;
        }
    };
    let batch = exporter.batch.clone();
    if EXPORTER.set(Exported { exporter, schedule_delay: config.schedule_delay }).is_err() {
        return None;
    }
    // Our own spans only, whatever `LOG_LEVEL` says: the fields of other crates' spans are not
    // ours to vouch for.
    let filter = Targets::new().with_target("atoms", LevelFilter::INFO);
    Some(OtlpLayer { batch }.with_filter(filter))
}

/// Whether spans are being exported.
pub fn enabled() -> bool {
    EXPORTER.get().is_some()
}

/// Called by the boundary on a new `request` span: continues the caller's trace when a valid
/// `traceparent` came with it, and names the method and route pattern (never the raw path).
pub fn start_request(span: &Span, headers: &HeaderMap, method: &Method, route: &str) {
    if !enabled() {
        return;
    }
    let remote =
        headers.get("traceparent").and_then(|value| value.to_str().ok()).and_then(ids::parse_traceparent);
    let attributes = [
        ("http.request.method", Value::Str(method.as_str().to_owned())),
        ("http.route", Value::Str(route.to_owned())),
    ];
    layer::amend(span, remote, &mut attributes.into_iter());
}

/// Called by the boundary with the response's status (a 5xx marks the span as an error).
pub fn end_request(span: &Span, status: u16) {
    if enabled() {
        layer::amend(
            span,
            None,
            &mut std::iter::once(("http.response.status_code", Value::Int(i64::from(status)))),
        );
    }
}

/// Vercel: the export of what finished, to hand to `wait_until` after the response; `None`
/// when export is off, nothing waits or an export is already running.
pub fn after_response() -> Option<impl Future<Output = ()> + Send + 'static> {
    let exported = EXPORTER.get()?;
    if exported.exporter.batch.is_empty() {
        return None;
    }
    let exporter = exported.exporter.clone();
    Some(async move {
        if let Ok(_running) = exporter.running.try_lock() {
            exporter.export().await;
        }
    })
}

/// Lambda (before the invocation returns) and shutdown: exports what finished and waits for
/// it (each POST bounded by `OTEL_EXPORTER_OTLP_TIMEOUT`).
pub async fn flush() {
    let Some(exported) = EXPORTER.get() else { return };
    let _running = exported.exporter.running.lock().await;
    exported.exporter.export().await;
}

/// `atoms serve`: exports every `OTEL_BSP_SCHEDULE_DELAY`, and at once when a batch fills;
/// `None` when export is off.
pub fn spawn_timer() -> Option<tokio::task::JoinHandle<()>> {
    let exported = EXPORTER.get()?;
    let (exporter, delay) = (exported.exporter.clone(), exported.schedule_delay);
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + delay, delay);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = exporter.batch.full.notified() => {}
            }
            let _running = exporter.running.lock().await;
            exporter.export().await;
        }
    }))
}
