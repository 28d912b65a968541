//! Atoms: a remote MCP server for a team knowledge graph, shipped as serverless functions.
//!
//! # Layout
//!
//! - [`config`]: every environment variable, read once per cold start into typed structs.
//! - [`http`]: the HTTP boundary on every route — request id, logs, security headers, CORS, body
//!   limit, panic guard, and the one JSON error envelope. Only it knows status codes.
//! - [`router`]: every route, and the slice each function binary serves.
//! - [`mcp`]: the MCP endpoint — rmcp's Streamable HTTP service behind Atoms' identity hook and
//!   transport guard, legacy sessions in the KV, the conformance fixtures (feature-gated).
//! - [`alerts`]: alert rules judged on the fleet-wide metrics, deduplicated fleet-wide through
//!   the KV, delivered to webhooks (Slack or signed JSON) with retries.
//! - [`auth`]: who a request comes from — the OAuth resource server (AuthKit, WorkOS and
//!   Supabase tokens, discovery documents, revocation) and the local dev tokens.
//! - [`limits`]: fleet-wide rate limits (GCRA buckets in the KV) and client addresses.
//! - [`tools`]: the five Atoms tools — one table of operations, each a pass-through to one
//!   database function; schemas, validation, result envelopes and export rendering.
//! - [`health`]: `/health`, `/health/ready`, `/health/live` and their dependency probes.
//! - [`db`]: the database — `rpc(function, args, identity)` over PostgREST or direct Postgres,
//!   migrations, the local cluster of `atoms serve`.
//! - [`kv`]: the key-value store (Upstash REST, Redis, memory) behind one interface.
//! - [`metrics`]: fleet-wide metrics — per-instance recording, deltas flushed to the KV,
//!   `/metrics` exposing the sum.
//! - [`otlp`]: optional trace export (OTLP/HTTP JSON) of the `request` → `tool` → `db`/`kv`
//!   spans, continuing a caller's `traceparent`.
//! - [`status`]: `/status`, the HTML status page (health, rates, p95s, sessions, alerts).
//! - [`state`]: the shared state built once per cold start.
//! - [`host`]: Vercel, AWS Lambda and local listeners for the same routers.
//! - [`serve`], [`check_env`] and [`bench`]: the `atoms` operator commands.
//! - [`env_file`]: dotenv files as `vercel env pull` writes them (for `--env-file`).
//! - [`smoke`]: `atoms smoke`, the deployment playbook's smoke tests against any base URL.
//! - [`telemetry`]: JSON-lines logging; [`clock`]: wall-clock time in one place; [`hex`]: the
//!   one hex encoder.
//! - [`secret`]: a string type that never prints.

/// Every binary linking this crate (the functions, `atoms`, the tests) allocates with mimalloc:
/// a request allocates a few hundred times, and glibc's malloc/free spent ~30 % of a tool call's
/// instructions on it (callgrind; figures in README, "Benchmarks").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod alerts;
pub mod auth;
pub mod bench;
pub mod check_env;
pub mod clock;
pub mod config;
pub mod db;
pub mod env_file;
pub mod health;
pub mod hex;
pub mod host;
pub mod http;
pub mod kv;
pub mod limits;
pub mod mcp;
pub mod metrics;
pub mod otlp;
pub mod router;
pub mod secret;
pub mod serve;
pub mod smoke;
pub mod state;
pub mod status;
pub mod telemetry;
pub mod tools;
