//! The edge cases of the Atoms tools, through the official Python MCP SDK client against the real
//! `atoms serve` on real Postgres: paging without loss, an all-or-nothing workflow that names the
//! step that failed, idempotent runs, version conflicts, typo-tolerant search, CSV exports read
//! back with Python's `csv` module, precise `invalid_argument` errors, names as long as the
//! schema allows. (The database outage has its own file, `python_sdk_outage.rs`.)

mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::atoms_server::AtomsServer;
use support::sdk::{Era, SdkClient, id, ids, names};

/// `atoms serve` on a fresh database and an SDK client in the 2026-07-28 mode, as the local user.
fn connect() -> (AtomsServer, SdkClient) {
    let atoms = AtomsServer::on_fresh_database();
    let sdk = SdkClient::connect(&atoms.mcp_url(), Era::Stateless, None);
    (atoms, sdk)
}

fn workspace(sdk: &mut SdkClient, name: &str) -> String {
    id(&sdk.data("workspace_tool", json!({"operation": "create_workspace", "name": name})))
}

#[test]
fn a_hundred_and_twenty_entities_come_back_as_three_pages_of_at_most_fifty() {
    let (_atoms, mut sdk) = connect();
    let ws = workspace(&mut sdk, "Paging");
    let items: Vec<Value> =
        (0..120).map(|n| json!({"type": "note", "name": format!("note {n:03}")})).collect();
    let created =
        sdk.data("entity_tool", json!({"operation": "create_entity", "workspace_id": ws, "items": items}));
    let created: BTreeSet<String> = ids(&created["items"]).into_iter().collect();
    assert_eq!(created.len(), 120);

    let (mut pages, mut seen, mut cursor) = (Vec::new(), Vec::new(), None::<Value>);
    loop {
        let mut arguments = json!({"operation": "list_entities", "workspace_id": ws, "limit": 50});
        if let Some(cursor) = cursor.take() {
            arguments["cursor"] = cursor;
        }
        let page = sdk.ok("entity_tool", arguments);
        let items = ids(&page["data"]["items"]);
        pages.push(items.len());
        seen.extend(items);
        match page.get("next_cursor") {
            Some(next) if pages.len() < 5 => cursor = Some(next.clone()),
            _ => break,
        }
    }
    assert_eq!(pages, [50, 50, 20], "three pages, the last without a next_cursor");
    assert_eq!(seen.len(), 120, "no id twice");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), created);
}

#[test]
fn a_workflow_failing_at_step_3_leaves_nothing_behind_and_names_the_step() {
    let (_atoms, mut sdk) = connect();
    let ws = workspace(&mut sdk, "Workflows");
    let nowhere = "00000000-0000-4000-8000-000000000000";
    let flow = sdk.data(
        "workflow_tool",
        json!({"operation": "create_workflow", "workspace_id": ws, "name": "fails late", "steps": [
            {"operation": "entity_tool.create_entity", "arguments": {"type": "person", "name": "Step zero"}},
            {"operation": "entity_tool.create_entity", "arguments": {"type": "project", "name": "Step one"}},
            {"operation": "relationship_tool.create_relationship",
             "arguments": {"source_id": "${steps.0.id}", "target_id": "${steps.1.id}", "type": "works_on"}},
            {"operation": "relationship_tool.create_relationship",
             "arguments": {"source_id": "${steps.0.id}", "target_id": nowhere, "type": "works_on"}}]}),
    );
    let run = sdk.data("workflow_tool", json!({"operation": "execute_workflow", "workflow_id": flow["id"]}));
    assert_eq!((&run["status"], &run["failed_step"]), (&json!("failed"), &json!(3)), "{run}");
    assert_eq!(run["error"]["step"], 3, "{run}");
    assert_eq!(run["error"]["operation"], "relationship_tool.create_relationship", "{run}");
    assert_eq!(run["error"]["code"], "not_found", "{run}");

    let listed = sdk.data("entity_tool", json!({"operation": "list_entities", "workspace_id": ws}));
    assert_eq!(listed["items"], json!([]), "steps 0-2 were rolled back");
    let stats = sdk.data("query_tool", json!({"operation": "get_query_stats", "workspace_id": ws}));
    assert_eq!(stats["entities_by_type"], json!({}), "{stats}");
    let status =
        sdk.data("workflow_tool", json!({"operation": "get_workflow_status", "run_id": run["run_id"]}));
    assert_eq!(
        (&status["status"], &status["failed_step"]),
        (&json!("failed"), &json!(3)),
        "the run is on record"
    );
}

#[test]
fn the_same_idempotency_key_runs_a_workflow_once() {
    let (_atoms, mut sdk) = connect();
    let ws = workspace(&mut sdk, "Idempotency");
    let flow = sdk.data(
        "workflow_tool",
        json!({"operation": "create_workflow", "workspace_id": ws, "name": "import", "steps": [
            {"operation": "entity_tool.create_entity", "arguments": {"type": "person", "name": "${inputs.name}"}}]}),
    );
    let execute = |key: &str| json!({"operation": "execute_workflow", "workflow_id": flow["id"], "inputs": {"name": "Grace"}, "idempotency_key": key});
    let first = sdk.data("workflow_tool", execute("import-42"));
    let again = sdk.data("workflow_tool", execute("import-42"));
    assert_eq!(first["status"], "succeeded");
    assert_ne!(first["replayed"], true, "{first}");
    assert_eq!(again["replayed"], true, "{again}");
    assert_eq!(again["run_id"], first["run_id"], "the replay is the first run");
    assert_eq!(names_in(&mut sdk, &ws), ["Grace"], "the same key ran once");
    sdk.data("workflow_tool", execute("import-43"));
    assert_eq!(names_in(&mut sdk, &ws), ["Grace", "Grace"], "another key runs again");
}

#[test]
fn a_stale_expected_version_is_a_conflict_that_says_what_to_do() {
    let (_atoms, mut sdk) = connect();
    let ws = workspace(&mut sdk, "Versions");
    let entity = sdk.data(
        "entity_tool",
        json!({"operation": "create_entity", "workspace_id": ws, "type": "doc", "name": "Plan"}),
    );
    let updated = sdk.data(
        "entity_tool",
        json!({"operation": "update_entity", "entity_id": entity["id"], "name": "Plan B", "expected_version": 1}),
    );
    assert_eq!(updated["version"], 2);
    for arguments in [
        json!({"operation": "update_entity", "entity_id": entity["id"], "name": "Plan C", "expected_version": 1}),
        json!({"operation": "delete_entity", "entity_id": entity["id"], "expected_version": 1}),
    ] {
        let error = sdk.err("entity_tool", arguments);
        assert_eq!(error["code"], "conflict", "{error}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains("version 2") && message.contains("read it again"), "{error}");
    }
    let read = sdk.data("entity_tool", json!({"operation": "read_entity", "entity_id": entity["id"]}));
    assert_eq!(
        (&read["name"], &read["version"]),
        (&json!("Plan B"), &json!(2)),
        "the stale writes changed nothing"
    );
}

#[test]
fn a_typo_still_finds_the_entity() {
    let (_atoms, mut sdk) = connect();
    let ws = people(&mut sdk);
    for (typo, name) in
        [("Lovelase", "Ada Lovelace"), ("Babbbage", "Charles Babbage"), ("Hoper", "Grace Hopper")]
    {
        let found = sdk
            .data("entity_tool", json!({"operation": "search_entities", "workspace_id": ws, "query": typo}));
        assert_eq!(names(&found["items"]).first().map(String::as_str), Some(name), "{typo}: {found}");
    }
}

// Typos of every common kind (dropped, swapped, changed letters) find the entity, in search and
// advanced search alike (nearest names at word similarity 0.3).
#[test]
fn typos_of_every_common_kind_find_the_entity() {
    let (_atoms, mut sdk) = connect();
    let ws = people(&mut sdk);
    let mut misses = Vec::new();
    for (operation, typo, name) in [
        ("search_entities", "Lovlace", "Ada Lovelace"),
        ("search_entities", "Turnig", "Alan Turing"),
        ("search_entities", "Analitical", "Analytical Engine"),
        ("advanced_search", "Lovelase", "Ada Lovelace"),
    ] {
        let tool = if operation == "search_entities" { "entity_tool" } else { "query_tool" };
        let found = sdk.data(tool, json!({"operation": operation, "workspace_id": ws, "query": typo}));
        if names(&found["items"]).first().map(String::as_str) != Some(name) {
            misses.push(format!("{operation} {typo:?} did not find {name:?}"));
        }
    }
    assert!(misses.is_empty(), "typos that found nothing:\n{}", misses.join("\n"));
}

/// A workspace of a few well-known names; its id.
fn people(sdk: &mut SdkClient) -> String {
    let ws = workspace(sdk, "People");
    let names = ["Ada Lovelace", "Charles Babbage", "Grace Hopper", "Alan Turing"];
    let mut items: Vec<Value> = names.iter().map(|name| json!({"type": "person", "name": name})).collect();
    items.push(json!({"type": "project", "name": "Analytical Engine"}));
    sdk.data("entity_tool", json!({"operation": "create_entity", "workspace_id": ws, "items": items}));
    ws
}

#[test]
fn csv_exports_parse_back_identically_with_pythons_csv_module() {
    let (_atoms, mut sdk) = connect();
    let ws = workspace(&mut sdk, "Export");
    let tricky = [
        "comma, inside",
        "a \"quoted\" word",
        "two\nlines",
        "windows\r\nline break",
        "\"",
        ",",
        "ünïcode ✓ 名前",
        "=1+1",
    ];
    let metadata = json!({"note": "a, \"b\"\nc"});
    let items: Vec<Value> =
        tricky.iter().map(|name| json!({"type": "note", "name": name, "metadata": metadata})).collect();
    sdk.data("entity_tool", json!({"operation": "create_entity", "workspace_id": ws, "items": items}));

    // Pages of 3: every page is a whole CSV document, and the cursor continues the export.
    let (mut rows, mut cursor, mut pages) = (Vec::new(), None::<Value>, 0);
    loop {
        let mut arguments =
            json!({"operation": "export_results", "workspace_id": ws, "format": "csv", "limit": 3});
        if let Some(cursor) = cursor.take() {
            arguments["cursor"] = cursor;
        }
        let report = sdk.call("query_tool", arguments);
        let result = &report["result"];
        assert_eq!(result["isError"], false, "{report}");
        assert_eq!(result["content"][1]["resource"]["mimeType"], "text/csv", "{report}");
        let page = report["resources"][0].as_array().cloned().unwrap_or_else(|| panic!("CSV rows: {report}"));
        assert_eq!(result["structuredContent"]["data"]["rows"], page.len(), "{report}");
        rows.extend(page);
        pages += 1;
        match result["structuredContent"].get("next_cursor") {
            Some(next) if pages < 10 => cursor = Some(next.clone()),
            _ => break,
        }
    }
    assert_eq!(pages, 3, "8 rows in pages of 3");
    let mut parsed = names(&Value::Array(rows.clone()));
    let mut expected: Vec<String> = tricky.iter().map(|name| (*name).to_owned()).collect();
    parsed.sort();
    expected.sort();
    assert_eq!(parsed, expected, "names parse back identically");
    for row in &rows {
        let cell = row["metadata"].as_str().unwrap_or_else(|| panic!("a metadata column: {row}"));
        assert_eq!(serde_json::from_str::<Value>(cell).ok().as_ref(), Some(&metadata), "{row}");
    }
}

#[test]
fn mistakes_are_invalid_argument_naming_the_field() {
    let (_atoms, mut sdk) = connect();
    let ws = workspace(&mut sdk, "Mistakes");
    let entity = id(&sdk.data(
        "entity_tool",
        json!({"operation": "create_entity", "workspace_id": ws, "type": "note", "name": "n"}),
    ));
    let (long_500, long_200) = ("x".repeat(501), "x".repeat(201));
    let one_step = json!([{"operation": "entity_tool.read_entity", "arguments": {"entity_id": entity}}]);
    for (tool, arguments, field) in [
        // invalid UUIDs
        ("entity_tool", json!({"operation": "read_entity", "entity_id": "nope"}), "entity_id"),
        (
            "entity_tool",
            json!({"operation": "list_entities", "workspace_id": "3f2504e0-4f89-11d3-9a0c"}),
            "workspace_id",
        ),
        (
            "relationship_tool",
            json!({"operation": "create_relationship", "source_id": entity, "target_id": "x", "type": "t"}),
            "target_id",
        ),
        ("workflow_tool", json!({"operation": "get_workflow_status", "run_id": 12}), "run_id"),
        // oversize names
        (
            "entity_tool",
            json!({"operation": "create_entity", "workspace_id": ws, "type": "note", "name": long_500}),
            "name",
        ),
        ("entity_tool", json!({"operation": "update_entity", "entity_id": entity, "name": long_500}), "name"),
        ("workspace_tool", json!({"operation": "create_workspace", "name": long_200}), "name"),
        (
            "workflow_tool",
            json!({"operation": "create_workflow", "workspace_id": ws, "name": long_200, "steps": one_step}),
            "name",
        ),
        // wrong types and shapes
        ("entity_tool", json!({"operation": "list_entities", "workspace_id": ws, "limit": "ten"}), "limit"),
        (
            "entity_tool",
            json!({"operation": "create_entity", "workspace_id": ws, "type": "note", "name": 42}),
            "name",
        ),
        (
            "entity_tool",
            json!({"operation": "create_entity", "workspace_id": ws, "type": "Not A Type", "name": "x"}),
            "type",
        ),
        (
            "entity_tool",
            json!({"operation": "create_entity", "workspace_id": ws, "type": "note", "name": "m", "metadata": "x"}),
            "metadata",
        ),
        (
            "entity_tool",
            json!({"operation": "read_entity", "entity_id": entity, "include_relationships": "yes"}),
            "include_relationships",
        ),
        (
            "entity_tool",
            json!({"operation": "update_entity", "entity_id": entity, "name": "y", "expected_version": "1"}),
            "expected_version",
        ),
        (
            "entity_tool",
            json!({"operation": "create_entity", "workspace_id": ws, "items": {"type": "note"}}),
            "items",
        ),
        (
            "relationship_tool",
            json!({"operation": "get_relationship_graph", "entity_id": entity, "depth": 9}),
            "depth",
        ),
        (
            "workflow_tool",
            json!({"operation": "create_workflow", "workspace_id": ws, "name": "w", "steps": {"a": 1}}),
            "steps",
        ),
        ("query_tool", json!({"operation": "export_results", "workspace_id": ws, "format": "xml"}), "format"),
        // unknown or misplaced operations and arguments
        ("entity_tool", json!({"operation": "explode"}), "operation"),
        ("entity_tool", json!({"operation": 7}), "operation"),
        ("query_tool", json!({"operation": "delete_entity", "entity_id": entity}), "operation"),
        ("entity_tool", json!({"workspace_id": ws}), "operation"),
        ("entity_tool", json!({"operation": "read_entity", "id": entity}), "entity_id"),
    ] {
        let error = sdk.err(tool, arguments.clone());
        assert_eq!(error["code"], "invalid_argument", "{tool} {arguments}: {error}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{tool} {arguments}: the message names {field}: {error}");
    }
    let unknown_tool = sdk.call("nope_tool", json!({"operation": "list_workspaces"}));
    assert_eq!(unknown_tool["code"], -32602, "an unknown tool is a JSON-RPC error: {unknown_tool}");
}

// The advertised maxLength of `name` is exactly what the database accepts, per tool.
#[test]
fn a_name_as_long_as_the_schema_allows_is_accepted() {
    let (_atoms, mut sdk) = connect();
    let ws = workspace(&mut sdk, "Long names");
    let longest = |sdk: &SdkClient, tool: &str| {
        let limit = &sdk.input_schemas[tool]["properties"]["name"]["maxLength"];
        "x".repeat(
            limit.as_u64().unwrap_or_else(|| panic!("{tool} advertises a name length: {limit}")) as usize
        )
    };
    let step =
        json!([{"operation": "entity_tool.create_entity", "arguments": {"type": "note", "name": "n"}}]);
    let mut refused = Vec::new();
    for (tool, mut arguments) in [
        ("workspace_tool", json!({"operation": "create_workspace"})),
        ("entity_tool", json!({"operation": "create_entity", "workspace_id": ws, "type": "note"})),
        ("workflow_tool", json!({"operation": "create_workflow", "workspace_id": ws, "steps": step})),
    ] {
        let name = longest(&sdk, tool);
        arguments["name"] = json!(name);
        let report = sdk.call(tool, arguments);
        if report["result"]["isError"] != false {
            refused.push(format!(
                "{tool}: {} characters: {}",
                name.len(),
                report["result"]["structuredContent"]
            ));
        }
    }
    assert!(refused.is_empty(), "names within the advertised maxLength refused:\n{}", refused.join("\n"));
}

/// The sorted names of a workspace's entities (first page).
fn names_in(sdk: &mut SdkClient, ws: &str) -> Vec<String> {
    let listed = sdk.data("entity_tool", json!({"operation": "list_entities", "workspace_id": ws}));
    let mut names = names(&listed["items"]);
    names.sort();
    names
}
