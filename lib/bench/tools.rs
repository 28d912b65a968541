//! `atoms bench tools`: DB-backed tool calls through the full stack — HTTP, the MCP guard, rmcp,
//! the tool layer, the direct adapter, Postgres — beside the same database function called
//! directly through `Db::rpc`, on the same warm database (10,000 entities in one workspace).
//!
//! Reported per operation: p50/p95 through MCP, p50/p95 direct, and the added latency; the
//! `atoms serve` process's own CPU per `read_entity` call (from `/proc/<pid>/stat`, Postgres
//! excluded) beside the [`super::floor`] server's for the same query, so what Atoms adds stands
//! apart from what the kernel charges any such process; and the `tools/list` payload size (all with the read cache off). Then the read
//! cache: p50/p95 of each cached operation on hits and on misses (each right after a write). `atoms serve` runs as a child process of this
//! same binary (build it with `--release`). Only loopback traffic, bounded in count.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{ChildServer, cpu_times, ms, quantile};
use crate::config::Config;
use crate::db::{Db, Identity};
use crate::secret::Secret;

pub struct ToolsBenchReport {
    pub entities: usize,
    /// (operation, through MCP, direct), samples sorted.
    pub operations: Vec<(&'static str, Vec<Duration>, Vec<Duration>)>,
    /// CPU per `read_entity` call: `atoms serve`'s and the [`super::floor`] server's.
    pub cpu_per_read: CpuPerCall,
    pub tools_list_bytes: usize,
    /// CPUs in this bench's affinity mask, inherited by its servers and by a throwaway cluster
    /// (`taskset -c 0 atoms bench tools` pins them all to one; a server given by
    /// `--database-url` keeps its own placement). `None` when `/proc` does not say.
    pub cpus: Option<usize>,
    /// (operation, cache hits, cache misses) on a second `atoms serve` with the read cache on;
    /// each miss follows a write to the workspace (which invalidates), samples sorted.
    pub cache: Vec<(&'static str, Vec<Duration>, Vec<Duration>)>,
}

/// The local user of `atoms serve` (no token on loopback), so both paths act as the same caller.
const SUBJECT: &str = crate::mcp::transport::LOCAL_SUBJECT;

pub async fn run(
    atoms: &Path,
    database_url: &Secret,
    entities: usize,
    calls: usize,
) -> Result<ToolsBenchReport, String> {
    let db = Db::direct(database_url, &Config::embedded().database).map_err(|e| e.to_string())?;
    let who = Identity::new(SUBJECT);
    let rpc = |function: &'static str, args: Value| {
        let (db, who) = (db.clone(), who.clone());
        async move { db.rpc(function, &args, &who).await.map_err(|e| format!("{function}: {e}")) }
    };
    let ws = rpc("atoms_workspace_create", json!({"name": "bench tools"})).await?["id"].clone();
    let words = ["atlas", "beacon", "cobalt", "delta", "ember", "falcon", "granite", "harbor"];
    let mut ids = Vec::with_capacity(entities);
    for chunk in (0..entities).collect::<Vec<_>>().chunks(500) {
        let items: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"type": "note", "name": format!("{} {} {i}", words[i % 8], words[(i / 8) % 8]), "metadata": {"rank": i}}))
            .collect();
        let created = rpc("atoms_entity_create", json!({"workspace_id": ws, "items": items})).await?;
        ids.extend(created["items"].as_array().into_iter().flatten().map(|e| e["id"].clone()));
    }
    let hub = ids.first().cloned().ok_or("no entities")?;
    for target in ids.iter().skip(1).take(30) {
        rpc("atoms_relationship_create", json!({"source_id": hub, "target_id": target, "type": "links"}))
            .await?;
    }

    // The comparison with the direct call runs with the read cache off (repeated identical
    // reads would otherwise be cache hits); the cache gets its own server below.
    let (server, url) = serve(atoms, database_url, false)?;
    let client = reqwest::Client::new();
    wait_ready(&client, &url, "atoms serve").await?;
    let tools_list_bytes =
        post(&client, &url, "tools/list", None, json!({})).await?["result"]["tools"].to_string().len();

    let cases: Vec<(&'static str, &'static str, &'static str, Value)> = vec![
        (
            "create_entity",
            "entity_tool",
            "atoms_entity_create",
            json!({"operation": "create_entity", "workspace_id": ws, "type": "note", "name": "bench"}),
        ),
        (
            "read_entity",
            "entity_tool",
            "atoms_entity_get",
            json!({"operation": "read_entity", "entity_id": ids[entities / 2]}),
        ),
        (
            "search_entities",
            "entity_tool",
            "atoms_entity_search",
            json!({"operation": "search_entities", "workspace_id": ws, "query": "harbor ember"}),
        ),
        (
            "get_relationship_graph",
            "relationship_tool",
            "atoms_relationship_graph",
            json!({"operation": "get_relationship_graph", "entity_id": hub, "depth": 2}),
        ),
    ];
    let mut operations = Vec::new();
    for (name, tool, function, arguments) in cases {
        let mut direct_args = arguments.clone();
        if let Some(args) = direct_args.as_object_mut() {
            args.remove("operation");
        }
        // Warm both paths, then alternate them call by call so drift hits both alike.
        for _ in 0..20 {
            call(&client, &url, tool, &arguments).await?;
            rpc(function, direct_args.clone()).await?;
        }
        let (mut through, mut direct) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
        for _ in 0..calls {
            let started = Instant::now();
            call(&client, &url, tool, &arguments).await?;
            through.push(started.elapsed());
            let started = Instant::now();
            rpc(function, direct_args.clone()).await?;
            direct.push(started.elapsed());
        }
        through.sort();
        direct.sort();
        operations.push((name, through, direct));
    }
    let read = json!({"operation": "read_entity", "entity_id": ids[entities / 2]});
    let cpu_per_read = cpu_against_floor(atoms, database_url, &server, &client, &url, &read).await?;
    drop(server);

    let (_cached_server, cached_url) = serve(atoms, database_url, true)?;
    wait_ready(&client, &cached_url, "atoms serve").await?;
    let write =
        json!({"operation": "create_entity", "workspace_id": ws, "type": "note", "name": "cache bench"});
    let cached_cases: Vec<(&'static str, &'static str, Value)> = vec![
        (
            "search_entities",
            "entity_tool",
            json!({"operation": "search_entities", "workspace_id": ws, "query": "harbor ember"}),
        ),
        (
            "advanced_search",
            "query_tool",
            json!({"operation": "advanced_search", "workspace_id": ws, "query": "cobalt"}),
        ),
        (
            "query_entities",
            "query_tool",
            json!({"operation": "query_entities", "workspace_id": ws,
            "filters": [{"field": "metadata.rank", "op": "gte", "value": 9000}], "sort": {"field": "name"}}),
        ),
        ("get_query_stats", "query_tool", json!({"operation": "get_query_stats", "workspace_id": ws})),
        (
            "get_relationship_graph",
            "relationship_tool",
            json!({"operation": "get_relationship_graph", "entity_id": hub, "depth": 2}),
        ),
    ];
    let mut cache = Vec::new();
    for (name, tool, arguments) in cached_cases {
        call(&client, &cached_url, tool, &arguments).await?;
        let mut hits = Vec::with_capacity(calls);
        for _ in 0..calls {
            let started = Instant::now();
            call(&client, &cached_url, tool, &arguments).await?;
            hits.push(started.elapsed());
        }
        let mut misses = Vec::with_capacity(calls / 3);
        for _ in 0..(calls / 3).max(1) {
            call(&client, &cached_url, "entity_tool", &write).await?;
            let started = Instant::now();
            call(&client, &cached_url, tool, &arguments).await?;
            misses.push(started.elapsed());
        }
        hits.sort();
        misses.sort();
        cache.push((name, hits, misses));
    }
    let cpus = super::cpus_allowed();
    Ok(ToolsBenchReport { entities, operations, cpu_per_read, tools_list_bytes, cpus, cache })
}

/// Calls whose CPU is counted: the clock ticks every 10 ms, so a few thousand calls.
const CPU_CALLS: usize = 3_000;

/// User and system CPU per call of two processes measured over the same alternated calls, and
/// each call's latency (sorted).
pub struct CpuPerCall {
    pub atoms: (Duration, Duration),
    pub floor: (Duration, Duration),
    pub atoms_latency: Vec<Duration>,
    pub floor_latency: Vec<Duration>,
}

/// `read_entity` through `atoms serve` alternated call by call with the same request to the
/// floor server (the same query, no MCP), so drift on a shared machine hits both alike.
async fn cpu_against_floor(
    atoms: &Path,
    database_url: &Secret,
    server: &ChildServer,
    client: &reqwest::Client,
    url: &str,
    read: &Value,
) -> Result<CpuPerCall, String> {
    let entity_id = read["entity_id"].as_str().ok_or("no entity id")?;
    let port = super::free_port().map_err(|e| e.to_string())?;
    let floor = ChildServer(
        Command::new(atoms)
            .args(["bench", "floor-server", "--port", &port.to_string(), "--entity-id", entity_id])
            .env_clear()
            .env("DATABASE_URL", database_url.expose())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the floor server: {e}"))?,
    );
    let floor_url = format!("http://127.0.0.1:{port}/api/mcp");
    wait_ready(client, &floor_url, "the floor server").await?;
    let floor_call = || {
        post(
            client,
            &floor_url,
            "tools/call",
            Some("entity_tool"),
            json!({"name": "entity_tool", "arguments": read}),
        )
    };
    for _ in 0..50 {
        call(client, url, "entity_tool", read).await?;
        floor_call().await?;
    }
    let (mut atoms_latency, mut floor_latency) =
        (Vec::with_capacity(CPU_CALLS), Vec::with_capacity(CPU_CALLS));
    let (atoms_before, floor_before) = (cpu_times(server.0.id())?, cpu_times(floor.0.id())?);
    for _ in 0..CPU_CALLS {
        let started = Instant::now();
        call(client, url, "entity_tool", read).await?;
        atoms_latency.push(started.elapsed());
        let started = Instant::now();
        floor_call().await?;
        floor_latency.push(started.elapsed());
    }
    atoms_latency.sort();
    floor_latency.sort();
    let (atoms_after, floor_after) = (cpu_times(server.0.id())?, cpu_times(floor.0.id())?);
    let per_call = |before: (Duration, Duration), after: (Duration, Duration)| {
        ((after.0 - before.0) / CPU_CALLS as u32, (after.1 - before.1) / CPU_CALLS as u32)
    };
    Ok(CpuPerCall {
        atoms: per_call(atoms_before, atoms_after),
        floor: per_call(floor_before, floor_after),
        atoms_latency,
        floor_latency,
    })
}

/// `atoms serve` on `database_url` with the read cache on or off; the process and MCP URL.
fn serve(atoms: &Path, database_url: &Secret, cache: bool) -> Result<(ChildServer, String), String> {
    let port = super::free_port().map_err(|e| e.to_string())?;
    let server = ChildServer(
        Command::new(atoms)
            .args(["serve", "--port", &port.to_string()])
            .env_clear()
            .envs(super::trace_export_env())
            .env("DATABASE_URL", database_url.expose())
            .env("CACHE_ENABLED", if cache { "true" } else { "false" })
            .env("LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start atoms serve: {e}"))?,
    );
    Ok((server, format!("http://127.0.0.1:{port}/api/mcp")))
}

/// Runs [`run`] on the server of `database_url`, or on a throwaway local cluster.
pub async fn run_standalone(
    atoms: &Path,
    database_url: Option<String>,
    entities: usize,
    calls: usize,
) -> Result<String, String> {
    super::db::with_fresh_database(database_url, |url| async move {
        run(atoms, &url, entities, calls).await.map(|r| r.render())
    })
    .await
}

/// Waits until `server` (named in the error) answers a POST to `url` with JSON.
async fn wait_ready(client: &reqwest::Client, url: &str, server: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if post(client, url, "tools/list", None, json!({})).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("{server} did not answer within 20 s"))
}

async fn call(client: &reqwest::Client, url: &str, tool: &str, arguments: &Value) -> Result<(), String> {
    let answer =
        post(client, url, "tools/call", Some(tool), json!({"name": tool, "arguments": arguments})).await?;
    if answer["result"]["isError"] != false {
        return Err(format!("{tool} failed: {answer}"));
    }
    Ok(())
}

/// One stateless 2026-07-28 request; the JSON-RPC message.
async fn post(
    client: &reqwest::Client,
    url: &str,
    method: &str,
    name: Option<&str>,
    mut params: Value,
) -> Result<Value, String> {
    params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = name {
        request = request.header("mcp-name", name);
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let response = request.body(body.to_string()).send().await.map_err(|e| e.to_string())?;
    response.json().await.map_err(|e| e.to_string())
}

impl ToolsBenchReport {
    pub fn render(&self) -> String {
        let mut out = format!(
            "tool calls through atoms serve (HTTP + MCP + tool layer) vs Db::rpc direct, {} entities\n\
             {:<24} {:>16} {:>16} {:>18}\n",
            self.entities, "operation", "MCP p50/p95 ms", "direct p50/p95 ms", "added p50 (ms, %)"
        );
        for (name, through, direct) in &self.operations {
            let (t50, d50) = (ms(quantile(through, 0.5)), ms(quantile(direct, 0.5)));
            out.push_str(&format!(
                "{name:<24} {:>7.2} / {:>6.2} {:>7.2} / {:>6.2} {:>9.3} ({:>4.0}%)\n",
                t50,
                ms(quantile(through, 0.95)),
                d50,
                ms(quantile(direct, 0.95)),
                t50 - d50,
                if d50 > 0.0 { (t50 - d50) / d50 * 100.0 } else { 0.0 },
            ));
        }
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let (atoms, floor) = (&self.cpu_per_read.atoms, &self.cpu_per_read.floor);
        // On a VM, waking a process on another CPU is an inter-processor interrupt the
        // hypervisor charges to the waker's system time: pinned to one CPU, the figures show
        // the processes' own work.
        let placement = match self.cpus {
            Some(1) => "on 1 CPU".to_owned(),
            Some(cpus) => {
                format!("on {cpus} CPUs; `taskset -c 0` pins all to one, without cross-CPU wake-ups")
            }
            None => "CPU placement unknown".to_owned(),
        };
        out.push_str(&format!(
            "CPU per read_entity call ({CPU_CALLS} calls, alternated; user + system; {placement}):\n  \
             atoms serve                             {:>5.0} us ({:.0} + {:.0})\n  \
             floor (hyper + the same query, no MCP)  {:>5.0} us ({:.0} + {:.0})\n  \
             Atoms' own (the difference)             {:>5.0} us\n  \
             latency p50 / p95: atoms serve {:.2} / {:.2} ms, floor {:.2} / {:.2} ms\n\
             tools/list payload: {} bytes\n",
            us(atoms.0 + atoms.1),
            us(atoms.0),
            us(atoms.1),
            us(floor.0 + floor.1),
            us(floor.0),
            us(floor.1),
            us(atoms.0 + atoms.1) - us(floor.0 + floor.1),
            ms(quantile(&self.cpu_per_read.atoms_latency, 0.5)),
            ms(quantile(&self.cpu_per_read.atoms_latency, 0.95)),
            ms(quantile(&self.cpu_per_read.floor_latency, 0.5)),
            ms(quantile(&self.cpu_per_read.floor_latency, 0.95)),
            self.tools_list_bytes
        ));
        out.push_str(&format!(
            "read cache (memory KV of atoms serve; each miss follows a write that invalidates it)\n\
             {:<24} {:>18} {:>18}\n",
            "operation", "hit p50/p95 ms", "miss p50/p95 ms"
        ));
        for (name, hits, misses) in &self.cache {
            out.push_str(&format!(
                "{name:<24} {:>8.2} / {:>6.2} {:>8.2} / {:>6.2}\n",
                ms(quantile(hits, 0.5)),
                ms(quantile(hits, 0.95)),
                ms(quantile(misses, 0.5)),
                ms(quantile(misses, 0.95)),
            ));
        }
        out
    }
}
