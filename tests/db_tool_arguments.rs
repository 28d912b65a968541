//! The tools' argument contract, spoken by the functions themselves (issue 7): object ids by
//! their own names, `items` batches, `types` filters, searches paged by cursor, structured
//! filters on advanced search and export, and workflow steps written as tool operations.

mod support;

use atoms::config::Config;
use atoms::db::{Db, DbError, Identity};
use serde_json::{Value, json};

struct Env {
    db: Db,
}

async fn env() -> Env {
    let url = support::postgres::fresh_database().await;
    Env { db: Db::direct(&url, &Config::embedded().database).expect("adapter") }
}

impl Env {
    async fn ok(&self, function: &str, args: Value) -> Value {
        self.db
            .rpc(function, &args, &Identity::new("alice"))
            .await
            .unwrap_or_else(|e| panic!("{function}({args}): {e:?}"))
    }

    async fn err(&self, function: &str, args: Value) -> DbError {
        match self.db.rpc(function, &args, &Identity::new("alice")).await {
            Ok(value) => panic!("{function}({args}) should fail, returned {value}"),
            Err(error) => error,
        }
    }

    /// Every page of `function`, following `next_cursor`; the names in order.
    async fn all_pages(&self, function: &str, args: Value) -> Vec<String> {
        let mut names = Vec::new();
        let mut cursor = Value::Null;
        loop {
            let mut page_args = args.clone();
            page_args["cursor"] = cursor;
            let page = self.ok(function, page_args).await;
            let items =
                page.get("items").or_else(|| page.get("rows")).and_then(Value::as_array).expect("items");
            names.extend(items.iter().map(|i| i["name"].as_str().expect("name").to_owned()));
            cursor = page["next_cursor"].clone();
            if cursor.is_null() {
                return names;
            }
        }
    }
}

/// A workspace with 7 people ("Ada 0".."Ada 6", rank = n) and 3 teams.
async fn populated(env: &Env) -> String {
    let ws = env.ok("atoms_workspace_create", json!({"name": "W", "metadata": {"team": "core"}})).await;
    assert_eq!(ws["metadata"], json!({"team": "core"}));
    let ws = ws["id"].as_str().expect("id").to_owned();
    let mut items: Vec<Value> = (0..7)
        .map(|n| json!({"type": "person", "name": format!("Ada {n}"), "metadata": {"rank": n}}))
        .collect();
    items.extend((0..3).map(|n| json!({"type": "team", "name": format!("Team {n}")})));
    let created = env.ok("atoms_entity_create", json!({"workspace_id": ws, "items": items})).await;
    assert_eq!(created["items"].as_array().map(Vec::len), Some(10));
    ws
}

#[tokio::test]
async fn lists_filter_by_types_and_sort_on_request() {
    let env = env().await;
    let ws = populated(&env).await;
    let teams =
        env.all_pages("atoms_entity_list", json!({"workspace_id": ws, "types": ["team"], "limit": 2})).await;
    assert_eq!(teams, ["Team 0", "Team 1", "Team 2"]);
    let by_rank = env
        .all_pages(
            "atoms_entity_list",
            json!({"workspace_id": ws, "types": ["person"], "sort": {"field": "metadata.rank", "direction": "desc"}, "limit": 3}),
        )
        .await;
    assert_eq!(by_rank, ["Ada 6", "Ada 5", "Ada 4", "Ada 3", "Ada 2", "Ada 1", "Ada 0"]);
    let projects = env.ok("atoms_workspace_projects", json!({"workspace_id": ws})).await;
    assert_eq!(projects["items"], json!([]));
    let bad = env.err("atoms_entity_list", json!({"workspace_id": ws, "types": ["Not A Type"]})).await;
    assert_eq!(bad.code(), "invalid_argument");
    assert!(bad.to_string().contains("types"), "{bad}");
}

#[tokio::test]
async fn searches_page_by_cursor_for_both_kinds_of_match() {
    let env = env().await;
    let ws = populated(&env).await;
    let fulltext =
        env.all_pages("atoms_entity_search", json!({"workspace_id": ws, "query": "ada", "limit": 3})).await;
    assert_eq!(fulltext.len(), 7, "{fulltext:?}");
    let fuzzy =
        env.all_pages("atoms_entity_search", json!({"workspace_id": ws, "query": "Teamm", "limit": 2})).await;
    assert_eq!(fuzzy.iter().filter(|n| n.starts_with("Team")).count(), 3, "{fuzzy:?}");
    let first = env.ok("atoms_entity_search", json!({"workspace_id": ws, "query": "ada", "limit": 3})).await;
    let other = env
        .err(
            "atoms_entity_search",
            json!({"workspace_id": ws, "query": "team", "cursor": first["next_cursor"]}),
        )
        .await;
    assert_eq!(other.code(), "invalid_argument");
    let only_teams =
        env.ok("atoms_entity_search", json!({"workspace_id": ws, "query": "ada", "types": ["team"]})).await;
    assert_eq!(only_teams["items"], json!([]));
}

#[tokio::test]
async fn advanced_search_and_export_apply_structured_filters() {
    let env = env().await;
    let ws = populated(&env).await;
    let filters = json!([{"field": "metadata.rank", "op": "gte", "value": 4}]);
    let found = env
        .all_pages(
            "atoms_search_advanced",
            json!({"workspace_id": ws, "query": "ada", "filters": filters, "limit": 2}),
        )
        .await;
    let mut found = found;
    found.sort();
    assert_eq!(found, ["Ada 4", "Ada 5", "Ada 6"]);
    let first =
        env.ok("atoms_search_advanced", json!({"workspace_id": ws, "filters": filters, "limit": 1})).await;
    assert_eq!(first["total"], 3);
    let exported =
        env.all_pages("atoms_export", json!({"workspace_id": ws, "filters": filters, "limit": 2})).await;
    assert_eq!(exported, ["Ada 4", "Ada 5", "Ada 6"]);
    let in_range = env
        .ok("atoms_query_entities", json!({"workspace_id": ws, "created_after": "2000-01-01T00:00:00Z", "created_before": "2000-01-02T00:00:00Z"}))
        .await;
    assert_eq!(in_range["items"], json!([]));
    let wrong = env
        .err("atoms_export", json!({"workspace_id": ws, "kind": "relationships", "filters": filters}))
        .await;
    assert_eq!(wrong.code(), "invalid_argument");
}

#[tokio::test]
async fn workflow_steps_are_tool_operations() {
    let env = env().await;
    let ws = populated(&env).await;
    let steps = json!([
        {"operation": "entity_tool.create_entity", "arguments": {"type": "person", "name": "${inputs.name}"}},
        {"operation": "query_tool.query_entities", "arguments": {"filters": [{"field": "type", "op": "eq", "value": "team"}]}},
        {"operation": "relationship_tool.create_relationship",
         "arguments": {"source_id": "${steps.0.id}", "target_id": "${steps.1.items.0.id}", "type": "member_of"}},
        {"operation": "relationship_tool.get_relationship_graph", "arguments": {"entity_id": "${steps.0.id}"}},
    ]);
    let flow =
        env.ok("atoms_workflow_create", json!({"workspace_id": ws, "name": "join", "steps": steps})).await;
    let run = env
        .ok("atoms_workflow_execute", json!({"workflow_id": flow["id"], "inputs": {"name": "Grace"}}))
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["outputs"][3]["nodes"].as_array().map(Vec::len), Some(2));
    let old_style = json!([{"op": "entity.create", "args": {"type": "person", "name": "x"}}]);
    let refused = env
        .err("atoms_workflow_create", json!({"workspace_id": ws, "name": "old", "steps": old_style}))
        .await;
    assert_eq!(refused.code(), "invalid_argument");
    assert!(refused.to_string().contains("entity_tool.create_entity"), "{refused}");
    env.ok("atoms_workflow_delete", json!({"workflow_id": flow["id"]})).await;
}
