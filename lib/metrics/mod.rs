//! Fleet-wide metrics: each instance counts in memory, flushes its deltas to the KV (one
//! pipeline) after responses, and `GET /metrics` exposes the sum over every instance.
//!
//! On serverless an instance sees a sliver of the traffic and may be frozen between requests,
//! so nothing is exposed from process memory: [`flush`] adds this instance's deltas into KV
//! hashes (`HINCRBY`) — cumulative totals for the exposition, and one hash per minute (kept two
//! hours) for alert windows and the status page — and [`exposition`] reads them back.
//!
//! - Recording ([`record_http`], [`record_tool_call`], …) is a map update in a per-thread shard
//!   ([`recorder`]); label values are bounded ([`labels`]) and series are written as KV fields
//!   by [`series`].
//! - Flushes happen at most every `METRICS_FLUSH_SECONDS`, after the response: Vercel's
//!   `wait_until`, before a Lambda invocation returns, a timer in `atoms serve`, and on a scrape
//!   of `/metrics` (its own deltas first). **Loss bound**: an instance that dies loses what it
//!   counted since its last flush — at most one interval of its own traffic, plus the interval
//!   of a flush whose KV call failed (those deltas are put back and retried, never doubled: a
//!   pipeline that failed before reaching the KV applied nothing; one that timed out after the
//!   KV applied it is the one case that can count twice).
//! - [`endpoint`] serves `/metrics` (bearer `METRICS_TOKEN`; open on loopback in local mode).
//!
//! The recorder is process-wide (a `LazyLock`): the call sites — the HTTP boundary, the KV
//! client, the database adapters, the MCP guard — share no value to carry it, and what it
//! holds is this process's own tally, which is exactly what a global means.

pub mod endpoint;
pub mod exposition;
pub mod flush;
pub mod labels;
mod recorder;
pub mod series;
pub mod snapshot;

use std::sync::LazyLock;
use std::time::Duration;

pub use labels::{AuthFailure, Cache, CacheResult};
use recorder::{Deltas, Recorder};
use series::{Key, Metric};

static RECORDER: LazyLock<Recorder> = LazyLock::new(Recorder::new);

/// One HTTP request answered: `route` is the matched route pattern (never the raw path).
pub fn record_http(route: &str, method: &axum::http::Method, status: u16, duration: Duration) {
    let route = labels::route(route);
    RECORDER
        .count(Key::new(Metric::HttpRequests, [route, labels::method(method), labels::status(status)]), 1);
    RECORDER.observe(Key::new(Metric::HttpDuration, [route]), duration);
}

/// One MCP JSON-RPC request: its `method` and the protocol version it speaks (the
/// `MCP-Protocol-Version` header, the version `initialize` asked for, or the `_meta` version).
pub fn record_mcp_request(method: &str, protocol_version: &str) {
    let key = Key::new(Metric::McpRequests, [labels::mcp_method(method), labels::era(protocol_version)]);
    RECORDER.count(key, 1);
}

/// One tool call, labelled by [`labels::tool`] (the caller has them for its span): `outcome` is
/// `ok` or the tool result's error code.
pub fn record_tool_call(labels: (&'static str, &'static str), outcome: &str, duration: Duration) {
    let (tool, operation) = labels;
    RECORDER.count(Key::new(Metric::ToolCalls, [tool, operation, labels::outcome(outcome)]), 1);
    RECORDER.observe(Key::new(Metric::ToolDuration, [tool, operation]), duration);
}

/// One database function call (either adapter), successful or not.
pub fn record_db_rpc(duration: Duration) {
    RECORDER.observe(Key::new(Metric::DbRpcDuration, []), duration);
}

/// One KV round trip (a pipeline of any length), successful or not.
pub fn record_kv(duration: Duration) {
    RECORDER.observe(Key::new(Metric::KvDuration, []), duration);
}

/// A credential refused on the MCP route.
pub fn record_auth_failure(reason: AuthFailure) {
    RECORDER.count(Key::new(Metric::AuthFailures, [reason.as_str()]), 1);
}

/// A request refused by the rate limiter.
pub fn record_rate_limited() {
    RECORDER.count(Key::new(Metric::RateLimited, []), 1);
}

/// A lookup in one of the caches.
pub fn record_cache(cache: Cache, result: CacheResult) {
    RECORDER.count(Key::new(Metric::CacheRequests, [cache.as_str(), result.as_str()]), 1);
}

/// A function instance started (`health`, `mcp`, `metrics`, `auth`, `serve`).
pub fn record_cold_start(function: &'static str) {
    RECORDER.count(Key::new(Metric::ColdStarts, [function]), 1);
}

/// A legacy MCP session was used (`live`) or ended. Only a fingerprint (16 bytes of its
/// SHA-256) is kept: session ids are bearer capabilities.
pub fn record_session(session_id: &str, live: bool) {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(session_id.as_bytes());
    let mut fingerprint = [0u8; 16];
    fingerprint.copy_from_slice(&digest[..16]);
    RECORDER.session(fingerprint, live);
}

/// Everything this process recorded since the last call.
pub(crate) fn take() -> Deltas {
    RECORDER.take()
}

/// Puts back deltas a flush could not deliver.
pub(crate) fn restore(deltas: Deltas) {
    RECORDER.restore(deltas);
}
