//! The official Python MCP SDK client drives every operation of every Atoms tool against the
//! real `atoms serve` on real Postgres, in both protocol eras (a 2025-11-25 session and the
//! 2026-07-28 stateless mode the SDK negotiates through `server/discover`), as a dev-token user:
//! what is created is listed, read, updated and deleted, and each answer passes the SDK's own
//! parsing and `outputSchema` validation.

mod support;

use serde_json::{Value, json};
use support::atoms_server::AtomsServer;
use support::sdk::{Era, SdkClient, id, ids, names};

const TOOLS: [&str; 5] =
    ["workspace_tool", "entity_tool", "relationship_tool", "workflow_tool", "query_tool"];

#[test]
fn every_operation_round_trips_in_a_legacy_session() {
    every_operation_round_trips(Era::Legacy);
}

#[test]
fn every_operation_round_trips_in_the_2026_07_28_mode() {
    every_operation_round_trips(Era::Stateless);
}

fn every_operation_round_trips(era: Era) {
    let atoms = AtomsServer::on_fresh_database();
    let mut sdk = SdkClient::connect(&atoms.mcp_url(), era, Some(&atoms.token("ada")));
    assert_eq!(sdk.protocol_version, era.protocol_version());
    assert_eq!(sdk.tools, TOOLS);

    let ws = workspaces(&mut sdk);
    let people = entities(&mut sdk, &ws);
    let edge = relationships(&mut sdk, &people);
    let flow = workflows(&mut sdk, &ws, &people);
    queries(&mut sdk, &ws);
    delete_everything(&mut sdk, &ws, &people, &edge, &flow);

    let logged = sdk.close();
    assert!(
        !logged.contains("WARNING") && !logged.contains("ERROR"),
        "the SDK complained about the server:\n{logged}"
    );
}

/// The entities the scenario creates.
struct People {
    ada: String,
    engine: String,
    charles: String,
}

/// `workspace_tool`: create, list, update, read, projects, info, members. Returns the id.
fn workspaces(sdk: &mut SdkClient) -> String {
    let created = sdk.data(
        "workspace_tool",
        json!({"operation": "create_workspace", "name": "Acme", "description": "the team graph"}),
    );
    assert_eq!((&created["name"], &created["role"]), (&json!("Acme"), &json!("owner")));
    let ws = id(&created);
    let listed = sdk.data("workspace_tool", json!({"operation": "list_workspaces"}));
    assert_eq!(ids(&listed["items"]), [ws.as_str()]);
    sdk.data(
        "workspace_tool",
        json!({"operation": "update_workspace", "workspace_id": ws, "name": "Acme Labs", "metadata": {"team": "core"}}),
    );
    let read = sdk.data("workspace_tool", json!({"operation": "read_workspace", "workspace_id": ws}));
    assert_eq!(
        (&read["name"], &read["description"], &read["metadata"]),
        (&json!("Acme Labs"), &json!("the team graph"), &json!({"team": "core"}))
    );
    let projects = sdk.data("workspace_tool", json!({"operation": "list_projects", "workspace_id": ws}));
    assert_eq!(projects["items"], json!([]));

    let shared = sdk.data(
        "workspace_tool",
        json!({"operation": "set_member", "workspace_id": ws, "user_id": "bob", "role": "viewer"}),
    );
    assert_eq!(shared["role"], "viewer");
    let info = sdk.data("workspace_tool", json!({"operation": "get_workspace_info", "workspace_id": ws}));
    assert_eq!(roles(&info), ["owner", "viewer"]);
    let removed = sdk
        .data("workspace_tool", json!({"operation": "remove_member", "workspace_id": ws, "user_id": "bob"}));
    assert_eq!(removed["removed"], true);
    let info = sdk.data("workspace_tool", json!({"operation": "get_workspace_info", "workspace_id": ws}));
    assert_eq!(roles(&info), ["owner"]);
    ws
}

/// `entity_tool`: create (one and a batch), list, read, update, search.
fn entities(sdk: &mut SdkClient, ws: &str) -> People {
    let ada = sdk.data(
        "entity_tool",
        json!({"operation": "create_entity", "workspace_id": ws, "type": "person", "name": "Ada Lovelace",
               "metadata": {"born": 1815}}),
    );
    assert_eq!(ada["version"], 1);
    let batch = sdk.data(
        "entity_tool",
        json!({"operation": "create_entity", "workspace_id": ws, "items": [
            {"type": "project", "name": "Analytical Engine"}, {"type": "person", "name": "Charles Babbage"}]}),
    );
    let (engine, charles) = (id(&batch["items"][0]), id(&batch["items"][1]));
    let listed = sdk.data("entity_tool", json!({"operation": "list_entities", "workspace_id": ws}));
    assert_eq!(sorted(ids(&listed["items"])), sorted(vec![id(&ada), engine.clone(), charles.clone()]));
    let projects = sdk.data("workspace_tool", json!({"operation": "list_projects", "workspace_id": ws}));
    assert_eq!(ids(&projects["items"]), [engine.as_str()]);

    let read = sdk.data("entity_tool", json!({"operation": "read_entity", "entity_id": ada["id"]}));
    assert_eq!((&read["name"], &read["metadata"]), (&json!("Ada Lovelace"), &json!({"born": 1815})));
    let updated = sdk.data(
        "entity_tool",
        json!({"operation": "update_entity", "entity_id": ada["id"], "name": "Ada King",
               "metadata": {"title": "Countess"}, "expected_version": 1}),
    );
    assert_eq!(updated["version"], 2);
    let read = sdk.data("entity_tool", json!({"operation": "read_entity", "entity_id": ada["id"]}));
    assert_eq!(
        (&read["name"], &read["metadata"], &read["version"]),
        (&json!("Ada King"), &json!({"born": 1815, "title": "Countess"}), &json!(2)),
        "metadata merges by default"
    );
    let found = sdk
        .data("entity_tool", json!({"operation": "search_entities", "workspace_id": ws, "query": "Babbage"}));
    assert_eq!(id(&found["items"][0]), charles);
    People { ada: id(&ada), engine, charles }
}

/// `relationship_tool`: create, list both ways, update, graph, and the edge on `read_entity`.
fn relationships(sdk: &mut SdkClient, people: &People) -> String {
    let edge = sdk.data(
        "relationship_tool",
        json!({"operation": "create_relationship", "source_id": people.ada, "target_id": people.engine,
               "type": "works_on", "metadata": {"since": 1842}}),
    );
    let edge = id(&edge);
    let out =
        sdk.data("relationship_tool", json!({"operation": "list_relationships", "entity_id": people.ada}));
    assert_eq!(ids(&out["items"]), [edge.as_str()]);
    assert_eq!(out["items"][0]["entity"]["name"], "Analytical Engine");
    sdk.data(
        "relationship_tool",
        json!({"operation": "update_relationship", "relationship_id": edge, "metadata": {"role": "programmer"}}),
    );
    let incoming = sdk.data(
        "relationship_tool",
        json!({"operation": "list_relationships", "entity_id": people.engine, "direction": "in"}),
    );
    assert_eq!(incoming["items"][0]["metadata"], json!({"since": 1842, "role": "programmer"}));
    assert_eq!(incoming["items"][0]["entity"]["name"], "Ada King");
    let graph = sdk.data(
        "relationship_tool",
        json!({"operation": "get_relationship_graph", "entity_id": people.ada, "depth": 2}),
    );
    assert_eq!(sorted(ids(&graph["nodes"])), sorted(vec![people.ada.clone(), people.engine.clone()]));
    assert_eq!(ids(&graph["edges"]), [edge.as_str()]);
    let read = sdk.data(
        "entity_tool",
        json!({"operation": "read_entity", "entity_id": people.ada, "include_relationships": true}),
    );
    assert_eq!(ids(&read["relationships"]["outgoing"]), [edge.as_str()]);
    edge
}

/// `workflow_tool`: create, list, a dry run (which leaves nothing), a run, its status.
fn workflows(sdk: &mut SdkClient, ws: &str, people: &People) -> String {
    let flow = sdk.data(
        "workflow_tool",
        json!({"operation": "create_workflow", "workspace_id": ws, "name": "onboard", "steps": [
            {"operation": "entity_tool.create_entity", "arguments": {"type": "person", "name": "${inputs.name}"}},
            {"operation": "relationship_tool.create_relationship",
             "arguments": {"source_id": "${steps.0.id}", "target_id": people.engine, "type": "works_on"}}]}),
    );
    let flow = id(&flow);
    let listed = sdk.data("workflow_tool", json!({"operation": "list_workflows", "workspace_id": ws}));
    assert_eq!(ids(&listed["items"]), [flow.as_str()]);

    let dry = sdk.data(
        "workflow_tool",
        json!({"operation": "execute_workflow", "workflow_id": flow, "inputs": {"name": "Grace"}, "dry_run": true}),
    );
    assert_eq!((&dry["status"], &dry["dry_run"]), (&json!("succeeded"), &json!(true)));
    assert_eq!(entity_names(sdk, ws).len(), 3, "a dry run leaves nothing behind");

    let run = sdk.data(
        "workflow_tool",
        json!({"operation": "execute_workflow", "workflow_id": flow, "inputs": {"name": "Grace"}}),
    );
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["outputs"][0]["name"], "Grace");
    let status =
        sdk.data("workflow_tool", json!({"operation": "get_workflow_status", "run_id": run["run_id"]}));
    assert_eq!((&status["status"], &status["workflow_id"]), (&json!("succeeded"), &json!(flow)));
    let incoming = sdk.data(
        "relationship_tool",
        json!({"operation": "list_relationships", "entity_id": people.engine, "direction": "in"}),
    );
    assert_eq!(incoming["items"].as_array().map(Vec::len), Some(2), "the run's edge is there: {incoming}");
    flow
}

/// `query_tool`: filtered query, ranked search, stats, and exports in all three formats.
fn queries(sdk: &mut SdkClient, ws: &str) {
    let people = sdk.data(
        "query_tool",
        json!({"operation": "query_entities", "workspace_id": ws,
               "filters": [{"field": "type", "op": "eq", "value": "person"}], "sort": {"field": "name"}}),
    );
    assert_eq!(names(&people["items"]), ["Ada King", "Charles Babbage", "Grace"]);
    let found = sdk
        .data("query_tool", json!({"operation": "advanced_search", "workspace_id": ws, "query": "engine"}));
    assert_eq!(names(&found["items"]), ["Analytical Engine"]);
    let stats = sdk.data("query_tool", json!({"operation": "get_query_stats", "workspace_id": ws}));
    assert_eq!(stats["entities_by_type"], json!({"person": 3, "project": 1}));

    let everyone = ["Ada King", "Analytical Engine", "Charles Babbage", "Grace"];
    for (format, mime_type) in
        [("json", "application/json"), ("ndjson", "application/x-ndjson"), ("csv", "text/csv")]
    {
        let report = sdk
            .call("query_tool", json!({"operation": "export_results", "workspace_id": ws, "format": format}));
        let result = &report["result"];
        assert_eq!(
            result["structuredContent"]["data"],
            json!({"kind": "entities", "format": format, "rows": 4})
        );
        assert_eq!(result["content"][1]["resource"]["mimeType"], mime_type, "{report}");
        assert_eq!(sorted(names(&report["resources"][0])), everyone, "{format}: {report}");
    }
}

/// Deletes in reverse, checking each deletion is seen by reads and lists.
fn delete_everything(sdk: &mut SdkClient, ws: &str, people: &People, edge: &str, flow: &str) {
    let deleted =
        sdk.data("relationship_tool", json!({"operation": "delete_relationship", "relationship_id": edge}));
    assert_eq!(deleted["deleted"], true);
    let out =
        sdk.data("relationship_tool", json!({"operation": "list_relationships", "entity_id": people.ada}));
    assert_eq!(out["items"], json!([]));

    sdk.data("workflow_tool", json!({"operation": "delete_workflow", "workflow_id": flow}));
    let listed = sdk.data("workflow_tool", json!({"operation": "list_workflows", "workspace_id": ws}));
    assert_eq!(listed["items"], json!([]));

    sdk.data(
        "entity_tool",
        json!({"operation": "delete_entity", "entity_id": people.charles, "expected_version": 1}),
    );
    let gone = sdk.err("entity_tool", json!({"operation": "read_entity", "entity_id": people.charles}));
    assert_eq!(gone["code"], "not_found");
    assert_eq!(entity_names(sdk, ws), ["Ada King", "Analytical Engine", "Grace"]);

    sdk.data("workspace_tool", json!({"operation": "delete_workspace", "workspace_id": ws}));
    let gone = sdk.err("workspace_tool", json!({"operation": "read_workspace", "workspace_id": ws}));
    assert_eq!(gone["code"], "not_found");
    let listed = sdk.data("workspace_tool", json!({"operation": "list_workspaces"}));
    assert_eq!(listed["items"], json!([]));
}

/// The sorted names of a workspace's entities (one page: the scenario stays small).
fn entity_names(sdk: &mut SdkClient, ws: &str) -> Vec<String> {
    let listed = sdk.data("entity_tool", json!({"operation": "list_entities", "workspace_id": ws}));
    sorted(names(&listed["items"]))
}

fn roles(info: &Value) -> Vec<String> {
    let members = info["members"].as_array().unwrap_or_else(|| panic!("members: {info}"));
    sorted(members.iter().map(|m| m["role"].as_str().unwrap_or_default().to_owned()).collect())
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}
