//! MCP resources: the caller's workspaces (`resources/list`, paged by the workspace cursor) and
//! two templates, `atoms://workspaces/{workspace_id}` (the workspace's info) and
//! `atoms://entities/{entity_id}` (the entity with its first relationships), read as JSON.
//! The list depends on the caller, so the list cache never answers `resources/list`.

use serde_json::{Value, json};

use crate::db::{Db, DbError, Identity};

pub(super) const WORKSPACE_PREFIX: &str = "atoms://workspaces/";
pub(super) const ENTITY_PREFIX: &str = "atoms://entities/";

/// The `resources/list` result: one resource per workspace of the caller.
pub(super) async fn list(db: &Db, identity: &Identity, cursor: Option<&str>) -> Result<Value, DbError> {
    let page = db.rpc("atoms_workspace_list", &json!({"limit": 200, "cursor": cursor}), identity).await?;
    let resources: Vec<Value> = page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|w| {
                    json!({"uri": format!("{WORKSPACE_PREFIX}{}", w["id"].as_str().unwrap_or_default()),
                           "name": w["name"], "description": format!("Workspace ({} role)", w["role"].as_str().unwrap_or("member")),
                           "mimeType": "application/json"})
                })
                .collect()
        })
        .unwrap_or_default();
    let mut result = json!({"resources": resources});
    if let Some(next) = page["next_cursor"].as_str() {
        result["nextCursor"] = json!(next);
    }
    Ok(result)
}

/// The `resources/templates/list` result (the same for everyone).
pub(super) fn templates() -> Value {
    json!({"resourceTemplates": [
        {"uriTemplate": format!("{WORKSPACE_PREFIX}{{workspace_id}}"), "name": "workspace",
         "description": "A workspace: counts by type, members, last activity", "mimeType": "application/json"},
        {"uriTemplate": format!("{ENTITY_PREFIX}{{entity_id}}"), "name": "entity",
         "description": "An entity with its first 50 relationships each way", "mimeType": "application/json"},
    ]})
}

/// What a resource URI names.
pub(super) enum Target<'a> {
    Workspace(&'a str),
    Entity(&'a str),
}

/// Parses an `atoms://` URI; `None` for anything this server does not serve.
pub(super) fn target(uri: &str) -> Option<Target<'_>> {
    if let Some(id) = uri.strip_prefix(WORKSPACE_PREFIX).filter(|id| is_uuid(id)) {
        return Some(Target::Workspace(id));
    }
    uri.strip_prefix(ENTITY_PREFIX).filter(|id| is_uuid(id)).map(Target::Entity)
}

/// The contents of a resource, or `None` when it does not exist for this caller (another
/// team's workspace looks exactly like a missing one).
pub(super) async fn read(db: &Db, identity: &Identity, uri: &str) -> Result<Option<Value>, DbError> {
    let answer = match target(uri) {
        Some(Target::Workspace(id)) => {
            db.rpc("atoms_workspace_info", &json!({"workspace_id": id}), identity).await
        }
        Some(Target::Entity(id)) => {
            db.rpc("atoms_entity_get", &json!({"entity_id": id, "include_relationships": true}), identity)
                .await
        }
        None => return Ok(None),
    };
    match answer {
        Ok(data) => Ok(Some(
            json!({"contents": [{"uri": uri, "mimeType": "application/json", "text": data.to_string()}]}),
        )),
        Err(DbError::NotFound(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

fn is_uuid(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok() && text.len() == 36
}
