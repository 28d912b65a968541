//! Stateless (2026-07-28) list calls answered from memory.
//!
//! `tools/list`, `prompts/list` and `resources/templates/list` return the same result to every
//! caller of a process (the lists are static), so after rmcp has answered one of
//! them once, the result bytes are kept and later identical-shape calls are answered without
//! rmcp's per-request task, channels and re-serialisation — the dominant cost of a list call.
//!
//! Only requests rmcp itself would accept take this path, and only a strict, simple subset of
//! them: no session, no `Origin`, a `Host` in the allowed list, JSON content and accept types
//! (media types parsed as rmcp parses them), a single `MCP-Protocol-Version: 2026-07-28`, a
//! single `Mcp-Method` equal to the body's method, no other `Mcp-*` header, and params holding
//! nothing but a valid `_meta` (no cursor). Anything else goes to rmcp, which remains the one
//! authority on validation; `tests/mcp_http.rs` feeds the same requests to a warm cache and to
//! rmcp alone and compares the statuses. If lists ever depend on the caller, this cache must
//! be keyed by what they depend on.

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

/// The lists that are the same for every caller. (`resources/list` is the caller's workspaces:
/// never from here.)
const METHODS: [&str; 3] = ["tools/list", "prompts/list", "resources/templates/list"];
pub(super) const VERSION: &str = "2026-07-28";

/// The cached `result` bytes of each list method.
pub struct ListCache {
    /// `CACHE_ENABLED`: off, every list call goes to rmcp.
    enabled: bool,
    results: [OnceLock<Bytes>; 3],
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
    params: Option<Object<Params>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(rename = "_meta")]
    meta: serde_json::Map<String, Value>,
}

/// `T` read from a JSON object only (anything else, `null` and arrays included, is refused):
/// serde's derived structs also read an array, filling fields by position, which rmcp refuses.
/// Shared with [`super::fast_call`].
pub(super) struct Object<T>(pub(super) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Object)
            }
        }
        deserializer.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

/// A key that is present must hold an object (`null` is not "absent").
pub(super) fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Object<serde::de::IgnoredAny>>, D::Error> {
    Object::deserialize(deserializer).map(Some)
}

/// The MCP headers of a plain stateless request, as [`plain_stateless_headers`] found them.
pub(super) struct PlainHeaders<'a> {
    /// The single `Mcp-Method`.
    pub(super) method: &'a str,
    /// The single `Mcp-Name`, when it was allowed and present.
    pub(super) name: Option<&'a str>,
}

/// `Some` when `headers` are those of a plain stateless 2026-07-28 request that rmcp would
/// accept by exactly its own rules (the functions below mirror rmcp 3.9's): an allowed `Host`,
/// JSON and SSE accepted, JSON content, a single `MCP-Protocol-Version: 2026-07-28`, a single
/// `Mcp-Method`, and nothing unusual — a session, an `Origin`, a duplicated header of these, or
/// any `Mcp-*` header but the method, the version and (`with_name`) a single `Mcp-Name`.
/// One pass over the headers, not a lookup per name (each hashes the name). Shared with
/// [`super::fast_call`].
pub(super) fn plain_stateless_headers<'a>(
    headers: &'a HeaderMap,
    allowed_hosts: &[String],
    with_name: bool,
) -> Option<PlainHeaders<'a>> {
    /// Keeps the first value of a header that must occur once; a second one, or a value that
    /// is not visible ASCII, refuses the request.
    fn once<'a>(slot: &mut Option<&'a str>, value: &'a HeaderValue) -> Option<()> {
        match slot {
            Some(_) => None,
            None => {
                *slot = Some(value.to_str().ok()?);
                Some(())
            }
        }
    }
    let (mut host, mut content_type, mut version, mut method, mut name) = (None, None, None, None, None);
    let (mut json, mut sse) = (false, false);
    for (header, value) in headers {
        match header.as_str() {
            "host" => once(&mut host, value)?,
            "content-type" => once(&mut content_type, value)?,
            "accept" => {
                // Every `Accept` line counts; one that is not visible ASCII is skipped.
                if let Ok(value) = value.to_str() {
                    let (has_json, has_sse) = accepts(value);
                    json |= has_json;
                    sse |= has_sse;
                }
            }
            "mcp-protocol-version" => once(&mut version, value)?,
            "mcp-method" => once(&mut method, value)?,
            "mcp-name" if with_name => once(&mut name, value)?,
            "origin" => return None,
            other if other.starts_with("mcp-") => return None,
            _ => {}
        }
    }
    let plain = json
        && sse
        && host.is_some_and(|host| host_allowed(host, allowed_hosts))
        && content_type.is_some_and(is_json_content)
        && version == Some(VERSION);
    plain.then_some(PlainHeaders { method: method?, name })
}

/// rmcp's Host check: an authority (`host[:port]`, IPv6 in brackets) whose host, brackets
/// dropped and lower-cased, is an allowed host (ours carry no port).
fn host_allowed(host: &str, allowed_hosts: &[String]) -> bool {
    let Ok(authority) = axum::http::uri::Authority::try_from(host) else {
        return false;
    };
    fn bare(host: &str) -> &str {
        host.trim_matches('[').trim_matches(']')
    }
    let host = bare(authority.host());
    allowed_hosts.iter().any(|allowed| bare(allowed).eq_ignore_ascii_case(host))
}

/// rmcp's `Accept` rule for one `Accept` line: whether it names `application/json` and
/// `text/event-stream` among its media ranges not weighted zero (quoted commas and semicolons
/// respected). Across lines, either may come from any line.
fn accepts(value: &str) -> (bool, bool) {
    // What the SDKs send, answered without parsing.
    if value == "application/json, text/event-stream" {
        return (true, true);
    }
    let (mut json, mut sse) = (false, false);
    for entry in split_unquoted(value, ',') {
        let mut parts = split_unquoted(entry, ';');
        let essence = parts.next().unwrap_or_default().trim();
        let weighted_zero = parts.any(|parameter| {
            parameter.split_once('=').is_some_and(|(name, value)| {
                name.trim().eq_ignore_ascii_case("q") && !quality_is_acceptable(value.trim())
            })
        });
        if !weighted_zero {
            json |= essence.eq_ignore_ascii_case("application/json");
            sse |= essence.eq_ignore_ascii_case("text/event-stream");
        }
    }
    (json, sse)
}

/// Splits on `delimiter` outside quoted strings (a quoted-pair keeps an escaped quote).
fn split_unquoted(value: &str, delimiter: char) -> impl Iterator<Item = &str> {
    let (mut quoted, mut escaped) = (false, false);
    value.split(move |c| {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if !quoted && c == delimiter {
            return true;
        }
        false
    })
}

/// A weight is zero only when it is well-formed and zero; malformed weights are ignored.
fn quality_is_acceptable(quality: &str) -> bool {
    let (whole, fraction) = quality.split_once('.').unwrap_or((quality, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|d| d.is_ascii_digit()) {
        return true;
    }
    whole != "0" || fraction.bytes().any(|d| d != b'0')
}

/// rmcp's `Content-Type` rule: the media type before any parameters is `application/json`.
fn is_json_content(content_type: &str) -> bool {
    let essence = content_type.split_once(';').map_or(content_type, |(essence, _)| essence);
    essence.trim().eq_ignore_ascii_case("application/json")
}

impl ListCache {
    /// True for the methods this cache may answer.
    pub fn caches(method: &str) -> bool {
        METHODS.contains(&method)
    }

    /// A cache that answers only when `enabled` (`CACHE_ENABLED`).
    pub fn new(enabled: bool) -> Self {
        Self { enabled, results: Default::default() }
    }

    /// `Some` when `headers` + `body` are a plain stateless list call this cache may answer:
    /// one the transport would accept by exactly rmcp's rules (the functions above mirror
    /// rmcp 3.9's), and nothing unusual — any duplicated or unexpected MCP header, `Origin` or
    /// session sends the request to rmcp, the one authority on what is refused.
    pub fn eligible(&self, headers: &HeaderMap, body: &[u8], allowed_hosts: &[String]) -> Option<Eligible> {
        if !self.enabled {
            return None;
        }
        let plain = plain_stateless_headers(headers, allowed_hosts, false)?;
        let Object(message): Object<Message<'_>> = serde_json::from_slice(body).ok()?;
        let slot = METHODS.iter().position(|m| *m == message.method)?;
        let meta = message.params?.0.meta;
        // rmcp's ids are strings or i64 (a larger number is refused there).
        let valid_id = message.id.is_string() || message.id.is_i64();
        // Capabilities as rmcp decodes them (an object it cannot read is refused there).
        let capabilities = meta.get("io.modelcontextprotocol/clientCapabilities");
        let valid_capabilities = capabilities.is_some_and(|caps| {
            caps.is_object() && rmcp::model::ClientCapabilities::deserialize(caps).is_ok()
        });
        if message.jsonrpc != "2.0"
            || !valid_id
            || plain.method != message.method
            || meta.get("io.modelcontextprotocol/protocolVersion").and_then(Value::as_str) != Some(VERSION)
            || !valid_capabilities
        {
            return None;
        }
        Some(Eligible { slot, id: serde_json::to_vec(&message.id).ok()? })
    }

    /// The cached answer to `request`, if rmcp has answered its method before.
    pub fn answer(&self, request: &Eligible) -> Option<Response> {
        let Some(result) = self.results[request.slot].get() else {
            crate::metrics::record_cache(crate::metrics::Cache::List, crate::metrics::CacheResult::Miss);
            return None;
        };
        crate::metrics::record_cache(crate::metrics::Cache::List, crate::metrics::CacheResult::Hit);
        crate::http::jsonrpc::success(&request.id, result.len(), |body| {
            body.extend_from_slice(result);
            Ok(())
        })
        .ok()
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

#[cfg(test)]
pub(super) mod tests {
    use axum::http::{HeaderMap, HeaderValue};
    use serde_json::json;

    use super::{ListCache, VERSION};

    /// The headers of a plain stateless request to `localhost`, plus `extra` (the `Mcp-Method`,
    /// …). Shared with `fast_call`'s tests.
    pub(in crate::mcp) fn plain_headers(extra: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let base = [
            ("host", "localhost"),
            ("accept", "application/json, text/event-stream"),
            ("content-type", "application/json"),
            ("mcp-protocol-version", VERSION),
        ];
        for (name, value) in base.iter().chain(extra) {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    fn eligible(body: &serde_json::Value) -> bool {
        let headers = plain_headers(&[("mcp-method", "tools/list")]);
        let cache = ListCache::new(true);
        cache.eligible(&headers, body.to_string().as_bytes(), &["localhost".to_owned()]).is_some()
    }

    #[test]
    fn only_what_rmcp_accepts_is_answered_from_the_cache() {
        let meta = json!({"io.modelcontextprotocol/protocolVersion": VERSION,
            "io.modelcontextprotocol/clientCapabilities": {}});
        assert!(eligible(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}})
        ));
        // rmcp refuses these: params read by position, an id beyond i64, capabilities it cannot decode.
        assert!(!eligible(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": [meta]})));
        assert!(!eligible(
            &json!({"jsonrpc": "2.0", "id": 9_223_372_036_854_775_808_u64, "method": "tools/list", "params": {"_meta": meta}})
        ));
        let odd = json!({"io.modelcontextprotocol/protocolVersion": VERSION,
            "io.modelcontextprotocol/clientCapabilities": {"elicitation": 5}});
        assert!(!eligible(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": odd}})
        ));
    }
}
