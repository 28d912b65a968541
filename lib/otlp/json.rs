//! OTLP's JSON encoding of an `ExportTraceServiceRequest`: ids as lower-case hex, 64-bit
//! integers and timestamps as decimal strings, enums as numbers — the mapping OTLP/HTTP
//! receivers (the Collector, Honeycomb, Grafana) parse.

use serde::Serialize;

use super::ids::hex;
use super::layer::{FinishedSpan, Value};

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

    use crate::otlp::layer::test_span as span;

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
}
