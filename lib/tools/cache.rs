//! The read-through cache of slow read operations, shared by every instance through the KV and
//! never stale: an entry records the versions it was computed under, and any successful write
//! bumps its workspace's version, so the next read misses — whichever instance wrote.
//!
//! - Cached operations ([`CACHED`]): `get_query_stats`, `search_entities`, `advanced_search`,
//!   `query_entities` (workspace-addressed) and `get_relationship_graph` (entity-addressed: its
//!   workspace is looked up once per entity and remembered, entities never move).
//! - Key: `cache:e:<sha256(caller, operation, canonical arguments)>`; value:
//!   `<workspace version>:<epoch>:<result JSON>`. A lookup is one KV round trip (entry, the
//!   workspace's version, the epoch); the versions are read *before* the database call whose
//!   result is stored, so a write that lands meanwhile always invalidates it.
//! - Writes: after a successful write, the workspace named in its arguments or result gets a new
//!   version (`INCR cache:v:<workspace>`); a write whose workspace cannot be told bumps the
//!   epoch (everything misses). Membership changes are workspace writes, so the affected user's
//!   entries go too.
//! - Bounded: entries expire after `CACHE_TTL_SECONDS`; an answer over 1/16 of the budget is not
//!   cached; the total size is accounted by the store script (`kv::Command::CachePut`), which
//!   evicts the entries closest to expiry beyond `CACHE_MAX_SIZE_MB`.
//! - `CACHE_ENABLED=false` turns it off. Hits and misses are counted in
//!   `atoms_cache_requests_total{cache="read",result}` (`crate::metrics`).

use std::time::Duration;

use serde_json::{Map, Value};

use crate::config::CacheConfig;
use crate::db::Identity;
use crate::kv::{Command, Kv, Reply};

/// The operations whose answers are cached (measured slower than a KV hit).
pub const CACHED: [&str; 5] =
    ["get_query_stats", "search_entities", "advanced_search", "query_entities", "get_relationship_graph"];

const EPOCH_KEY: &str = "cache:epoch";
const INDEX_KEY: &str = "cache:index";
const BYTES_KEY: &str = "cache:bytes";

fn version_key(workspace: &str) -> String {
    format!("cache:v:{workspace}")
}

fn entity_workspace_key(entity: &str) -> String {
    format!("cache:entity-ws:{entity}")
}

/// The cache of one process (cheap to clone).
#[derive(Clone)]
pub struct ReadCache {
    kv: Kv,
    ttl: Duration,
    max_bytes: u64,
}

/// A lookup that missed: what to store the fresh answer under.
pub struct Miss {
    key: String,
    stamp: String,
}

impl ReadCache {
    pub fn new(kv: Kv, config: &CacheConfig) -> Option<Self> {
        config.enabled.then(|| Self { kv, ttl: config.ttl, max_bytes: config.max_bytes })
    }

    /// The cached answer of `operation` with `arguments` for `identity`, or how to store one.
    /// `None`: not cacheable now (unknown workspace, KV trouble) — call the database, store
    /// nothing.
    pub async fn lookup(
        &self,
        identity: &Identity,
        operation: &str,
        arguments: &Map<String, Value>,
        workspace: &str,
    ) -> Option<Result<Value, Miss>> {
        let key = entry_key(identity, operation, arguments);
        let commands = vec![
            Command::Get { key: key.clone() },
            Command::Get { key: version_key(workspace) },
            Command::Get { key: EPOCH_KEY.to_owned() },
        ];
        let replies = match self.kv.pipeline(commands).await {
            Ok(replies) => replies,
            Err(error) => {
                tracing::warn!(error = %error, "read cache unavailable: reading the database");
                return None;
            }
        };
        let text = |i: usize| match replies.get(i) {
            Some(Reply::Text(t)) => t.as_str(),
            _ => "0",
        };
        let stamp = format!("{}:{}:", text(1), text(2));
        if let Some(Reply::Text(entry)) = replies.first()
            && let Some(json) = entry.strip_prefix(&stamp)
            && let Ok(value) = serde_json::from_str(json)
        {
            crate::metrics::record_cache(crate::metrics::Cache::Read, crate::metrics::CacheResult::Hit);
            return Some(Ok(value));
        }
        crate::metrics::record_cache(crate::metrics::Cache::Read, crate::metrics::CacheResult::Miss);
        Some(Err(Miss { key, stamp }))
    }

    /// Stores a fresh answer under the versions read before it was computed.
    pub async fn store(&self, miss: Miss, answer: &Value) {
        let value = format!("{}{}", miss.stamp, answer);
        if value.len() as u64 > self.max_bytes / 16 {
            return;
        }
        let command = Command::CachePut {
            key: miss.key,
            value,
            ttl: self.ttl,
            index: INDEX_KEY.to_owned(),
            bytes: BYTES_KEY.to_owned(),
            max_bytes: self.max_bytes,
            now_ms: crate::clock::now_ms(),
        };
        match self.kv.run(command).await {
            Ok(Reply::List(dropped)) if !dropped.is_empty() => {
                let deletes = dropped
                    .into_iter()
                    .filter_map(|r| if let Reply::Text(key) = r { Some(Command::Del { key }) } else { None })
                    .collect();
                if let Err(error) = self.kv.pipeline(deletes).await {
                    tracing::warn!(error = %error, "read cache eviction failed (entries expire on their own)");
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error, "read cache store failed"),
        }
    }

    /// The workspace of `entity`, remembered once learnt.
    pub async fn entity_workspace(&self, entity: &str) -> Option<String> {
        self.kv.get(&entity_workspace_key(entity)).await.ok().flatten()
    }

    pub async fn remember_entity_workspace(&self, entity: &str, workspace: &str) {
        let week = Duration::from_secs(7 * 24 * 3600);
        let _ = self.kv.set(&entity_workspace_key(entity), workspace, Some(week)).await;
    }

    /// After a successful write: a new version for `workspace`, or a new epoch when the
    /// workspace is unknown. A failure is logged; entries then expire by TTL.
    pub async fn invalidate(&self, workspace: Option<&str>) {
        let key = workspace.map_or_else(|| EPOCH_KEY.to_owned(), version_key);
        let command = Command::IncrWithExpiry { key, ttl: Duration::from_secs(30 * 24 * 3600) };
        if let Err(error) = self.kv.run(command).await {
            tracing::error!(error = %error, "read cache invalidation failed: cached reads may lag until CACHE_TTL_SECONDS");
        }
    }
}

/// `cache:e:<sha256>` of the caller, the operation and the arguments in canonical form (object
/// keys sorted at every level, as `serde_json`'s map keeps them).
fn entry_key(identity: &Identity, operation: &str, arguments: &Map<String, Value>) -> String {
    let mut canonical = String::new();
    canonical_object(arguments, &mut canonical);
    let mut input = Vec::with_capacity(canonical.len() + 64);
    for part in [identity.subject.as_bytes(), operation.as_bytes(), canonical.as_bytes()] {
        input.extend_from_slice(&(part.len() as u64).to_be_bytes());
        input.extend_from_slice(part);
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, &input);
    let hex: String = crate::hex::encode(digest.as_ref());
    format!("cache:e:{hex}")
}

/// `value` as JSON with every object's keys sorted (whatever order the map keeps).
fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => canonical_object(map, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn canonical_object(map: &Map<String, Value>, out: &mut String) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    out.push('{');
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::String(key.clone()).to_string());
        out.push(':');
        canonical_json(&map[key], out);
    }
    out.push('}');
}

/// The workspace a write touched: its `workspace_id` argument (`named`), else the result's.
pub fn written_workspace(named: Option<&Value>, data: &Value) -> Option<String> {
    named.or_else(|| data.get("workspace_id")).and_then(Value::as_str).map(str::to_owned)
}
