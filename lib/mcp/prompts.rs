//! MCP prompts that help a model use the graph well, each built from the caller's real data at
//! `prompts/get` time: `summarize_workspace`, `trace_dependencies` (what depends on an entity)
//! and `review_type` (the entities of one type, for duplicates and gaps).

use serde_json::{Value, json};

use crate::db::{Db, DbError, Identity};

/// The `prompts/list` result (the same for everyone).
pub(super) fn list() -> Value {
    json!({"prompts": [
        {"name": "summarize_workspace", "title": "Summarize a workspace",
         "description": "What a workspace holds: types, most connected entities, members, recent activity",
         "arguments": [{"name": "workspace_id", "description": "The workspace", "required": true}]},
        {"name": "trace_dependencies", "title": "Trace what depends on an entity",
         "description": "Everything that points to an entity, up to three hops, to judge the impact of changing it",
         "arguments": [{"name": "entity_id", "description": "The entity", "required": true}]},
        {"name": "review_type", "title": "Review the entities of one type",
         "description": "The entities of one type in a workspace, to find duplicates, gaps and stale entries",
         "arguments": [{"name": "workspace_id", "description": "The workspace", "required": true},
                       {"name": "type", "description": "An entity type in use there", "required": true}]},
    ]})
}

/// Why a prompt could not be built.
pub(super) enum PromptError {
    /// Unknown prompt or missing/invalid argument (JSON-RPC invalid params).
    Invalid(String),
    Db(DbError),
}

impl From<DbError> for PromptError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::NotFound(message) | DbError::InvalidArgument(message) => Self::Invalid(message),
            other => Self::Db(other),
        }
    }
}

/// The `prompts/get` result for `name` with `arguments`.
pub(super) async fn get(
    db: &Db,
    identity: &Identity,
    name: &str,
    arguments: &Value,
) -> Result<Value, PromptError> {
    let argument = |key: &str| {
        arguments[key]
            .as_str()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| PromptError::Invalid(format!("{name} needs the {key} argument")))
    };
    let (description, text) = match name {
        "summarize_workspace" => {
            let workspace = argument("workspace_id")?;
            let info = db.rpc("atoms_workspace_info", &json!({"workspace_id": workspace}), identity).await?;
            let stats = db.rpc("atoms_stats", &json!({"workspace_id": workspace}), identity).await?;
            (
                format!("Summary of workspace {}", info["workspace"]["name"].as_str().unwrap_or(workspace)),
                format!(
                    "Summarize the Atoms workspace below for a teammate who has never seen it: what it is \
                     about, the main kinds of entities, the most connected ones and why they matter, and \
                     what looks incomplete. Use entity_tool and relationship_tool to look closer if needed.\n\n\
                     Workspace:\n{info:#}\n\nStatistics:\n{stats:#}"
                ),
            )
        }
        "trace_dependencies" => {
            let entity = argument("entity_id")?;
            let read = db.rpc("atoms_entity_get", &json!({"entity_id": entity}), identity).await?;
            let graph = db
                .rpc(
                    "atoms_relationship_graph",
                    &json!({"entity_id": entity, "direction": "in", "depth": 3}),
                    identity,
                )
                .await?;
            (
                format!("What depends on {}", read["name"].as_str().unwrap_or(entity)),
                format!(
                    "Below is the entity {name:?} and everything that points to it, up to three hops \
                     (edges run from the dependent to what it depends on{truncated}). Explain what would \
                     be affected if it changed or disappeared, most directly affected first.\n\n\
                     Entity:\n{read:#}\n\nIncoming graph:\n{graph:#}",
                    name = read["name"].as_str().unwrap_or(entity),
                    truncated =
                        if graph["truncated"] == true { "; the graph was cut at its size limit" } else { "" },
                ),
            )
        }
        "review_type" => {
            let workspace = argument("workspace_id")?;
            let kind = argument("type")?;
            let page = db
                .rpc(
                    "atoms_entity_list",
                    &json!({"workspace_id": workspace, "type": kind, "limit": 200}),
                    identity,
                )
                .await?;
            let more = if page["next_cursor"].is_string() { " (the first 200; more exist)" } else { "" };
            (
                format!("Review of the {kind} entities"),
                format!(
                    "Review these {kind} entities of one workspace{more}: point out likely duplicates, \
                     inconsistent names or metadata, and obvious gaps. Suggest concrete entity_tool \
                     updates.\n\n{:#}",
                    page["items"]
                ),
            )
        }
        _ => return Err(PromptError::Invalid(format!("unknown prompt {name:?}"))),
    };
    Ok(
        json!({"description": description, "messages": [{"role": "user", "content": {"type": "text", "text": text}}]}),
    )
}

/// The completion kind for an argument of a prompt, if it has one.
pub(super) fn completion_kind(prompt: &str, argument: &str) -> Option<&'static str> {
    match (prompt, argument) {
        (_, "workspace_id") => Some("workspace"),
        (_, "entity_id") => Some("entity"),
        ("review_type", "type") => Some("entity_type"),
        _ => None,
    }
}
