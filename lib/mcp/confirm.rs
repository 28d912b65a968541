//! Asking the person before `workspace_tool.delete_workspace`, when the client can ask: an
//! `elicitation/create` request in a 2025-11-25 session, an `input_required` round trip in the
//! 2026-07-28 era (the retry carries the answer and the `requestState` naming the workspace).
//! The question names the workspace and how many entities it holds; a decline (or no answer)
//! is a non-error result saying nothing was deleted. Clients that cannot ask are not asked.
//!
//! The confirmation protects the person from a model's mistake, not the data from the client:
//! a client can always answer for the person, and the delete still needs the owner role.

use std::time::Duration;

use rmcp::model::{ElicitRequestParams, ElicitationAction, ElicitationSchema, InputRequiredResult};
use rmcp::service::ElicitationMode;
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer};
use serde_json::{Value, json};

use crate::db::{Db, Identity};

/// The key of the answer in `inputResponses`.
const ANSWER: &str = "confirm_delete";
/// How long a 2025-11-25 client may take to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(300);

pub(super) enum Decision {
    /// Go ahead (confirmed, or the client cannot ask).
    Proceed,
    /// The person said no (or did not answer): the tool result to return instead.
    Declined(Value),
    /// 2026-07-28: ask first; the client retries with the answer.
    Ask(InputRequiredResult),
}

/// Whether to run a delete of `workspace` now.
pub(super) async fn delete_workspace(
    db: &Db,
    identity: &Identity,
    workspace: &str,
    responses: &Value,
    state: Option<&str>,
    context: &RequestContext<RoleServer>,
) -> Result<Decision, McpError> {
    if context.meta.protocol_version().is_some() {
        let can_ask = context.client_capabilities().is_some_and(|c| c.elicitation.is_some());
        if !can_ask {
            return Ok(Decision::Proceed);
        }
        if let Some(answer) = responses.get(ANSWER).filter(|a| a.is_object()) {
            if state != Some(workspace) {
                return Err(McpError::invalid_params(
                    "requestState does not name this workspace: call again without inputResponses",
                    None,
                ));
            }
            return Ok(decide(answer["action"].as_str(), &answer["content"], workspace));
        }
        let Some(question) = question(db, identity, workspace).await else {
            return Ok(Decision::Proceed); // the delete itself will say not_found
        };
        let ask = json!({"resultType": "input_required", "requestState": workspace, "inputRequests": {
            ANSWER: {"method": "elicitation/create", "params": {"mode": "form", "message": question, "requestedSchema": schema()}}}});
        return serde_json::from_value(ask)
            .map(Decision::Ask)
            .map_err(|e| McpError::internal_error(format!("input request shape: {e}"), None));
    }
    if !context.peer.supported_elicitation_modes().contains(&ElicitationMode::Form) {
        return Ok(Decision::Proceed);
    }
    let Some(question) = question(db, identity, workspace).await else {
        return Ok(Decision::Proceed);
    };
    let requested_schema: ElicitationSchema = serde_json::from_value(schema())
        .map_err(|e| McpError::internal_error(format!("elicitation schema: {e}"), None))?;
    let params =
        ElicitRequestParams::FormElicitationParams { meta: None, message: question, requested_schema };
    Ok(match context.peer.create_elicitation_with_timeout(params, Some(ASK_TIMEOUT)).await {
        Ok(result) => {
            let action = match result.action {
                ElicitationAction::Accept => "accept",
                ElicitationAction::Decline => "decline",
                // Cancel, and anything a later protocol adds: not a yes.
                _ => "cancel",
            };
            decide(Some(action), result.content.as_ref().unwrap_or(&Value::Null), workspace)
        }
        Err(_) => declined(workspace, "no confirmation arrived"),
    })
}

fn decide(action: Option<&str>, content: &Value, workspace: &str) -> Decision {
    match action {
        Some("accept") if content["confirm"] == true => Decision::Proceed,
        Some("accept") => declined(workspace, "the deletion was not confirmed"),
        Some("cancel") => declined(workspace, "the person cancelled"),
        _ => declined(workspace, "the person declined"),
    }
}

fn declined(workspace: &str, why: &str) -> Decision {
    Decision::Declined(json!({"operation": "delete_workspace",
        "data": {"workspace_id": workspace, "deleted": false, "reason": format!("{why}; nothing was deleted")}}))
}

fn schema() -> Value {
    json!({"type": "object", "properties": {"confirm": {"type": "boolean", "title": "Delete this workspace",
        "description": "Yes hides the workspace and everything in it from every member."}}, "required": ["confirm"]})
}

/// "Delete workspace “Acme” and its 120 entities?", or `None` when the caller cannot see it.
async fn question(db: &Db, identity: &Identity, workspace: &str) -> Option<String> {
    let info = db.rpc("atoms_workspace_info", &json!({"workspace_id": workspace}), identity).await.ok()?;
    let name = info["workspace"]["name"].as_str().unwrap_or("this workspace");
    let entities = info["entity_count"].as_i64().unwrap_or(0);
    let members = info["members"].as_array().map_or(0, Vec::len);
    Some(format!(
        "Delete workspace \u{201c}{name}\u{201d} and its {entities} {noun}? It disappears for {who}.",
        noun = if entities == 1 { "entity" } else { "entities" },
        who = if members == 1 { "its only member".to_owned() } else { format!("all {members} members") },
    ))
}
