//! The fixtures the official MCP conformance suite (`@modelcontextprotocol/conformance`) drives:
//! `test_*` tools, `test://` resources and `test_*` prompts, as its scenario descriptions specify.
//! Compiled only with `--features conformance` and mounted by `atoms serve --conformance`;
//! production binaries never contain them.
//!
//! Results are written as the JSON the scenarios specify and decoded into rmcp's model types,
//! so the wire shape is exactly the documented one.
#![expect(deprecated, reason = "logging, sampling and resource subscriptions are 2025-11-25 protocol")]

mod input_required;

use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, InitializeResult, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, SetLevelRequestParams,
    SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::AtomsServer;

/// A 1×1 red PNG.
const PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A 44-byte silent WAV header (0 samples).
const WAV: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=";

#[derive(Clone, Default)]
pub struct ConformanceServer {
    /// Capabilities, instructions and logging level come from the real server.
    atoms: AtomsServer,
}

fn decode<T: DeserializeOwned>(value: Value) -> Result<T, McpError> {
    serde_json::from_value(value).map_err(|e| McpError::internal_error(format!("fixture shape: {e}"), None))
}

/// A result object: `resultType: complete` as 2026-07-28 requires (rmcp drops it for peers
/// that negotiated an older version), list results cacheable like the Atoms server's own.
fn result<T: DeserializeOwned>(mut value: Value) -> Result<T, McpError> {
    value["resultType"] = json!("complete");
    decode(value)
}

fn text_result(text: impl Into<String>) -> Result<CallToolResponse, McpError> {
    Ok(CallToolResult::success(vec![rmcp::model::ContentBlock::text(text)]).into())
}

fn tools() -> Value {
    let mut tools = base_tools();
    if let Value::Array(list) = &mut tools {
        list.extend(input_required::tools());
    }
    tools
}

fn base_tools() -> Value {
    let none = json!({"type": "object", "properties": {}});
    json!([
        {"name": "test_simple_text", "description": "Returns simple text", "inputSchema": none},
        {"name": "test_image_content", "description": "Returns an image", "inputSchema": none},
        {"name": "test_audio_content", "description": "Returns audio", "inputSchema": none},
        {"name": "test_embedded_resource", "description": "Returns an embedded resource", "inputSchema": none},
        {"name": "test_multiple_content_types", "description": "Returns text, image and resource", "inputSchema": none},
        {"name": "test_tool_with_logging", "description": "Logs while running", "inputSchema": none},
        {"name": "test_tool_with_progress", "description": "Reports progress", "inputSchema": none},
        {"name": "test_error_handling", "description": "Always fails", "inputSchema": none},
        {"name": "test_sampling", "description": "Asks the client's model",
         "inputSchema": {"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]}},
        {"name": "test_elicitation", "description": "Asks the user",
         "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}},
        {"name": "test_elicitation_sep1034_defaults", "description": "Elicitation with defaults", "inputSchema": none},
        {"name": "test_elicitation_sep1330_enums", "description": "Elicitation with enums", "inputSchema": none},
        {"name": "test_missing_capability", "description": "Needs the sampling client capability", "inputSchema": none},
        {"name": "test_streaming_elicitation", "description": "Asks the user, statelessly", "inputSchema": none},
        {"name": "test_logging_tool", "description": "Logs only at a requested log level", "inputSchema": none},
        {"name": "json_schema_2020_12_tool", "description": "Tool with JSON Schema 2020-12 features",
         "inputSchema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {"address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
            "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
            "additionalProperties": false}},
    ])
}

impl ConformanceServer {
    async fn elicit(
        &self,
        context: &RequestContext<RoleServer>,
        params: Value,
    ) -> Result<CallToolResponse, McpError> {
        let result = context
            .peer
            .create_elicitation(decode(params)?)
            .await
            .map_err(|e| McpError::internal_error(format!("elicitation failed: {e}"), None))?;
        let result = serde_json::to_value(&result).unwrap_or_default();
        text_result(format!(
            "Elicitation completed: action={}, content={}",
            result["action"].as_str().unwrap_or("unknown"),
            result.get("content").cloned().unwrap_or(Value::Null)
        ))
    }

    async fn log(&self, context: &RequestContext<RoleServer>, message: &str) {
        if self.atoms.wants(rmcp::model::LoggingLevel::Info)
            && let Ok(param) = decode(json!({"level": "info", "logger": "conformance", "data": message}))
        {
            let _ = context.peer.notify_logging_message(param).await;
        }
    }
}

impl ServerHandler for ConformanceServer {
    fn get_info(&self) -> InitializeResult {
        let mut info = self.atoms.get_info();
        let mut resources = rmcp::model::ResourcesCapability::default();
        resources.subscribe = Some(true);
        info.capabilities.resources = Some(resources);
        info
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.atoms.set_level(request, context).await
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        result(json!({"tools": tools(), "ttlMs": 0, "cacheScope": "private"}))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let args = request.arguments.clone().map(Value::Object).unwrap_or_else(|| json!({}));
        let responses = serde_json::to_value(&request.input_responses).unwrap_or_default();
        // rmcp lifts the request's `_meta` into the context.
        let meta = serde_json::to_value(&context.meta).unwrap_or_default();
        let capabilities = &meta["io.modelcontextprotocol/clientCapabilities"];
        if let Some(answer) =
            input_required::call(&request.name, &responses, request.request_state.as_deref(), capabilities)
        {
            return answer;
        }
        match request.name.as_ref() {
            // 2026-07-28 diagnostics: a capability must be declared per request, server-to-client
            // questions travel as InputRequiredResult, logs only at a requested level.
            "test_missing_capability" if capabilities.get("sampling").is_none() => {
                let mut required = rmcp::model::ClientCapabilities::default();
                required.sampling = Some(Default::default());
                return Err(McpError::missing_required_client_capability(required));
            }
            "test_streaming_elicitation" if capabilities.get("elicitation").is_none() => {
                let mut required = rmcp::model::ClientCapabilities::default();
                required.elicitation = Some(Default::default());
                return Err(McpError::missing_required_client_capability(required));
            }
            "test_missing_capability" | "test_streaming_elicitation" => {
                if responses.get("confirm").is_some_and(Value::is_object) {
                    return text_result("Confirmed");
                }
                let ask = json!({"resultType": "input_required", "inputRequests": {"confirm": {
                    "method": "elicitation/create", "params": {"message": "Please confirm", "requestedSchema": {
                        "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}}}}});
                return Ok(decode::<rmcp::model::InputRequiredResult>(ask)?.into());
            }
            "test_logging_tool" => {
                if meta.get("io.modelcontextprotocol/logLevel").is_some() {
                    self.log(&context, "Logging tool ran").await;
                }
                return text_result("Logging tool executed");
            }
            _ => {}
        }
        let content = |value: Value| -> Result<CallToolResponse, McpError> {
            Ok(result::<CallToolResult>(json!({"content": value}))?.into())
        };
        match request.name.as_ref() {
            "test_simple_text" => text_result("This is a simple text response for testing."),
            "test_image_content" => content(json!([{"type": "image", "data": PNG, "mimeType": "image/png"}])),
            "test_audio_content" => content(json!([{"type": "audio", "data": WAV, "mimeType": "audio/wav"}])),
            "test_embedded_resource" => content(json!([{"type": "resource", "resource": {
                "uri": "test://embedded-resource", "mimeType": "text/plain",
                "text": "This is an embedded resource content."}}])),
            "test_multiple_content_types" => content(json!([
                {"type": "text", "text": "Multiple content types test:"},
                {"type": "image", "data": PNG, "mimeType": "image/png"},
                {"type": "resource", "resource": {"uri": "test://mixed-content-resource",
                    "mimeType": "application/json", "text": "{\"test\":\"data\",\"value\":123}"}}])),
            "test_error_handling" => Ok(CallToolResult::error(vec![rmcp::model::ContentBlock::text(
                "This tool intentionally returns an error for testing",
            )])
            .into()),
            "test_tool_with_logging" => {
                self.log(&context, "Tool execution started").await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                self.log(&context, "Tool processing data").await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                self.log(&context, "Tool execution completed").await;
                text_result("Tool with logging executed successfully")
            }
            "test_tool_with_progress" => {
                let token = context.meta.get_progress_token();
                for (i, progress) in [0, 50, 100].into_iter().enumerate() {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    if let Some(token) = &token {
                        let param = decode(json!({"progressToken": token, "progress": progress, "total": 100}))?;
                        let _ = context.peer.notify_progress(param).await;
                    }
                }
                text_result("Tool with progress executed successfully")
            }
            "test_sampling" => {
                let prompt = args["prompt"].as_str().unwrap_or_default();
                let params = decode(json!({"messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
                    "maxTokens": 100}))?;
                let result = context
                    .peer
                    .create_message(params)
                    .await
                    .map_err(|e| McpError::internal_error(format!("sampling failed: {e}"), None))?;
                let result = serde_json::to_value(&result).unwrap_or_default();
                let reply = match &result["content"] {
                    Value::Array(items) => items.iter().find_map(|c| c["text"].as_str()).unwrap_or_default().to_owned(),
                    single => single["text"].as_str().unwrap_or_default().to_owned(),
                };
                text_result(format!("LLM response: {reply}"))
            }
            "test_elicitation" => {
                let message = args["message"].as_str().unwrap_or("Please provide your information");
                self.elicit(&context, json!({"message": message, "requestedSchema": {
                    "type": "object",
                    "properties": {
                        "username": {"type": "string", "description": "User's response"},
                        "email": {"type": "string", "description": "User's email address"}},
                    "required": ["username", "email"]}}))
                .await
            }
            "test_elicitation_sep1034_defaults" => {
                self.elicit(&context, json!({"message": "Please review and update the form fields with defaults",
                    "requestedSchema": {"type": "object", "properties": {
                        "name": {"type": "string", "description": "User name", "default": "John Doe"},
                        "age": {"type": "integer", "description": "User age", "default": 30},
                        "score": {"type": "number", "description": "User score", "default": 95.5},
                        "status": {"type": "string", "description": "User status",
                                   "enum": ["active", "inactive", "pending"], "default": "active"},
                        "verified": {"type": "boolean", "description": "Verification status", "default": true}}}}))
                .await
            }
            "test_elicitation_sep1330_enums" => {
                self.elicit(&context, json!({"message": "Please select options from the enum fields",
                    "requestedSchema": {"type": "object", "properties": {
                        "untitledSingle": {"type": "string", "description": "Select one option",
                            "enum": ["option1", "option2", "option3"]},
                        "titledSingle": {"type": "string", "description": "Select one option with titles",
                            "oneOf": [{"const": "value1", "title": "First Option"},
                                      {"const": "value2", "title": "Second Option"},
                                      {"const": "value3", "title": "Third Option"}]},
                        "legacyEnum": {"type": "string", "description": "Select one option (legacy)",
                            "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"]},
                        "untitledMulti": {"type": "array", "description": "Select multiple options",
                            "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
                        "titledMulti": {"type": "array", "description": "Select multiple options with titles",
                            "items": {"anyOf": [{"const": "value1", "title": "First Choice"},
                                                {"const": "value2", "title": "Second Choice"},
                                                {"const": "value3", "title": "Third Choice"}]}}}}}))
                .await
            }
            "json_schema_2020_12_tool" => text_result("ok"),
            other => Err(McpError::invalid_params(format!("unknown tool {other}"), None)),
        }
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        result(json!({"ttlMs": 0, "cacheScope": "private", "resources": [
            {"uri": "test://static-text", "name": "static-text", "description": "A static text resource", "mimeType": "text/plain"},
            {"uri": "test://static-binary", "name": "static-binary", "description": "A static binary resource", "mimeType": "image/png"},
            {"uri": "test://watched-resource", "name": "watched-resource", "description": "A resource to subscribe to", "mimeType": "text/plain"},
        ]}))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        result(
            json!({"ttlMs": 0, "cacheScope": "private", "resourceTemplates": [{"uriTemplate": "test://template/{id}/data", "name": "template",
            "description": "Data for an id", "mimeType": "application/json"}]}),
        )
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri.as_str();
        let contents = match uri {
            "test://static-text" => json!({"uri": uri, "mimeType": "text/plain",
                "text": "This is the content of the static text resource."}),
            "test://static-binary" => json!({"uri": uri, "mimeType": "image/png", "blob": PNG}),
            "test://watched-resource" => {
                json!({"uri": uri, "mimeType": "text/plain", "text": "Watched resource content."})
            }
            _ => match uri.strip_prefix("test://template/").and_then(|rest| rest.strip_suffix("/data")) {
                Some(id) if !id.is_empty() && !id.contains('/') => {
                    json!({"uri": uri, "mimeType": "application/json",
                    "text": json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")}).to_string()})
                }
                _ => {
                    return Err(McpError::resource_not_found(
                        format!("no resource {uri}"),
                        Some(json!({"uri": uri})),
                    ));
                }
            },
        };
        Ok(result::<ReadResourceResult>(json!({"contents": [contents]}))?.into())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &rmcp::model::SubscriptionFilter,
    ) -> Option<rmcp::model::SubscriptionFilter> {
        Some(requested.clone())
    }

    async fn subscribe(
        &self,
        _request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        Ok(())
    }

    async fn unsubscribe(
        &self,
        _request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        result(json!({"ttlMs": 0, "cacheScope": "private", "prompts": [
            {"name": "test_simple_prompt", "description": "A simple prompt"},
            {"name": "test_prompt_with_arguments", "description": "A prompt with arguments", "arguments": [
                {"name": "arg1", "description": "First test argument", "required": true},
                {"name": "arg2", "description": "Second test argument", "required": true}]},
            {"name": "test_prompt_with_embedded_resource", "description": "A prompt with a resource", "arguments": [
                {"name": "resourceUri", "description": "URI of the resource to embed", "required": true}]},
            {"name": "test_prompt_with_image", "description": "A prompt with an image"},
            {"name": "test_input_required_result_prompt", "description": "A prompt that asks for context first"},
        ]}))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        if request.name == "test_input_required_result_prompt" {
            let responses = serde_json::to_value(&request.input_responses).unwrap_or_default();
            return input_required::prompt(&responses);
        }
        let args = request.arguments.clone().map(Value::Object).unwrap_or_else(|| json!({}));
        let arg = |name: &str| args[name].as_str().unwrap_or_default().to_owned();
        let messages = match request.name.as_str() {
            "test_simple_prompt" => json!([{"role": "user", "content": {"type": "text",
                "text": "This is a simple prompt for testing."}}]),
            "test_prompt_with_arguments" => json!([{"role": "user", "content": {"type": "text",
                "text": format!("Prompt with arguments: arg1='{}', arg2='{}'", arg("arg1"), arg("arg2"))}}]),
            "test_prompt_with_embedded_resource" => json!([
                {"role": "user", "content": {"type": "resource", "resource": {"uri": arg("resourceUri"),
                    "mimeType": "text/plain", "text": "Embedded resource content for testing."}}},
                {"role": "user", "content": {"type": "text", "text": "Please process the embedded resource above."}}]),
            "test_prompt_with_image" => json!([
                {"role": "user", "content": {"type": "image", "data": PNG, "mimeType": "image/png"}},
                {"role": "user", "content": {"type": "text", "text": "Please analyze the image above."}}]),
            other => return Err(McpError::invalid_params(format!("unknown prompt {other}"), None)),
        };
        Ok(result::<GetPromptResult>(json!({"messages": messages}))?.into())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let typed = request.argument.value.to_lowercase();
        let values: Vec<&str> = ["paris", "park", "party", "hello", "world"]
            .into_iter()
            .filter(|v| v.starts_with(&typed))
            .collect();
        result(json!({"completion": {"values": values, "total": values.len(), "hasMore": false}}))
    }
}
