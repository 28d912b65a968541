//! The batch of finished spans and its export: OTLP/HTTP with the JSON encoding (`POST
//! {endpoint}/v1/traces`, `Content-Type: application/json`), one request per batch.
//!
//! The request path only ever [`Batch::push`]es: a short critical section, no I/O, and when
//! [`CAPACITY`] spans are waiting the span is dropped and counted instead (a receiver that is
//! down or slow costs the requests nothing). [`Exporter::export`] takes what is waiting and
//! POSTs it with a timeout; the hosts decide when (`super`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::json::{Resource, encode};
use super::layer::FinishedSpan;
use crate::config::TraceExportConfig;

/// The most spans waiting for export; beyond it spans are dropped (and counted).
pub(crate) const CAPACITY: usize = 2048;
/// A batch this large is exported without waiting for the timer (`atoms serve`).
pub(crate) const BATCH_SIZE: usize = 512;

/// Finished spans waiting for export.
pub(crate) struct Batch {
    spans: Mutex<Vec<FinishedSpan>>,
    dropped: AtomicU64,
    /// Woken when a full batch is waiting.
    pub(crate) full: tokio::sync::Notify,
}

impl Batch {
    pub(crate) fn new() -> Self {
        Self { spans: Mutex::new(Vec::new()), dropped: AtomicU64::new(0), full: tokio::sync::Notify::new() }
    }

    pub(crate) fn push(&self, span: FinishedSpan) {
        let waiting = {
            let mut spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
            if spans.len() >= CAPACITY {
                drop(spans);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            spans.push(span);
            spans.len()
        };
        if waiting == BATCH_SIZE {
            self.full.notify_one();
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.spans.lock().unwrap_or_else(PoisonError::into_inner).is_empty()
    }

    fn take(&self) -> Vec<FinishedSpan> {
        std::mem::take(&mut *self.spans.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Spans dropped since the last call.
    fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }
}

/// Sends batches to the configured receiver.
pub(crate) struct Exporter {
    pub(crate) batch: std::sync::Arc<Batch>,
    client: reqwest::Client,
    url: reqwest::Url,
    headers: reqwest::header::HeaderMap,
    resource: Resource,
    /// One export at a time; later callers skip (or, at shutdown, wait).
    pub(crate) running: tokio::sync::Mutex<()>,
    /// Whether the last export failed: a failure is logged when it starts and when it ends,
    /// not once per batch.
    failing: AtomicBool,
}

/// Why an export did not reach the receiver (logged; the spans are dropped).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExportError {
    #[error("the trace receiver did not answer within the timeout")]
    Timeout,
    #[error("the trace receiver cannot be reached ({0})")]
    Connect(String),
    #[error("the trace receiver answered HTTP {0}")]
    Status(u16),
}

impl Exporter {
    pub(crate) fn new(config: &TraceExportConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(3)))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("atoms/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &config.headers {
            // Both were checked when the configuration was read.
            if let (Ok(name), Ok(mut value)) = (
                reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                reqwest::header::HeaderValue::from_str(value.expose()),
            ) {
                value.set_sensitive(true);
                headers.insert(name, value);
            }
        }
        Ok(Self {
            batch: std::sync::Arc::new(Batch::new()),
            client,
            url: config.url.clone(),
            headers,
            resource: Resource::new(&config.service_name),
            running: tokio::sync::Mutex::new(()),
            failing: AtomicBool::new(false),
        })
    }

    /// Exports whatever is waiting, in batches of at most [`BATCH_SIZE`]; the caller holds
    /// [`Self::running`]. Failures are logged (without the URL's secrets or the headers).
    pub(crate) async fn export(&self) {
        let mut spans = self.batch.take();
        let dropped = self.batch.take_dropped();
        if dropped > 0 {
            tracing::warn!(dropped, "trace export: spans dropped, the export queue was full");
        }
        while !spans.is_empty() {
            let rest = spans.split_off(spans.len().min(BATCH_SIZE));
            let result = self.post(&spans).await;
            match (&result, self.failing.swap(result.is_err(), Ordering::Relaxed)) {
                (Err(error), false) => {
                    tracing::warn!(error = %error, spans = spans.len(), "trace export failed; spans dropped until it works again");
                }
                (Ok(()), true) => tracing::info!("trace export works again"),
                _ => {}
            }
            spans = rest;
        }
    }

    async fn post(&self, spans: &[FinishedSpan]) -> Result<(), ExportError> {
        let body = encode(&self.resource, spans);
        let response = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|error| {
                if error.is_timeout() {
                    ExportError::Timeout
                } else {
                    // reqwest's message names the URL; keep only the kind of failure.
                    ExportError::Connect(
                        if error.is_connect() { "connection failed" } else { "request failed" }.into(),
                    )
                }
            })?;
        let status = response.status();
        // Drain the (small) answer so the connection can be reused; bounded by the timeout.
        let _ = response.bytes().await;
        if status.is_success() { Ok(()) } else { Err(ExportError::Status(status.as_u16())) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::otlp::layer::test_span as span;

    #[test]
    fn a_full_batch_drops_and_counts() {
        let batch = Batch::new();
        for _ in 0..CAPACITY + 3 {
            batch.push(span("kv", None, Vec::new()));
        }
        assert_eq!(batch.take().len(), CAPACITY);
        assert_eq!(batch.take_dropped(), 3);
        assert!(batch.is_empty());
    }
}
