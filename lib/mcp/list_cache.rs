//! Stateless (2026-07-28) list calls answered from memory.
//!
//! `tools/list`, `prompts/list`, `resources/list` and `resources/templates/list` return the same
//! result to every caller of a process (the lists are static), so after rmcp has answered one of
//! them once, the result bytes are kept and later identical-shape calls are answered without
//! rmcp's per-request task, channels and re-serialisation — the dominant cost of a list call.
//!
//! Only requests rmcp itself would accept take this path, and only a strict, simple subset of
//! them: no session, no `Origin`, a `Host` in the allowed list, JSON content and accept types,
//! `MCP-Protocol-Version: 2026-07-28`, `Mcp-Method` equal to the body's method, no `Mcp-Name`, and
//! params holding nothing but a valid `_meta` (no cursor). Anything else goes to rmcp, which
//! remains the one authority on validation. If lists ever depend on the caller, this cache must
//! be keyed by what they depend on.

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

const METHODS: [&str; 4] = ["tools/list", "prompts/list", "resources/list", "resources/templates/list"];
const VERSION: &str = "2026-07-28";

/// The cached `result` bytes of each list method.
#[derive(Default)]
pub struct ListCache {
    results: [OnceLock<Bytes>; 4],
}

/// A list request eligible for the cache.
pub struct Eligible {
    slot: usize,
    /// The request id, re-serialised (a number or a string).
    id: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Message<'a> {
    jsonrpc: &'a str,
    id: Value,
    method: &'a str,
    params: Option<Params>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(rename = "_meta")]
    meta: serde_json::Map<String, Value>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl ListCache {
    /// True for the methods this cache may answer.
    pub fn caches(method: &str) -> bool {
        METHODS.contains(&method)
    }

    /// `Some` when `headers` + `body` are a plain stateless list call this cache may answer.
    pub fn eligible(&self, headers: &HeaderMap, body: &[u8], allowed_hosts: &[String]) -> Option<Eligible> {
        if headers.contains_key("mcp-session-id")
            || headers.contains_key(header::ORIGIN)
            || headers.contains_key("mcp-name")
        {
            return None;
        }
        let host = header(headers, "host")?;
        let hostname = host
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(h, _)| h);
        if !allowed_hosts.iter().any(|allowed| allowed == hostname || allowed == host) {
            return None;
        }
        let content_type = header(headers, "content-type")?;
        let accept = header(headers, "accept")?;
        if !content_type.starts_with("application/json")
            || !accept.contains("application/json")
            || !accept.contains("text/event-stream")
            || header(headers, "mcp-protocol-version")? != VERSION
        {
            return None;
        }
        let message: Message<'_> = serde_json::from_slice(body).ok()?;
        let slot = METHODS.iter().position(|m| *m == message.method)?;
        let meta = message.params?.meta;
        let valid_id = message.id.is_string() || message.id.is_i64() || message.id.is_u64();
        if message.jsonrpc != "2.0"
            || !valid_id
            || header(headers, "mcp-method")? != message.method
            || meta.get("io.modelcontextprotocol/protocolVersion").and_then(Value::as_str) != Some(VERSION)
            || !meta.get("io.modelcontextprotocol/clientCapabilities").is_some_and(Value::is_object)
        {
            return None;
        }
        Some(Eligible { slot, id: serde_json::to_vec(&message.id).ok()? })
    }

    /// The cached answer to `request`, if rmcp has answered its method before.
    pub fn answer(&self, request: &Eligible) -> Option<Response> {
        let result = self.results[request.slot].get()?;
        let mut body = Vec::with_capacity(result.len() + request.id.len() + 32);
        body.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
        body.extend_from_slice(&request.id);
        body.extend_from_slice(b",\"result\":");
        body.extend_from_slice(result);
        body.push(b'}');
        let mut response = body.into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Some(response)
    }

    /// Keeps the `result` of rmcp's successful JSON answer to `request`; returns the response
    /// unchanged (its body re-assembled from the bytes read).
    pub async fn remember(&self, request: &Eligible, response: Response) -> Response {
        let is_json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        if !response.status().is_success() || !is_json {
            return response;
        }
        let (parts, body) = response.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, 4 * 1024 * 1024).await else {
            return crate::http::jsonrpc::unavailable("the list response could not be read");
        };
        if let Ok(message) = serde_json::from_slice::<Value>(&bytes)
            && message.get("error").is_none()
            && let Some(result) = message.get("result")
            && let Ok(result) = serde_json::to_vec(result)
        {
            let _ = self.results[request.slot].set(Bytes::from(result));
        }
        Response::from_parts(parts, axum::body::Body::from(bytes))
    }
}
