//! The Atoms MCP server handler: what Atoms declares to clients (capabilities, instructions)
//! and how it answers protocol-level requests. Tools come from [`crate::tools`], called as the
//! identity the transport guard put on the HTTP request; resources and prompts land next (their
//! lists are empty and truthful until then).
//!
//! rmcp marks logging deprecated (SEP-2577, the 2026-07-28 era drops it), but `logging/setLevel`
//! and `notifications/message` are part of the 2025-11-25 protocol Atoms serves, hence the
//! module-wide `expect(deprecated)`.
#![expect(deprecated, reason = "logging is part of the 2025-11-25 protocol we serve")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult, Implementation,
    InitializeResult, ListToolsResult, LoggingLevel, PaginatedRequestParams, ServerCapabilities,
    SetLevelRequestParams,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};

use crate::db::{Db, Identity};

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
    pub fn new(db: Option<Db>) -> Self {
        Self { db, log_level: Arc::default() }
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
        // The guard put the caller on every request it let through; without one, refuse.
        let identity = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Identity>())
            .cloned()
            .ok_or_else(|| McpError::internal_error("the request carries no caller identity", None))?;
        let arguments = request.arguments.unwrap_or_default();
        Ok(crate::tools::call(self.db.as_ref(), &identity, &request.name, arguments).await.into())
    }

    async fn complete(
        &self,
        _request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        // No prompt or resource template takes arguments yet: nothing to complete.
        Ok(CompleteResult::default())
    }
}
