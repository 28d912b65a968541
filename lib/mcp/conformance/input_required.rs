//! The conformance suite's `input_required` (SEP-2322, protocol 2026-07-28) fixtures: tools and a
//! prompt that ask the client for input by returning an `InputRequiredResult`, then complete
//! when the client retries with `inputResponses` (and the echoed, HMAC-protected
//! `requestState`). Missing answers are re-requested, extra ones ignored, tampered state refused.

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rmcp::ErrorData as McpError;
use rmcp::model::{CallToolResponse, GetPromptResponse, InputRequiredResult};
use serde_json::{Value, json};

use super::{decode, result};

/// The key that signs `requestState`: random per process (state never outlives a conversation
/// with one server process in the suite).
static STATE_KEY: LazyLock<[u8; 32]> = LazyLock::new(|| {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key
});

fn mac(payload: &str) -> String {
    URL_SAFE_NO_PAD.encode(crate::db::jwt::hmac_sha256(STATE_KEY.as_slice(), payload.as_bytes()))
}

/// `payload` as integrity-protected request state.
fn sign(payload: &str) -> String {
    format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), mac(payload))
}

/// The payload of untampered request state; `Err` when the state was modified.
fn verify(state: Option<&str>) -> Result<Option<String>, McpError> {
    let Some(state) = state else {
        return Ok(None);
    };
    let refuse = || McpError::invalid_params("requestState failed its integrity check", None);
    let (encoded, signature) = state.split_once('.').ok_or_else(refuse)?;
    let payload =
        URL_SAFE_NO_PAD.decode(encoded).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(refuse)?;
    if mac(&payload) != signature {
        return Err(refuse());
    }
    Ok(Some(payload))
}

fn elicit(message: &str, field: &str, kind: &str) -> Value {
    json!({"method": "elicitation/create", "params": {"message": message, "requestedSchema": {
        "type": "object", "properties": {field: {"type": kind}}, "required": [field]}}})
}

fn sample(text: &str, max_tokens: u32) -> Value {
    json!({"method": "sampling/createMessage", "params": {
        "messages": [{"role": "user", "content": {"type": "text", "text": text}}], "maxTokens": max_tokens}})
}

fn roots() -> Value {
    json!({"method": "roots/list", "params": {}})
}

fn ask(requests: Value, state: Option<String>) -> Result<InputRequiredResult, McpError> {
    let mut body = json!({"resultType": "input_required", "inputRequests": requests});
    if let Some(state) = state {
        body["requestState"] = json!(state);
    }
    decode(body)
}

/// The text of an elicitation answer's `content.<field>`.
fn answered(responses: &Value, key: &str, field: &str) -> String {
    responses[key]["content"][field].as_str().unwrap_or("friend").to_owned()
}

/// The text a sampling answer carries (single content block or a list).
fn sampled(responses: &Value, key: &str) -> String {
    let content = &responses[key]["content"];
    match content {
        Value::Array(items) => items.iter().find_map(|c| c["text"].as_str()).unwrap_or_default().to_owned(),
        single => single["text"].as_str().unwrap_or_default().to_owned(),
    }
}

fn done(text: String) -> Result<CallToolResponse, McpError> {
    Ok(result::<rmcp::model::CallToolResult>(json!({"content": [{"type": "text", "text": text}]}))?.into())
}

/// Answers `tools/call` for the `test_input_required_result_*` tools; `None` for other names.
pub(super) fn call(
    name: &str,
    responses: &Value,
    state: Option<&str>,
    client_capabilities: &Value,
) -> Option<Result<CallToolResponse, McpError>> {
    // An answer counts only if it is shaped like one (an object); anything else is re-requested.
    let has = |key: &str| responses.get(key).is_some_and(Value::is_object);
    Some(match name {
        // Only ask for what the client declared it can answer.
        "test_input_required_result_capabilities" => {
            if responses.as_object().is_some_and(|r| !r.is_empty() && r.values().all(Value::is_object)) {
                done("Thanks, all requested input received".to_owned())
            } else {
                let mut requests = serde_json::Map::new();
                if client_capabilities.get("sampling").is_some() {
                    requests.insert("summary".to_owned(), sample("Summarize the request", 50));
                }
                if client_capabilities.get("elicitation").is_some() {
                    requests.insert("user_name".to_owned(), elicit("What is your name?", "name", "string"));
                }
                if client_capabilities.get("roots").is_some() {
                    requests.insert("client_roots".to_owned(), roots());
                }
                if requests.is_empty() {
                    done("The client declared no input capability; nothing to ask".to_owned())
                } else {
                    ask(Value::Object(requests), None).map(Into::into)
                }
            }
        }
        "test_input_required_result_elicitation" => {
            if has("user_name") {
                done(format!("Hello, {}!", answered(responses, "user_name", "name")))
            } else {
                ask(json!({"user_name": elicit("What is your name?", "name", "string")}), None)
                    .map(Into::into)
            }
        }
        "test_input_required_result_sampling" => {
            if has("capital_question") {
                done(format!("The model answered: {}", sampled(responses, "capital_question")))
            } else {
                ask(json!({"capital_question": sample("What is the capital of France?", 100)}), None)
                    .map(Into::into)
            }
        }
        "test_input_required_result_list_roots" => {
            if has("client_roots") {
                let uris: Vec<&str> = responses["client_roots"]["roots"]
                    .as_array()
                    .map(|roots| roots.iter().filter_map(|r| r["uri"].as_str()).collect())
                    .unwrap_or_default();
                done(format!("Client roots: {}", uris.join(", ")))
            } else {
                ask(json!({"client_roots": roots()}), None).map(Into::into)
            }
        }
        "test_input_required_result_request_state" | "test_input_required_result_tampered_state" => {
            match verify(state) {
                Err(error) => Err(error),
                Ok(Some(payload)) if payload == "confirm" && has("confirm") => {
                    done("state-ok: the request state came back intact".to_owned())
                }
                Ok(_) => {
                    ask(json!({"confirm": elicit("Please confirm", "ok", "boolean")}), Some(sign("confirm")))
                        .map(Into::into)
                }
            }
        }
        "test_input_required_result_multiple_inputs" => match verify(state) {
            Err(error) => Err(error),
            Ok(Some(payload))
                if payload == "multiple" && has("user_name") && has("greeting") && has("client_roots") =>
            {
                done(format!(
                    "All inputs received: name={}, greeting={}",
                    answered(responses, "user_name", "name"),
                    sampled(responses, "greeting")
                ))
            }
            Ok(_) => {
                let mut requests = serde_json::Map::new();
                for (key, request) in [
                    ("user_name", elicit("What is your name?", "name", "string")),
                    ("greeting", sample("Generate a greeting", 50)),
                    ("client_roots", roots()),
                ] {
                    if !has(key) {
                        requests.insert(key.to_owned(), request);
                    }
                }
                ask(Value::Object(requests), Some(sign("multiple"))).map(Into::into)
            }
        },
        "test_input_required_result_multi_round" => match verify(state) {
            Err(error) => Err(error),
            Ok(Some(payload)) if payload.starts_with("round-2:") && has("step2") => done(format!(
                "{} likes {}",
                payload.trim_start_matches("round-2:"),
                answered(responses, "step2", "color")
            )),
            Ok(Some(payload)) if payload == "round-1" && has("step1") => ask(
                json!({"step2": elicit("Step 2: What is your favorite color?", "color", "string")}),
                Some(sign(&format!("round-2:{}", answered(responses, "step1", "name")))),
            )
            .map(Into::into),
            Ok(_) => ask(
                json!({"step1": elicit("Step 1: What is your name?", "name", "string")}),
                Some(sign("round-1")),
            )
            .map(Into::into),
        },
        _ => return None,
    })
}

/// Answers `prompts/get` for `test_input_required_result_prompt`.
pub(super) fn prompt(responses: &Value) -> Result<GetPromptResponse, McpError> {
    if responses.get("user_context").is_some_and(Value::is_object) {
        let context = answered(responses, "user_context", "context");
        let prompt: rmcp::model::GetPromptResult = result(json!({"messages": [{"role": "user",
            "content": {"type": "text", "text": format!("Use this context: {context}")}}]}))?;
        return Ok(prompt.into());
    }
    let requests =
        json!({"user_context": elicit("What context should the prompt use?", "context", "string")});
    Ok(ask(requests, None)?.into())
}

/// The tools above, for `tools/list`.
pub(super) fn tools() -> Vec<Value> {
    let none = json!({"type": "object", "properties": {}});
    [
        "test_input_required_result_elicitation",
        "test_input_required_result_sampling",
        "test_input_required_result_list_roots",
        "test_input_required_result_request_state",
        "test_input_required_result_multiple_inputs",
        "test_input_required_result_multi_round",
        "test_input_required_result_tampered_state",
        "test_input_required_result_capabilities",
    ]
    .into_iter()
    .map(|name| json!({"name": name, "description": "Asks the client for input (input_required)", "inputSchema": none}))
    .collect()
}
