//! A local OTLP/HTTP receiver (what an OpenTelemetry collector's `otlphttp` receiver is to the
//! exporter): accepts `POST /v1/traces` with JSON bodies and keeps each body and its headers —
//! or, to play a receiver that is down or stuck, never answers. [`validate`] parses what arrived
//! with the official OTLP protobuf definitions (`opentelemetry-proto`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use serde_json::Value;

/// One export as received.
#[derive(Debug, Clone)]
pub struct Export {
    pub headers: HeaderMap,
    pub raw: String,
    pub body: Value,
}

/// What the receiver does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers 200 `{}` (OTLP's success answer).
    Accept,
    /// Holds the request without answering (a stuck receiver).
    Hang,
}

pub struct Receiver {
    /// The base URL to configure as `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub endpoint: String,
    received: Arc<Mutex<Vec<Export>>>,
    /// Requests that arrived (answered or not).
    arrived: Arc<Mutex<usize>>,
}

/// Starts a receiver on a free loopback port in this process.
pub async fn start(behaviour: Behaviour) -> Receiver {
    let received: Arc<Mutex<Vec<Export>>> = Arc::default();
    let arrived: Arc<Mutex<usize>> = Arc::default();
    let (store, count) = (received.clone(), arrived.clone());
    let route = axum::routing::post(move |headers: HeaderMap, body: String| {
        let (store, count) = (store.clone(), count.clone());
        async move {
            *count.lock().expect("count") += 1;
            if behaviour == Behaviour::Hang {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            let parsed = serde_json::from_str(&body).unwrap_or(Value::Null);
            store.lock().expect("store").push(Export { headers, raw: body, body: parsed });
            ([("content-type", "application/json")], "{}")
        }
    });
    let app = axum::Router::new().route("/v1/traces", route);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { endpoint, received, arrived }
}

impl Receiver {
    pub fn exports(&self) -> Vec<Export> {
        self.received.lock().expect("store").clone()
    }

    pub fn arrived(&self) -> usize {
        *self.arrived.lock().expect("count")
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Value> {
        let mut spans = Vec::new();
        for export in self.exports() {
            for resource in export.body["resourceSpans"].as_array().into_iter().flatten() {
                for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                    spans.extend(scope["spans"].as_array().into_iter().flatten().cloned());
                }
            }
        }
        spans
    }

    /// Polls until `done` holds for the spans received (at most `within`); the spans.
    pub async fn wait_for(&self, within: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            assert!(Instant::now() < deadline, "the spans never arrived; received: {spans:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// An attribute's value (`stringValue` or `intValue`, as text) on an OTLP JSON span.
pub fn attribute(span: &Value, key: &str) -> Option<String> {
    let value = &span["attributes"].as_array()?.iter().find(|kv| kv["key"] == key)?["value"];
    value["stringValue"].as_str().or_else(|| value["intValue"].as_str()).map(str::to_owned)
}

/// Parses every body with `google.protobuf.json_format` into an `ExportTraceServiceRequest`
/// (the official OTLP definitions); panics with the parser's complaint. Returns the span count.
pub fn validate(exports: &[Export]) -> u64 {
    let bodies: Vec<&str> = exports.iter().map(|export| export.raw.as_str()).collect();
    let output = super::sdk::run_script("check_otlp.py", &serde_json::to_vec(&bodies).expect("bodies"));
    assert!(
        output.status.success(),
        "opentelemetry-proto refused an export: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().parse().expect("a span count")
}
