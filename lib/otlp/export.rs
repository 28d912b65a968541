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

use serde::Serialize;

use super::ids::hex;
use super::layer::{FinishedSpan, Value};
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

/// `ExportTraceServiceRequest` in OTLP's JSON mapping: ids as lower-case hex, 64-bit integers
/// and timestamps as decimal strings, enums as numbers.
pub(crate) fn encode(resource: &Resource, spans: &[FinishedSpan]) -> Vec<u8> {
    let request = Request {
        resource_spans: [ResourceSpans {
            resource,
            scope_spans: [ScopeSpans {
                scope: Scope { name: "atoms", version: env!("CARGO_PKG_VERSION") },
                spans: spans.iter().map(SpanJson::from).collect(),
            }],
        }],
    };
    serde_json::to_vec(&request).unwrap_or_default()
}

/// The process's resource: `service.name`, `service.version`, and the SDK's name.
#[derive(Serialize)]
pub(crate) struct Resource {
    attributes: Vec<KeyValue<'static>>,
}

impl Resource {
    pub(crate) fn new(service_name: &str) -> Self {
        let text = |key: &'static str, value: &str| KeyValue {
            key,
            value: AnyValue::String(value.to_owned().into()),
        };
        Self {
            attributes: vec![
                text("service.name", service_name),
                text("service.version", env!("CARGO_PKG_VERSION")),
                text("telemetry.sdk.name", "atoms"),
                text("telemetry.sdk.language", "rust"),
            ],
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    resource_spans: [ResourceSpans<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans<'a> {
    resource: &'a Resource,
    scope_spans: [ScopeSpans<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ScopeSpans<'a> {
    scope: Scope,
    spans: Vec<SpanJson<'a>>,
}

#[derive(Serialize)]
struct Scope {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpanJson<'a> {
    trace_id: String,
    span_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_span_id: Option<String>,
    name: &'static str,
    kind: u8,
    start_time_unix_nano: String,
    end_time_unix_nano: String,
    attributes: Vec<KeyValue<'a>>,
    status: Status,
}

#[derive(Serialize)]
struct KeyValue<'a> {
    key: &'static str,
    value: AnyValue<'a>,
}

/// OTLP's `AnyValue`: `{"stringValue": …}`, `{"intValue": "…"}` (64-bit as a string), ….
#[derive(Serialize)]
enum AnyValue<'a> {
    #[serde(rename = "stringValue")]
    String(std::borrow::Cow<'a, str>),
    #[serde(rename = "intValue")]
    Int(String),
    #[serde(rename = "boolValue")]
    Bool(bool),
    #[serde(rename = "doubleValue")]
    Double(f64),
}

#[derive(Serialize)]
struct Status {
    #[serde(skip_serializing_if = "is_unset")]
    code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'static str>,
}

fn is_unset(code: &u8) -> bool {
    *code == STATUS_UNSET
}

const STATUS_UNSET: u8 = 0;
const STATUS_ERROR: u8 = 2;
const KIND_INTERNAL: u8 = 1;
const KIND_SERVER: u8 = 2;
const KIND_CLIENT: u8 = 3;

impl<'a> From<&'a FinishedSpan> for SpanJson<'a> {
    fn from(span: &'a FinishedSpan) -> Self {
        // `request` is the server side of an HTTP request; `db` and `kv` calls to other
        // systems; the rest (`tool`) in-process work.
        let kind = match span.name {
            "request" => KIND_SERVER,
            "db" | "kv" => KIND_CLIENT,
            _ => KIND_INTERNAL,
        };
        Self {
            trace_id: hex(&span.trace_id),
            span_id: hex(&span.span_id),
            parent_span_id: span.parent.as_ref().map(|parent| hex(parent)),
            name: span.name,
            kind,
            start_time_unix_nano: span.start_unix_nanos.to_string(),
            end_time_unix_nano: span.end_unix_nanos.max(span.start_unix_nanos).to_string(),
            attributes: span
                .attributes
                .iter()
                .map(|(key, value)| KeyValue { key, value: value.into() })
                .collect(),
            status: status(span),
        }
    }
}

impl<'a> From<&'a Value> for AnyValue<'a> {
    fn from(value: &'a Value) -> Self {
        match value {
            Value::Str(text) => Self::String(text.as_str().into()),
            Value::Int(n) => Self::Int(n.to_string()),
            Value::Bool(b) => Self::Bool(*b),
            Value::Double(x) => Self::Double(*x),
        }
    }
}

/// Error when the span's `outcome` is not `ok` (tool and database calls) or its HTTP status is
/// a 5xx; unset otherwise (OTLP's advice for instrumentation).
fn status(span: &FinishedSpan) -> Status {
    for (key, value) in &span.attributes {
        match (*key, value) {
            ("outcome", Value::Str(outcome)) if outcome != "ok" => {
                return Status { code: STATUS_ERROR, message: Some("failed") };
            }
            ("http.response.status_code", Value::Int(status)) if *status >= 500 => {
                return Status { code: STATUS_ERROR, message: Some("server error") };
            }
            _ => {}
        }
    }
    Status { code: STATUS_UNSET, message: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(
        name: &'static str,
        parent: Option<[u8; 8]>,
        attributes: Vec<(&'static str, Value)>,
    ) -> FinishedSpan {
        FinishedSpan {
            name,
            trace_id: [0xab; 16],
            span_id: [0x01; 8],
            parent,
            start_unix_nanos: 1_700_000_000_000_000_000,
            end_unix_nanos: 1_700_000_000_002_000_000,
            attributes,
        }
    }

    #[test]
    fn spans_are_encoded_in_the_otlp_json_mapping() {
        let spans = [
            span(
                "request",
                None,
                vec![
                    ("request_id", Value::Str("r-1".into())),
                    ("http.response.status_code", Value::Int(200)),
                ],
            ),
            span(
                "db",
                Some([0x02; 8]),
                vec![
                    ("function", Value::Str("atoms_entity_get".into())),
                    ("outcome", Value::Str("not_found".into())),
                ],
            ),
        ];
        let body: serde_json::Value =
            serde_json::from_slice(&encode(&Resource::new("atoms-test"), &spans)).expect("json");
        let resource = &body["resourceSpans"][0]["resource"]["attributes"][0];
        assert_eq!(
            resource,
            &serde_json::json!({"key": "service.name", "value": {"stringValue": "atoms-test"}})
        );
        let encoded = &body["resourceSpans"][0]["scopeSpans"][0]["spans"];
        assert_eq!(
            encoded[0],
            serde_json::json!({
                "traceId": "abababababababababababababababab",
                "spanId": "0101010101010101",
                "name": "request",
                "kind": 2,
                "startTimeUnixNano": "1700000000000000000",
                "endTimeUnixNano": "1700000000002000000",
                "attributes": [
                    {"key": "request_id", "value": {"stringValue": "r-1"}},
                    {"key": "http.response.status_code", "value": {"intValue": "200"}}
                ],
                "status": {}
            })
        );
        assert_eq!(encoded[1]["parentSpanId"], "0202020202020202");
        assert_eq!(encoded[1]["kind"], 3);
        assert_eq!(encoded[1]["status"], serde_json::json!({"code": 2, "message": "failed"}));
    }

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
