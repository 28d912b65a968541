//! An MCP client in a few lines, for black-box tests of the tools: stateless 2026-07-28 requests
//! (`_meta` versions, `Mcp-Method` / `Mcp-Name` headers) as a caller given by an optional bearer
//! token.

use reqwest::StatusCode;
use serde_json::{Value, json};

pub const CURRENT: &str = "2026-07-28";

pub fn meta() -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": CURRENT, "io.modelcontextprotocol/clientCapabilities": {}})
}

/// One stateless JSON-RPC request as `token`'s user (none: the local user); status and message.
pub async fn rpc(
    base: &str,
    token: Option<&str>,
    method: &str,
    name: Option<&str>,
    params: Value,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/api/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", CURRENT)
        .header("mcp-method", method);
    if let Some(name) = name {
        request = request.header("mcp-name", name);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let response = request.body(body.to_string()).send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `tools/call` of `tool` with `arguments` as `token`'s user; the tool result.
pub async fn call_tool(base: &str, token: Option<&str>, tool: &str, arguments: Value) -> Value {
    let params = json!({"name": tool, "arguments": arguments, "_meta": meta()});
    let (status, message) = rpc(base, token, "tools/call", Some(tool), params).await;
    assert_eq!(status, StatusCode::OK, "{message}");
    message["result"].clone()
}
