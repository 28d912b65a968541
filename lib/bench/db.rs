//! `atoms bench db`: latency of `entities.create` and `entities.search` through the direct
//! adapter, over a workspace of N entities, on a fresh database (the local cluster under a
//! temporary directory, or the server of `--database-url`).
//!
//! Searches run after `ANALYZE` (the statistics autovacuum gathers in steady state). Also counts
//! transactions per operation (`pg_stat_database.xact_commit`): each operation is
//! one simple-query message, so one round trip and one transaction.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{ms, quantile};
use crate::config::Config;
use crate::db::{Db, Identity};
use crate::secret::Secret;

#[derive(Debug)]
pub struct DbBenchReport {
    pub entities: usize,
    pub searches: usize,
    pub create: Vec<Duration>,
    pub search: Vec<Duration>,
    /// Committed transactions per `entities.create` call, measured on the server.
    pub transactions_per_create: f64,
}

/// Words the synthetic entities are named from, so searches hit a realistic share of rows.
const WORDS: [&str; 16] = [
    "atlas", "beacon", "cobalt", "delta", "ember", "falcon", "granite", "harbor", "iris", "juniper",
    "kepler", "lumen", "meridian", "nimbus", "orion", "pulsar",
];

/// Runs the benchmark against a fresh database on the server of `admin_url` (a URL to any
/// database of that server, used to create the benchmark database).
pub async fn run(admin_url: &Secret, entities: usize, searches: usize) -> Result<DbBenchReport, String> {
    let (url, name) = fresh_database(admin_url).await?;
    let db = Db::direct(&url, &Config::embedded().database).map_err(|e| e.to_string())?;
    let who = Identity::new("user_01BENCH");
    let workspace =
        db.rpc("atoms_workspace_create", &json!({"name": "bench"}), &who).await.map_err(|e| e.to_string())?;

    let commits_before = commits(&url, &name).await?;
    let mut create = Vec::with_capacity(entities);
    for i in 0..entities {
        let words = format!("{} {} {}", WORDS[i % 16], WORDS[(i / 16) % 16], WORDS[(i / 256) % 16]);
        let args = json!({
            "workspace_id": workspace["id"], "type": if i % 3 == 0 { "project" } else { "note" },
            "name": format!("{words} {i}"),
            "metadata": {"summary": format!("entity {i} about {words}"), "rank": i},
        });
        let started = Instant::now();
        db.rpc("atoms_entity_create", &args, &who).await.map_err(|e| e.to_string())?;
        create.push(started.elapsed());
    }
    let commits_after = commits(&url, &name).await?;
    // Steady state: statistics as autovacuum would have gathered them by now.
    analyze(&url).await?;

    let mut search = Vec::with_capacity(searches);
    for i in 0..searches {
        // Alternate exact words (full-text hits) and misspellings (trigram fallback).
        let query = if i % 2 == 0 { WORDS[i % 16].to_owned() } else { format!("{}x", &WORDS[i % 16][..4]) };
        let started = Instant::now();
        db.rpc("atoms_entity_search", &json!({"workspace_id": workspace["id"], "query": query}), &who)
            .await
            .map_err(|e| e.to_string())?;
        search.push(started.elapsed());
    }
    create.sort();
    search.sort();
    // The counter also counts the two stats queries themselves; subtract the one in between.
    let transactions = commits_after.saturating_sub(commits_before).saturating_sub(1);
    Ok(DbBenchReport {
        entities,
        searches,
        create,
        search,
        transactions_per_create: transactions as f64 / entities.max(1) as f64,
    })
}

/// Runs the benchmark on the server of `database_url`, or on a throwaway local cluster (started
/// in a temporary directory, stopped and removed afterwards) when none is given.
pub async fn run_standalone(
    database_url: Option<String>,
    entities: usize,
    searches: usize,
) -> Result<DbBenchReport, String> {
    on_server(database_url, |admin| async move { run(&admin, entities, searches).await }).await
}

/// `atoms bench db --fleet`: the fleet data set on a fresh database of that server
/// ([`super::fleet`]), each operation timed `calls` times.
pub async fn run_fleet_standalone(database_url: Option<String>, calls: usize) -> Result<String, String> {
    with_fresh_database(database_url, |url| async move {
        super::fleet::run(&url, calls).await.map(|report| report.render())
    })
    .await
}

/// Calls `bench` with the URL of a new, migrated database on the server of `database_url`, or
/// of a throwaway local cluster.
pub(crate) async fn with_fresh_database<T, F, Fut>(
    database_url: Option<String>,
    bench: F,
) -> Result<T, String>
where
    F: FnOnce(Secret) -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    on_server(database_url, |admin| async move {
        let (url, _) = fresh_database(&admin).await?;
        bench(url).await
    })
    .await
}

/// Calls `bench` with an admin URL of the server of `database_url`, or of a throwaway local
/// cluster (started in a temporary directory, stopped and removed afterwards).
async fn on_server<T, F, Fut>(database_url: Option<String>, bench: F) -> Result<T, String>
where
    F: FnOnce(Secret) -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    if let Some(url) = database_url {
        return bench(Secret::new(url)).await;
    }
    let scratch = std::env::temp_dir().join(format!("atoms-bench-{}", std::process::id()));
    let dir = scratch.clone();
    let cluster = tokio::task::spawn_blocking(move || crate::db::local::LocalPostgres::start(&dir))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let report = bench(cluster.url("postgres")).await;
    let _ = cluster.stop();
    let _ = std::fs::remove_dir_all(&scratch);
    report
}

/// A new, migrated database on the server of `admin_url`: its URL and name.
async fn fresh_database(admin_url: &Secret) -> Result<(Secret, String), String> {
    let name = format!("atoms_bench_{}", uuid::Uuid::new_v4().simple());
    crate::db::ensure_database(admin_url, &name).await?;
    let url = Secret::new(swap_database(admin_url.expose(), &name));
    crate::db::migrate::migrate(&url).await.map_err(|e| e.to_string())?;
    Ok((url, name))
}

fn swap_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(server, _)| server);
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

async fn analyze(url: &Secret) -> Result<(), String> {
    let (client, connection) =
        tokio_postgres::connect(url.expose(), tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    client.batch_execute("analyze").await.map_err(|e| e.to_string())
}

async fn commits(url: &Secret, database: &str) -> Result<u64, String> {
    let (client, connection) =
        tokio_postgres::connect(url.expose(), tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    // Statistics are sent to the collector asynchronously; force a fresh snapshot.
    let _ = client.batch_execute("select pg_stat_clear_snapshot()").await;
    let row = client
        .query_one("select xact_commit from pg_stat_database where datname = $1", &[&database])
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get::<_, i64>(0).max(0) as u64)
}

impl DbBenchReport {
    pub fn render(&self) -> String {
        let line = |name: &str, samples: &[Duration]| {
            format!(
                "{name:<16} n={:<6} p50 {:.2} ms   p95 {:.2} ms   max {:.2} ms\n",
                samples.len(),
                ms(quantile(samples, 0.5)),
                ms(quantile(samples, 0.95)),
                ms(quantile(samples, 1.0)),
            )
        };
        format!(
            "direct adapter, {} entities in one workspace\n{}{}transactions per create: {:.2}\n",
            self.entities,
            line("entities.create", &self.create),
            line("entities.search", &self.search),
            self.transactions_per_create,
        )
    }
}
