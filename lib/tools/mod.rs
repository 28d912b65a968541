//! The Atoms MCP tools: `workspace_tool`, `entity_tool`, `relationship_tool`, `workflow_tool`
//! and `query_tool`, each taking `operation` plus that operation's arguments as one flat object.
//!
//! A call is a pass-through: the operation names one database function ([`catalog`]), the
//! arguments minus `operation` are its JSON argument, and its answer becomes the result envelope
//! `{operation, data, next_cursor?}` (as `structuredContent` and as one text block). Failures are
//! tool results with `isError` and `{error: {code, message}}`; only an unknown tool name is a
//! JSON-RPC error. [`export`] renders export pages; [`cache`] answers slow reads from the shared
//! KV and is invalidated by every write; [`compact`] writes the envelope straight from the
//! database's JSON text.

mod answer;
pub mod cache;
pub mod catalog;
pub mod compact;
mod export;

pub use answer::Answer;

use std::sync::{Arc, LazyLock};

use rmcp::model::{CallToolResult, JsonObject, Tool, ToolAnnotations};
use serde_json::{Map, Value, json};
use tracing::Instrument as _;
use tracing::field::Empty;

use crate::db::{Db, DbError, Identity};
use catalog::{Operation, TOOLS, ToolSpec};

/// The tool list, built once per process (the same for every caller).
pub fn list() -> Vec<Tool> {
    static LIST: LazyLock<Vec<Tool>> = LazyLock::new(|| TOOLS.iter().map(definition).collect());
    LIST.clone()
}

/// True when `name` is one of the tools.
pub fn exists(name: &str) -> bool {
    TOOLS.iter().any(|tool| tool.name == name)
}

/// What tool calls run against: the database and, when enabled, the read cache.
#[derive(Clone, Default)]
pub struct Backend {
    pub db: Option<Db>,
    pub cache: Option<cache::ReadCache>,
}

/// Runs `operation` of tool `name` (which must [`exist`](exists)) as `identity`: rmcp's result.
pub async fn call(
    backend: &Backend,
    identity: &Identity,
    name: &str,
    arguments: JsonObject,
) -> CallToolResult {
    answer(backend, identity, name, arguments).await.into_result()
}

/// Runs `operation` of tool `name` (which must [`exist`](exists)) as `identity`, recording its
/// span and metrics: the answer, still to be written.
pub async fn answer(backend: &Backend, identity: &Identity, name: &str, arguments: JsonObject) -> Answer {
    let started = std::time::Instant::now();
    let operation = arguments.get("operation").and_then(Value::as_str).unwrap_or_default();
    // Tool and operation from the catalog (else `other`), never an argument value.
    let labels = crate::metrics::labels::tool(name, operation);
    let (tool_label, operation_label) = labels;
    let span = tracing::info_span!("tool", tool = tool_label, operation = operation_label, outcome = Empty);
    let (answer, outcome) = match run(backend, identity, name, arguments).instrument(span.clone()).await {
        Ok(answer) => (answer, "ok"),
        Err(error) => (failure(&error), error.code),
    };
    span.record("outcome", crate::metrics::labels::outcome(outcome));
    crate::metrics::record_tool_call(labels, outcome, started.elapsed());
    answer
}

async fn run(
    backend: &Backend,
    identity: &Identity,
    name: &str,
    mut arguments: JsonObject,
) -> Result<Answer, ToolError> {
    let tool = TOOLS
        .iter()
        .find(|tool| tool.name == name)
        .ok_or_else(|| ToolError::invalid(format!("unknown tool {name}")))?;
    let operation = select_operation(tool, &mut arguments)?;
    check_arguments(operation, &arguments)?;
    let db = backend
        .db
        .as_ref()
        .ok_or_else(|| ToolError::new("unavailable", "no database is configured for this deployment"))?;
    if operation.name == "export_results" {
        let format = export::Format::take(&mut arguments)?;
        let page = db.rpc(operation.function, &Value::Object(arguments), identity).await?;
        return Ok(Answer::Result(export::result(page, format)));
    }
    let Some(cache) = &backend.cache else {
        let text = db.rpc_text(operation.function, &Value::Object(arguments), identity).await?;
        return from_database(operation, &text);
    };
    if cache::CACHED.contains(&operation.name)
        && let Some(workspace) = workspace_of(db, cache, identity, &arguments).await
    {
        match cache.lookup(identity, operation.name, &arguments, &workspace).await {
            Some(Ok(hit)) => return Ok(Answer::ok(envelope(operation.name, hit))),
            Some(Err(miss)) => {
                let data = db.rpc(operation.function, &Value::Object(arguments), identity).await?;
                cache.store(miss, &data).await;
                return Ok(Answer::ok(envelope(operation.name, data)));
            }
            None => {}
        }
    }
    let is_write = crate::limits::Class::of_operation(operation.name) == Some(crate::limits::Class::Write)
        && arguments.get("dry_run") != Some(&Value::Bool(true));
    let named_workspace = if is_write { arguments.get("workspace_id").cloned() } else { None };
    let text = db.rpc_text(operation.function, &Value::Object(arguments), identity).await?;
    if is_write {
        // The result is read only when the arguments do not name the workspace.
        let data = match named_workspace {
            Some(_) => Value::Null,
            None => crate::db::parse_result(operation.function, &text)?,
        };
        cache.invalidate(cache::written_workspace(named_workspace.as_ref(), &data).as_deref()).await;
    }
    from_database(operation, &text)
}

/// The answer of `operation` from its function's JSON text: written straight through where
/// [`compact`] is exact, else through a `Value`.
fn from_database(operation: &Operation, text: &str) -> Result<Answer, ToolError> {
    match compact::envelope(operation.name, text) {
        Some(json) => Ok(Answer::Envelope(json)),
        None => Ok(Answer::ok(envelope(operation.name, crate::db::parse_result(operation.function, text)?))),
    }
}

/// The workspace a cacheable read addresses: its `workspace_id`, or for an entity-addressed
/// read the entity's workspace (remembered in the cache once read through `read_entity`'s
/// function, so the caller's own permissions apply).
async fn workspace_of(
    db: &Db,
    cache: &cache::ReadCache,
    identity: &Identity,
    arguments: &JsonObject,
) -> Option<String> {
    if let Some(workspace) = arguments.get("workspace_id").and_then(Value::as_str) {
        return Some(workspace.to_owned());
    }
    let entity = arguments.get("entity_id").and_then(Value::as_str)?;
    if let Some(workspace) = cache.entity_workspace(entity).await {
        return Some(workspace);
    }
    let found = db.rpc("atoms_entity_get", &json!({"entity_id": entity}), identity).await.ok()?;
    let workspace = found.get("workspace_id").and_then(Value::as_str)?.to_owned();
    cache.remember_entity_workspace(entity, &workspace).await;
    Some(workspace)
}

/// `{operation, data, next_cursor?}`: a page's `next_cursor` moves up beside `data` (the `Value`
/// path, and what [`compact::envelope`] must write byte for byte).
pub fn envelope(operation: &str, mut data: Value) -> Value {
    let next_cursor =
        data.as_object_mut().and_then(|page| page.remove("next_cursor")).filter(|c| !c.is_null());
    // Built by hand: `json!` would serialize `data` into a copy instead of moving it.
    let mut result = Map::new();
    result.insert("operation".to_owned(), Value::String(operation.to_owned()));
    result.insert("data".to_owned(), data);
    if let Some(cursor) = next_cursor {
        result.insert("next_cursor".to_owned(), cursor);
    }
    Value::Object(result)
}

fn select_operation<'a>(tool: &'a ToolSpec, arguments: &mut JsonObject) -> Result<&'a Operation, ToolError> {
    let names = || tool.operations.iter().map(|op| op.name).collect::<Vec<_>>().join(", ");
    let requested = match arguments.remove("operation") {
        Some(Value::String(requested)) => requested,
        Some(_) => return Err(ToolError::invalid(format!("operation must be a string: one of {}", names()))),
        None => return Err(ToolError::invalid(format!("operation is required: one of {}", names()))),
    };
    tool.operations.iter().find(|op| op.name == requested).ok_or_else(|| {
        ToolError::invalid(format!("{} has no operation {requested:?}: use one of {}", tool.name, names()))
    })
}

/// Every required argument is present and every argument belongs to the operation. (Types and
/// formats are checked by the database function, which names the argument at fault.)
fn check_arguments(operation: &Operation, arguments: &JsonObject) -> Result<(), ToolError> {
    let missing: Vec<&str> = operation
        .required
        .iter()
        .copied()
        .filter(|name| arguments.get(*name).is_none_or(Value::is_null))
        .collect();
    if !missing.is_empty() {
        return Err(ToolError::invalid(format!(
            "{} is required for {}",
            missing.join(" and "),
            operation.name
        )));
    }
    let unknown: Vec<&str> = arguments
        .keys()
        .map(String::as_str)
        .filter(|name| !operation.required.contains(name) && !operation.optional.contains(name))
        .collect();
    if !unknown.is_empty() {
        let accepted: Vec<&str> = operation.required.iter().chain(operation.optional).copied().collect();
        return Err(ToolError::invalid(format!(
            "{} does not take {}; it takes {}",
            operation.name,
            unknown.join(", "),
            if accepted.is_empty() { "no arguments".to_owned() } else { accepted.join(", ") }
        )));
    }
    Ok(())
}

/// A failed call, with the stable code tool results carry.
#[derive(Debug)]
pub struct ToolError {
    code: &'static str,
    message: String,
}

impl ToolError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new("invalid_argument", message)
    }
}

impl From<DbError> for ToolError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Timeout => {
                Self::new("unavailable", "the database did not answer in time; retry shortly")
            }
            DbError::Unavailable(_) => {
                Self::new("unavailable", "the database is unreachable right now; retry shortly")
            }
            DbError::Unauthenticated(message) => Self::new("permission_denied", message),
            DbError::Internal(detail) => {
                tracing::error!(error = %detail, "tool call failed in the database");
                Self::new("internal", "the operation failed unexpectedly; it has been logged")
            }
            other => Self::new(other.code(), other.to_string()),
        }
    }
}

fn failure(error: &ToolError) -> Answer {
    Answer::Structured {
        value: json!({"error": {"code": error.code, "message": error.message}}),
        is_error: true,
    }
}

/// `value` as structured content and as one text block.
pub(crate) fn structured(value: Value) -> CallToolResult {
    Answer::ok(value).into_result()
}

/// The MCP definition of one tool: a flat object schema whose every property says which
/// operations use it.
fn definition(tool: &ToolSpec) -> Tool {
    let mut properties = Map::new();
    properties.insert(
        "operation".to_owned(),
        json!({"type": "string", "enum": tool.operations.iter().map(|op| op.name).collect::<Vec<_>>(),
               "description": "What to do."}),
    );
    for operation in tool.operations {
        for name in operation.required.iter().chain(operation.optional) {
            if properties.contains_key(*name) {
                continue;
            }
            let users: Vec<String> = tool
                .operations
                .iter()
                .filter(|op| op.required.contains(name) || op.optional.contains(name))
                .map(|op| {
                    if op.required.contains(name) {
                        format!("{} (required)", op.name)
                    } else {
                        op.name.to_owned()
                    }
                })
                .collect();
            let (mut schema, meaning) = catalog::property(tool.name, name);
            schema["description"] = json!(format!("{meaning} Used by: {}.", users.join(", ")));
            properties.insert((*name).to_owned(), schema);
        }
    }
    let input = json!({"type": "object", "properties": properties, "required": ["operation"], "additionalProperties": false});
    let output = json!({"type": "object", "properties": {
        "operation": {"type": "string"},
        "data": {"description": "The operation's result."},
        "next_cursor": {"type": "string", "description": "Pass as cursor to get the next page."},
        "error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}});
    let annotations = ToolAnnotations::new()
        .read_only(tool.read_only)
        .destructive(!tool.read_only)
        .idempotent(tool.read_only)
        .open_world(false);
    Tool::new(tool.name, tool.description, object(input))
        .with_title(tool.title)
        .with_raw_output_schema(object(output))
        .with_annotations(annotations)
}

fn object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}
