//! The Atoms MCP server handler: what Atoms declares to clients (capabilities, instructions)
//! and how it answers each request, always as the identity the transport guard put on the HTTP
//! request: tools from [`crate::tools`], resources and prompts from [`super::resources`] and
//! [`super::prompts`], completion of their arguments from the caller's own data.
//!
//! rmcp marks logging deprecated (SEP-2577, the 2026-07-28 era drops it), but `logging/setLevel`
//! and `notifications/message` are part of the 2025-11-25 protocol Atoms serves, hence the
//! module-wide `expect(deprecated)`.
#![expect(deprecated, reason = "logging is part of the 2025-11-25 protocol we serve")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation, InitializeResult,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, LoggingLevel,
    PaginatedRequestParams, ProgressNotificationParam, ProgressToken, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, ServerCapabilities, SetLevelRequestParams,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};

use super::confirm::{self, Decision};
use super::prompts::{self, PromptError};
use super::resources;
use crate::db::{Db, DbError, Identity};

/// Short and useful to a model: what Atoms is and how to start.
pub const INSTRUCTIONS: &str = "Atoms is your team's knowledge graph: workspaces hold typed \
entities (people, projects, documents, ...) connected by typed relationships. Start by listing \
workspaces, then search or list entities inside one; prefer search over listing large \
workspaces. Writes are versioned: pass expected_version when updating to avoid overwriting \
someone else's change.";

/// One handler per MCP session (legacy era) or per request (stateless era).
#[derive(Clone, Default)]
pub struct AtomsServer {
    /// The database the tools call (none: tools answer `unavailable`).
    db: Option<Db>,
    /// The database and read cache of tool calls.
    tools: crate::tools::Backend,
    /// The minimum level of `notifications/message` the client asked for (`logging/setLevel`),
    /// as the index of [`LEVELS`]; shared by the handler clones of one session.
    log_level: Arc<AtomicU8>,
}

/// Log levels in RFC 5424 order, least severe first.
const LEVELS: [LoggingLevel; 8] = [
    LoggingLevel::Debug,
    LoggingLevel::Info,
    LoggingLevel::Notice,
    LoggingLevel::Warning,
    LoggingLevel::Error,
    LoggingLevel::Critical,
    LoggingLevel::Alert,
    LoggingLevel::Emergency,
];

impl AtomsServer {
    pub fn new(tools: crate::tools::Backend) -> Self {
        Self { db: tools.db.clone(), tools, log_level: Arc::default() }
    }

    /// True when a message at `level` should reach the client.
    pub fn wants(&self, level: LoggingLevel) -> bool {
        let rank = LEVELS.iter().position(|l| *l == level).unwrap_or(0) as u8;
        rank >= self.log_level.load(Ordering::Relaxed)
    }
}

fn capabilities() -> ServerCapabilities {
    ServerCapabilities::builder()
        .enable_logging()
        .enable_completions()
        .enable_prompts()
        .enable_resources()
        .enable_tools()
        .build()
}

impl ServerHandler for AtomsServer {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(capabilities())
            .with_server_info(Implementation::new("atoms", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let rank = LEVELS.iter().position(|l| *l == request.level).unwrap_or(0) as u8;
        self.log_level.store(rank, Ordering::Relaxed);
        Ok(())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(crate::tools::list()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if !crate::tools::exists(&request.name) {
            return Err(McpError::invalid_params(format!("unknown tool: {}", request.name), None));
        }
        let identity = caller(&context)?;
        let arguments = request.arguments.unwrap_or_default();
        if request.name == "workspace_tool"
            && arguments.get("operation").and_then(Value::as_str) == Some("delete_workspace")
            && let (Some(db), Some(workspace)) =
                (self.db.as_ref(), arguments.get("workspace_id").and_then(Value::as_str))
        {
            let responses = serde_json::to_value(&request.input_responses).unwrap_or_default();
            let state = request.request_state.as_deref();
            match confirm::delete_workspace(db, &identity, workspace, &responses, state, &context).await? {
                Decision::Proceed => {}
                Decision::Declined(result) => return Ok(CallToolResult::structured(result).into()),
                Decision::Ask(ask) => return Ok(ask.into()),
            }
        }
        // Long operations report their start and end to a client that sent a progress token.
        let operation = arguments.get("operation").and_then(Value::as_str).unwrap_or_default();
        let progress = context
            .meta
            .get_progress_token()
            .filter(|_| matches!(operation, "execute_workflow" | "export_results"))
            .map(|token| (token, operation.to_owned()));
        if let Some((token, operation)) = &progress {
            notify_progress(&context, token, 0.0, format!("{operation}: started")).await;
        }
        let call = crate::tools::call(&self.tools, &identity, &request.name, arguments);
        let result = tracing::Instrument::instrument(call, request_span(&context)).await;
        if let Some((token, operation)) = &progress {
            notify_progress(&context, token, 1.0, format!("{operation}: done")).await;
        }
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let identity = caller(&context)?;
        let cursor = request.and_then(|r| r.cursor);
        let page = resources::list(self.db()?, &identity, cursor.as_deref()).await.map_err(db_error)?;
        decode(page)
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        decode(resources::templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let identity = caller(&context)?;
        match resources::read(self.db()?, &identity, &request.uri).await.map_err(db_error)? {
            Some(contents) => Ok(decode::<ReadResourceResult>(contents)?.into()),
            // rmcp answers -32602 instead for 2026-07-28 peers, as that era requires.
            None => Err(McpError::resource_not_found(
                format!("no resource {}", request.uri),
                Some(json!({"uri": request.uri})),
            )),
        }
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        decode(prompts::list())
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let identity = caller(&context)?;
        let arguments = request.arguments.map(Value::Object).unwrap_or_else(|| json!({}));
        match prompts::get(self.db()?, &identity, &request.name, &arguments).await {
            Ok(prompt) => Ok(decode::<GetPromptResult>(prompt)?.into()),
            Err(PromptError::Invalid(message)) => Err(McpError::invalid_params(message, None)),
            Err(PromptError::Db(error)) => Err(db_error(error)),
        }
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let identity = caller(&context)?;
        let request = serde_json::to_value(&request).unwrap_or_default();
        let argument = request["argument"]["name"].as_str().unwrap_or_default();
        let kind = match request["ref"]["type"].as_str() {
            Some("ref/prompt") => {
                prompts::completion_kind(request["ref"]["name"].as_str().unwrap_or_default(), argument)
            }
            Some("ref/resource") => match argument {
                "workspace_id" => Some("workspace"),
                "entity_id" => Some("entity"),
                _ => None,
            },
            _ => None,
        };
        let Some(kind) = kind else {
            return decode(json!({"completion": {"values": [], "hasMore": false}}));
        };
        let mut args = json!({"kind": kind, "prefix": request["argument"]["value"]});
        // A workspace chosen earlier (prompt context) narrows entity and type completion.
        if let Some(workspace) = request["context"]["arguments"]["workspace_id"].as_str() {
            args["workspace_id"] = json!(workspace);
        }
        let found = match self.db()?.rpc("atoms_complete", &args, &identity).await {
            Ok(found) => found,
            // Completion is a hint: an unknown or foreign workspace completes to nothing.
            Err(DbError::NotFound(_) | DbError::InvalidArgument(_)) => {
                json!({"values": [], "has_more": false})
            }
            Err(error) => return Err(db_error(error)),
        };
        decode(json!({"completion": {"values": found["values"], "hasMore": found["has_more"]}}))
    }
}

impl AtomsServer {
    fn db(&self) -> Result<&Db, McpError> {
        self.db
            .as_ref()
            .ok_or_else(|| McpError::internal_error("no database is configured for this deployment", None))
    }
}

/// The caller the transport guard attached to the HTTP request (every request it lets through
/// has one).
fn caller(context: &RequestContext<RoleServer>) -> Result<Identity, McpError> {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Identity>())
        .cloned()
        .ok_or_else(|| McpError::internal_error("the request carries no caller identity", None))
}

/// The HTTP request's `request` span (rmcp runs handlers in its own tasks), else none.
fn request_span(context: &RequestContext<RoleServer>) -> tracing::Span {
    let parts = context.extensions.get::<axum::http::request::Parts>();
    let span = parts.and_then(|parts| parts.extensions.get::<crate::http::RequestSpan>());
    span.map_or_else(tracing::Span::none, |span| span.0.clone())
}

/// Sends `notifications/progress` (of 1), before the result so it arrives on the same stream.
/// Progress is a courtesy: a failure to send is not a reason to fail the call. (JSON-only
/// responses of the 2026-07-28 era carry none.)
async fn notify_progress(
    context: &RequestContext<RoleServer>,
    token: &ProgressToken,
    progress: f64,
    message: String,
) {
    let param = ProgressNotificationParam::new(token.clone(), progress).with_total(1.0).with_message(message);
    let _ = context.peer.notify_progress(param).await;
}

/// An rmcp result from its JSON shape (`resultType: complete`, as 2026-07-28 requires; rmcp
/// drops it for older peers).
fn decode<T: serde::de::DeserializeOwned>(mut value: Value) -> Result<T, McpError> {
    value["resultType"] = json!("complete");
    serde_json::from_value(value).map_err(|e| McpError::internal_error(format!("result shape: {e}"), None))
}

/// A database failure outside a tool call, as a JSON-RPC error without internals.
fn db_error(error: DbError) -> McpError {
    match error {
        DbError::Timeout | DbError::Unavailable(_) => {
            McpError::internal_error("the database is unavailable right now; retry shortly", None)
        }
        DbError::Internal(detail) => {
            tracing::error!(error = %detail, "MCP request failed in the database");
            McpError::internal_error("the request failed unexpectedly; it has been logged", None)
        }
        other => McpError::invalid_params(other.to_string(), None),
    }
}
