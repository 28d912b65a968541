//! A database outage seen through the official Python MCP SDK client: with the database of a
//! real `atoms serve` stopped mid-test, tool calls are `unavailable` results (never a hang or a
//! transport error), and the same clients' calls succeed again once it is back — in a legacy
//! session and in the 2026-07-28 mode. The database is a cluster of this test's own, so stopping
//! it disturbs no other test.

mod support;

use atoms::db::local::LocalPostgres;
use serde_json::json;
use support::atoms_server::{AtomsServer, block_on};
use support::sdk::{Era, SdkClient, id, ids, names};

/// A Postgres cluster of this test's own (stopping it disturbs no other test), removed on drop.
struct OwnCluster {
    cluster: LocalPostgres,
    dir: support::TempDir,
}

impl OwnCluster {
    fn start() -> Self {
        let dir = support::TempDir::new("outage-pg");
        let cluster =
            LocalPostgres::start(&dir.0).unwrap_or_else(|e| panic!("cannot start a test Postgres: {e}"));
        block_on(atoms::db::ensure_database(&cluster.url("postgres"), "atoms")).expect("create the database");
        block_on(atoms::db::migrate::migrate(&cluster.url("atoms"))).expect("migrate");
        Self { cluster, dir }
    }

    fn url(&self) -> String {
        self.cluster.url("atoms").expose().to_owned()
    }

    fn stop(&self) {
        self.cluster.stop().unwrap_or_else(|e| panic!("stop the test Postgres: {e}"));
    }

    /// Starts the stopped cluster again, on the same port.
    fn restart(&mut self) {
        self.cluster =
            LocalPostgres::start(&self.dir.0).unwrap_or_else(|e| panic!("restart the test Postgres: {e}"));
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
    }
}

#[test]
fn a_stopped_database_is_unavailable_and_calls_succeed_once_it_is_back() {
    let mut database = OwnCluster::start();
    let atoms = AtomsServer::on(&database.url());
    let mut legacy = SdkClient::connect(&atoms.mcp_url(), Era::Legacy, None);
    let mut stateless = SdkClient::connect(&atoms.mcp_url(), Era::Stateless, None);
    let ws = id(&legacy.data("workspace_tool", json!({"operation": "create_workspace", "name": "Before"})));

    database.stop();
    for sdk in [&mut legacy, &mut stateless] {
        for (tool, arguments) in [
            ("workspace_tool", json!({"operation": "list_workspaces"})),
            (
                "entity_tool",
                json!({"operation": "create_entity", "workspace_id": ws, "type": "note", "name": "lost?"}),
            ),
        ] {
            let error = sdk.err(tool, arguments.clone());
            assert_eq!(error["code"], "unavailable", "{tool} {arguments}: {error}");
            assert!(error["message"].as_str().is_some_and(|m| m.contains("retry")), "{error}");
        }
    }

    database.restart();
    for sdk in [&mut legacy, &mut stateless] {
        let listed = sdk.data("workspace_tool", json!({"operation": "list_workspaces"}));
        assert_eq!(ids(&listed["items"]), [ws.as_str()], "the same client carries on: {listed}");
        sdk.data(
            "entity_tool",
            json!({"operation": "create_entity", "workspace_id": ws, "type": "note", "name": "after"}),
        );
    }
    assert_eq!(names_in(&mut stateless, &ws), ["after", "after"], "nothing was written during the outage");
    for sdk in [legacy, stateless] {
        let logged = sdk.close();
        assert!(!logged.contains("WARNING") && !logged.contains("ERROR"), "{logged}");
    }
}

/// The sorted names of a workspace's entities (first page).
fn names_in(sdk: &mut SdkClient, ws: &str) -> Vec<String> {
    let listed = sdk.data("entity_tool", json!({"operation": "list_entities", "workspace_id": ws}));
    let mut names = names(&listed["items"]);
    names.sort();
    names
}
