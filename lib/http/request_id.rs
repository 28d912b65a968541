//! The request id: taken from the platform's trace header when present, else generated.
//!
//! Checked in order: `x-vercel-id` (Vercel), `x-amzn-trace-id` (AWS), `x-request-id` (proxies,
//! clients). A value is accepted only if it is short printable ASCII without spaces, so a client
//! cannot inject log lines or oversized ids. The chosen id is echoed as `x-request-id`.

use axum::http::{HeaderMap, HeaderName};

static SOURCES: [&HeaderName; 3] = [&VERCEL_ID, &AMAZON_TRACE_ID, &REQUEST_ID];
static VERCEL_ID: HeaderName = HeaderName::from_static("x-vercel-id");
static AMAZON_TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");

/// `x-request-id`, in and out.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const MAX_LEN: usize = 200;

/// The id of one request, available to handlers as a request extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        SOURCES
            .iter()
            .filter_map(|name| headers.get(*name)?.to_str().ok())
            .find(|value| is_acceptable(value))
            .map(|value| Self(value.to_owned()))
            .unwrap_or_else(|| {
                // Encoded into a buffer: `to_string` would go through the formatter.
                Self(uuid::Uuid::new_v4().simple().encode_lower(&mut uuid::Uuid::encode_buffer()).to_owned())
            })
    }
}

fn is_acceptable(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_LEN
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:;=/+".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(headers: &[(&'static str, &'static str)]) -> String {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().expect("header value"));
        }
        RequestId::from_headers(&map).0
    }

    #[test]
    fn prefers_platform_ids_in_order() {
        assert_eq!(id(&[("x-request-id", "client-1"), ("x-vercel-id", "iad1::abc-123")]), "iad1::abc-123");
        assert_eq!(
            id(&[("x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")]),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
        );
        assert_eq!(id(&[("x-request-id", "client-1")]), "client-1");
    }

    #[test]
    fn rejects_unsafe_ids_and_generates_one() {
        let generated = id(&[("x-request-id", "evil\" injected")]);
        assert_eq!(generated.len(), 32);
        assert!(generated.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{generated}");
        assert_ne!(id(&[]), id(&[]));
    }
}
