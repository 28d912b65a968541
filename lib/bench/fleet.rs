//! `atoms bench db --fleet`: the operations that used to read a whole large workspace or a whole
//! hub's edge set, timed on a fleet-sized database: 200 workspaces × 1,000 entities plus one
//! workspace of 50,001 entities whose hub entity has 50,000 relationships (`fleet.sql`, loaded
//! in bulk by the table owner, then `ANALYZE`). Every call goes through the direct adapter as
//! the benchmark user, exactly as the tools call the database.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{ms, quantile};
use crate::config::Config;
use crate::db::{Db, Identity};
use crate::secret::Secret;

/// The data set: see the file's header.
const FLEET_SQL: &str = include_str!("fleet.sql");
/// The hub's workspace (workspace number 201 of the data set).
const HUB_WORKSPACE: &str = "000000c9-0000-4000-8000-000000000000";
/// A 1,000-entity workspace.
const SMALL_WORKSPACE: &str = "00000005-0000-4000-8000-000000000000";

pub struct FleetReport {
    /// (operation, sorted samples).
    pub operations: Vec<(&'static str, Vec<Duration>)>,
}

/// Loads the fleet into the migrated, empty database at `url` and times each operation `calls`
/// times.
pub async fn run(url: &Secret, calls: usize) -> Result<FleetReport, String> {
    let (client, connection) =
        tokio_postgres::connect(url.expose(), tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    client.batch_execute(FLEET_SQL).await.map_err(|e| format!("loading the fleet: {e}"))?;
    client.batch_execute("analyze").await.map_err(|e| e.to_string())?;
    let hub: String = client
        .query_one("select id::text from public.atoms_entities where name = 'hub'", &[])
        .await
        .map_err(|e| e.to_string())?
        .get(0);

    let db = Db::direct(url, &Config::embedded().database).map_err(|e| e.to_string())?;
    let who = Identity::new("user_01BENCH");
    let cases: Vec<(&'static str, &'static str, Value)> = vec![
        (
            "search typo, 50k workspace",
            "atoms_entity_search",
            json!({"workspace_id": HUB_WORKSPACE, "query": "junipr meridan"}),
        ),
        (
            "search words, 50k workspace",
            "atoms_entity_search",
            json!({"workspace_id": HUB_WORKSPACE, "query": "juniper meridian"}),
        ),
        (
            "search typo, 1k workspace",
            "atoms_entity_search",
            json!({"workspace_id": SMALL_WORKSPACE, "query": "junipr meridan"}),
        ),
        (
            "read hub + relationships",
            "atoms_entity_get",
            json!({"entity_id": hub, "include_relationships": true}),
        ),
        ("list hub relationships (10)", "atoms_relationship_list", json!({"entity_id": hub, "limit": 10})),
        (
            "export relationships (10)",
            "atoms_export",
            json!({"workspace_id": HUB_WORKSPACE, "kind": "relationships", "limit": 10}),
        ),
        ("graph from hub, depth 2", "atoms_relationship_graph", json!({"entity_id": hub})),
        ("list entities (50)", "atoms_entity_list", json!({"workspace_id": HUB_WORKSPACE, "limit": 50})),
        ("list workspaces (201)", "atoms_workspace_list", json!({"limit": 200})),
    ];
    let mut operations = Vec::with_capacity(cases.len());
    for (name, function, args) in cases {
        let mut samples = Vec::with_capacity(calls);
        for _ in 0..calls {
            let started = Instant::now();
            db.rpc(function, &args, &who).await.map_err(|e| format!("{name}: {e}"))?;
            samples.push(started.elapsed());
        }
        samples.sort();
        operations.push((name, samples));
    }
    Ok(FleetReport { operations })
}

impl FleetReport {
    pub fn render(&self) -> String {
        let mut out = String::from(
            "direct adapter, 200 workspaces x 1,000 entities + one of 50,001 with a 50,000-edge hub\n",
        );
        for (name, samples) in &self.operations {
            out.push_str(&format!(
                "{name:<30} n={:<4} p50 {:>7.2} ms   p95 {:>7.2} ms\n",
                samples.len(),
                ms(quantile(samples, 0.5)),
                ms(quantile(samples, 0.95)),
            ));
        }
        out
    }
}
