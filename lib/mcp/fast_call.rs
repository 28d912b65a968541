//! Stateless (2026-07-28) `tools/call` answered without rmcp's per-request machinery (a task,
//! channels and a service per request: most of a call's CPU besides the database). Like the list
//! cache, it takes only a strict, simple subset of requests that rmcp itself would accept — the
//! same header rules ([`super::list_cache::plain_stateless_headers`] plus a single `Mcp-Name`
//! equal to the tool), a body holding exactly `name`, `arguments` and a `_meta` with a valid
//! protocol version and client capabilities (no progress token, no input responses), a known
//! tool, and not `delete_workspace` (which may ask the person first, through rmcp). Anything
//! else goes to rmcp, the one authority on what is refused. The answer is the same bytes rmcp
//! would write: `tests/mcp_tools.rs` compares both paths.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use rmcp::model::JsonObject;
use serde::Deserialize;
use serde_json::Value;

use super::list_cache::{VERSION, plain_stateless_headers, single};
use crate::db::Identity;

/// A `tools/call` this module answers.
pub(super) struct FastCall {
    /// The request id (a number or a string).
    pub(super) id: Value,
    name: String,
    arguments: JsonObject,
}

impl FastCall {
    /// The `operation` argument, if it is a string.
    pub(super) fn operation(&self) -> Option<&str> {
        self.arguments.get("operation").and_then(Value::as_str)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Message<'a> {
    jsonrpc: &'a str,
    id: Value,
    method: &'a str,
    params: Params,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    name: String,
    #[serde(default)]
    arguments: Option<JsonObject>,
    #[serde(rename = "_meta")]
    meta: serde_json::Map<String, Value>,
}

/// The `_meta` keys a plain call may carry.
const META: [&str; 3] = [
    "io.modelcontextprotocol/protocolVersion",
    "io.modelcontextprotocol/clientCapabilities",
    "io.modelcontextprotocol/clientInfo",
];

/// `Some` when `headers` + `body` are a plain stateless `tools/call` this module may answer.
pub(super) fn eligible(headers: &HeaderMap, body: &[u8], allowed_hosts: &[String]) -> Option<FastCall> {
    if !plain_stateless_headers(headers, allowed_hosts, &["mcp-name"]) {
        return None;
    }
    let message: Message<'_> = serde_json::from_slice(body).ok()?;
    let params = message.params;
    let valid_id = message.id.is_string() || message.id.is_i64() || message.id.is_u64();
    let arguments = params.arguments.unwrap_or_default();
    if message.jsonrpc != "2.0"
        || message.method != "tools/call"
        || !valid_id
        || single(headers, "mcp-method")? != "tools/call"
        || single(headers, "mcp-name")? != params.name
        || !params.meta.keys().all(|key| META.contains(&key.as_str()))
        || params.meta.get(META[0]).and_then(Value::as_str) != Some(VERSION)
        || !params.meta.get(META[1]).is_some_and(Value::is_object)
        || params.meta.get(META[2]).is_some_and(|info| !info.is_object())
        || !crate::tools::exists(&params.name)
        || arguments.get("operation").and_then(Value::as_str) == Some("delete_workspace")
    {
        return None;
    }
    Some(FastCall { id: message.id, name: params.name, arguments })
}

/// Runs the call as `identity` and writes the JSON-RPC response.
pub(super) async fn answer(call: FastCall, tools: &crate::tools::Backend, identity: &Identity) -> Response {
    let result = crate::tools::call(tools, identity, &call.name, call.arguments).await;
    let (Ok(result), Ok(id)) = (serde_json::to_vec(&result), serde_json::to_vec(&call.id)) else {
        return crate::http::jsonrpc::unavailable("the tool result could not be written");
    };
    let mut body = Vec::with_capacity(result.len() + id.len() + 32);
    body.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    body.extend_from_slice(&id);
    body.extend_from_slice(b",\"result\":");
    body.extend_from_slice(&result);
    body.push(b'}');
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
