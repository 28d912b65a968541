//! Stateless (2026-07-28) `tools/call` answered without rmcp's per-request machinery (a task,
//! channels and a service per request: most of a call's CPU besides the database). Like the list
//! cache, it takes only a strict, simple subset of requests that rmcp itself would accept — the
//! same header rules ([`super::list_cache::plain_stateless_headers`] plus a single `Mcp-Name`
//! equal to the tool), a body holding exactly `name`, `arguments` and a `_meta` with a valid
//! protocol version and client capabilities (no progress token, no input responses), a known
//! tool, and not `delete_workspace` (which may ask the person first, through rmcp). Anything
//! else goes to rmcp, the one authority on what is refused. The answer is the same bytes rmcp
//! would write: `tests/mcp_tools.rs` compares both paths.

use axum::http::HeaderMap;
use axum::response::Response;
use rmcp::model::JsonObject;
use serde::Deserialize;
use serde_json::Value;

use super::list_cache::{Object, VERSION, plain_stateless_headers, present};
use crate::db::Identity;
use crate::http::jsonrpc;

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

// Every level is read through [`Object`] (serde's derived structs would also read an array).

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Message<'a> {
    jsonrpc: &'a str,
    id: Value,
    method: &'a str,
    #[serde(borrow)]
    params: Object<Params<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params<'a> {
    name: String,
    #[serde(default)]
    arguments: Option<JsonObject>,
    #[serde(rename = "_meta", borrow)]
    meta: Object<Meta<'a>>,
}

/// The `_meta` of a plain call: the protocol version, the client's capabilities (as rmcp decodes
/// them) and, optionally, its description — nothing else (an unknown key, a duplicate, or a
/// version written with escapes sends the call to rmcp).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta<'a> {
    #[serde(rename = "io.modelcontextprotocol/protocolVersion")]
    version: &'a str,
    #[serde(rename = "io.modelcontextprotocol/clientCapabilities")]
    _capabilities: Object<rmcp::model::ClientCapabilities>,
    #[serde(rename = "io.modelcontextprotocol/clientInfo", default, deserialize_with = "present")]
    _info: Option<Object<serde::de::IgnoredAny>>,
}

/// `Some` when `headers` + `body` are a plain stateless `tools/call` this module may answer.
pub(super) fn eligible(headers: &HeaderMap, body: &[u8], allowed_hosts: &[String]) -> Option<FastCall> {
    // The headers first: they turn away every other request without reading the body.
    let plain = plain_stateless_headers(headers, allowed_hosts, true)?;
    if plain.method != "tools/call" {
        return None;
    }
    // Read as `str`: its UTF-8 is checked once, not string by string (a body that is not UTF-8
    // is rmcp's to refuse).
    let body = std::str::from_utf8(body).ok()?;
    let Object(message): Object<Message<'_>> = serde_json::from_str(body).ok()?;
    let Object(params) = message.params;
    // rmcp's ids are strings or i64 (a larger number is refused there).
    let valid_id = message.id.is_string() || message.id.is_i64();
    let arguments = params.arguments.unwrap_or_default();
    if message.jsonrpc != "2.0"
        || message.method != "tools/call"
        || !valid_id
        || plain.name? != params.name
        || params.meta.0.version != VERSION
        || !crate::tools::exists(&params.name)
        || arguments.get("operation").and_then(Value::as_str) == Some("delete_workspace")
    {
        return None;
    }
    Some(FastCall { id: message.id, name: params.name, arguments })
}

/// Runs the call as `identity` and writes the JSON-RPC response.
pub(super) async fn answer(call: FastCall, tools: &crate::tools::Backend, identity: &Identity) -> Response {
    let answer = crate::tools::answer(tools, identity, &call.name, call.arguments).await;
    serde_json::to_vec(&call.id)
        .and_then(|id| jsonrpc::success(&id, answer.size_hint(), |body| answer.write_json(body)))
        .unwrap_or_else(|_| jsonrpc::unavailable("the tool result could not be written"))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};
    use serde_json::json;

    use super::{VERSION, eligible};

    fn headers() -> HeaderMap {
        crate::mcp::list_cache::tests::plain_headers(&[
            ("mcp-method", "tools/call"),
            ("mcp-name", "entity_tool"),
        ])
    }

    fn with_meta(meta: serde_json::Value) -> bool {
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "entity_tool", "arguments": {"operation": "read_entity"}, "_meta": meta}});
        eligible(&headers(), body.to_string().as_bytes(), &["localhost".to_owned()]).is_some()
    }

    #[test]
    fn only_the_plain_meta_takes_the_fast_path() {
        let version = "io.modelcontextprotocol/protocolVersion";
        let capabilities = "io.modelcontextprotocol/clientCapabilities";
        let info = "io.modelcontextprotocol/clientInfo";
        assert!(with_meta(json!({version: VERSION, capabilities: {"elicitation": {}}})));
        assert!(with_meta(json!({version: VERSION, capabilities: {}, info: {"name": "x", "version": "1"}})));
        // Everything else is rmcp's to judge.
        assert!(!with_meta(json!({version: "2025-11-25", capabilities: {}})));
        assert!(!with_meta(json!({version: VERSION})));
        assert!(!with_meta(json!({capabilities: {}})));
        assert!(!with_meta(json!({version: VERSION, capabilities: null})));
        assert!(!with_meta(json!({version: VERSION, capabilities: []})));
        assert!(!with_meta(json!({version: VERSION, capabilities: {}, info: null})));
        assert!(!with_meta(json!({version: VERSION, capabilities: {}, info: "x"})));
        assert!(!with_meta(json!({version: VERSION, capabilities: {}, "progressToken": 1})));
        assert!(!with_meta(json!(null)));
        // Shapes rmcp refuses: an array read by position, capabilities it cannot decode.
        assert!(!with_meta(json!([VERSION, {}])));
        assert!(!with_meta(json!([VERSION, {}, {"name": "x", "version": "1"}])));
        assert!(!with_meta(json!({version: VERSION, capabilities: {"elicitation": 5}})));
    }

    #[test]
    fn only_an_allowed_host_takes_the_fast_path() {
        let body =
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "entity_tool",
            "arguments": {}, "_meta": {"io.modelcontextprotocol/protocolVersion": VERSION,
            "io.modelcontextprotocol/clientCapabilities": {}}}})
            .to_string();
        let with_host = |host: &'static str| {
            let mut headers = headers();
            headers.insert("host", HeaderValue::from_static(host));
            eligible(&headers, body.as_bytes(), &["localhost".to_owned(), "[::1]".to_owned()]).is_some()
        };
        assert!(with_host("localhost"));
        assert!(with_host("LocalHost:3000"));
        assert!(with_host("[::1]:8080"));
        // DNS rebinding: any other name, or one that merely starts or ends like an allowed one.
        assert!(!with_host("evil.example"));
        assert!(!with_host("localhost.evil.example"));
        assert!(!with_host("evillocalhost"));
    }

    #[test]
    fn arrays_and_ids_rmcp_refuses_go_to_rmcp() {
        let hosts = ["localhost".to_owned()];
        let meta = json!({"io.modelcontextprotocol/protocolVersion": VERSION, "io.modelcontextprotocol/clientCapabilities": {}});
        let arguments = json!({"operation": "read_entity"});
        let params = json!({"name": "entity_tool", "arguments": arguments, "_meta": meta});
        let plain = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params});
        assert!(eligible(&headers(), plain.to_string().as_bytes(), &hosts).is_some());
        let positional_params = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": ["entity_tool", arguments, meta]});
        let positional_message = json!(["2.0", "tools/call", "tools/call", params]);
        let huge_id = plain.to_string().replace("\"id\":1", "\"id\":9223372036854775808");
        for refused in [positional_params.to_string(), positional_message.to_string(), huge_id] {
            assert!(eligible(&headers(), refused.as_bytes(), &hosts).is_none(), "{refused}");
        }
    }

    #[test]
    fn a_body_that_is_not_utf8_goes_to_rmcp() {
        // Invalid UTF-8 inside a value the parse would otherwise skip unread: rmcp refuses the
        // message, so the fast path must not answer it.
        let plain = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"entity_tool","arguments":{{}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"{VERSION}","io.modelcontextprotocol/clientCapabilities":{{}},"io.modelcontextprotocol/clientInfo":{{"name":"NAME","version":"1"}}}}}}}}"#
        );
        let hosts = ["localhost".to_owned()];
        assert!(eligible(&headers(), plain.as_bytes(), &hosts).is_some());
        let (before, after) = plain.split_once("NAME").expect("the placeholder");
        let invalid = [before.as_bytes(), &[0xff], after.as_bytes()].concat();
        assert!(eligible(&headers(), &invalid, &hosts).is_none());
    }

    #[test]
    fn a_duplicated_or_escaped_version_goes_to_rmcp() {
        let plain = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"entity_tool","arguments":{{}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"{VERSION}","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
        );
        let hosts = ["localhost".to_owned()];
        assert!(eligible(&headers(), plain.as_bytes(), &hosts).is_some());
        let duplicated = plain.replace(
            "\"io.modelcontextprotocol/clientCapabilities\"",
            "\"io.modelcontextprotocol/clientCapabilities\":{},\"io.modelcontextprotocol/clientCapabilities\"",
        );
        assert!(eligible(&headers(), duplicated.as_bytes(), &hosts).is_none());
        let escaped = plain.replace(VERSION, &VERSION.replace('-', "\\u002d"));
        assert!(eligible(&headers(), escaped.as_bytes(), &hosts).is_none());
    }
}
