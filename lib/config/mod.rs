//! Every environment variable Atoms reads, read once per cold start into typed structs.
//!
//! This is the only module that touches the environment. Each field documents the variable it
//! comes from (canonical name first, then accepted aliases from the Python server's production
//! checklist). [`Config::from_lookup`] collects *all* problems; production and preview targets
//! additionally require a complete configuration (see [`completeness`]), which is exactly what
//! `atoms check-env` reports.

mod auth;
mod completeness;
mod observability;
mod operator;
mod reader;
mod target;

use std::time::Duration;

pub use tracing::level_filters::LevelFilter;

pub use auth::{AuthConfig, AuthMode, WorkosConfig, decode_session_key, is_loopback_host};
pub use completeness::check_complete;
pub use observability::{AlertConfig, ObservabilityConfig, TraceExportConfig, Webhook};
pub use operator::SmokeCredentials;
use reader::{EnvReader, is_mcp_path, level_of};
pub use reader::{Problem, ProblemKind};
use target::read_target;
pub use target::{Target, derive_target};

use crate::secret::Secret;

/// The whole configuration of one process.
#[derive(Debug, Clone)]
pub struct Config {
    /// The target this process runs as, derived once; the platform's word wins over
    /// `ATOMS_ENV`: `VERCEL_ENV=production|preview` sets at least that target, and under AWS
    /// Lambda (`AWS_LAMBDA_FUNCTION_NAME` set) it is never `local` (production unless
    /// `ATOMS_ENV=preview`). Otherwise `ATOMS_ENV` (`local`/`development`, `preview`,
    /// `production`); default `local`. See [`Target::for_bind`] for listeners.
    pub target: Target,
    pub http: HttpConfig,
    pub log: LogConfig,
    pub kv: KvConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub sessions: SessionConfig,
    pub rate_limit: RateLimitConfig,
    pub cache: CacheConfig,
    pub platform: PlatformInfo,
    /// Metrics, alerts, the status page and trace export (`lib/config/observability.rs`).
    pub observability: ObservabilityConfig,
    /// `ATOMS_OUTBOUND_TIMEOUT_MS`: total timeout of every outbound HTTP call (default 5000).
    pub outbound_timeout: Duration,
    /// `ATOMS_HEALTH_TIMEOUT_MS`: per-dependency timeout of `/health` checks (default 1500).
    pub health_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `PUBLIC_URL` (alias `FASTMCP_SERVER_AUTH_AUTHKITPROVIDER_BASE_URL`): the public origin,
    /// e.g. `https://atoms.example.com`. Used for OAuth metadata and allowed hosts.
    pub public_url: Option<reqwest::Url>,
    /// `ATOMS_MCP_PATH` (alias `ATOMS_FASTMCP_HTTP_PATH`): the MCP endpoint path (default `/api/mcp`).
    pub mcp_path: String,
    /// `ATOMS_MAX_BODY_BYTES`: largest accepted request body (default 1 MiB); larger → 413.
    pub max_body_bytes: usize,
    /// `MCP_ALLOWED_ORIGINS`: extra browser origins allowed on the MCP route, comma-separated
    /// (`https://app.example.com:443`, `http://localhost:*`); others get 403.
    pub extra_origins: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    /// `LOG_LEVEL` (alias `RUST_LOG`): `off`, `error`, `warn`, `info` (default), `debug`, `trace`.
    pub level: LevelFilter,
    /// `LOG_FORMAT`: `json` (default) or `text`.
    pub format: LogFormat,
    /// Off when the platform stamps log lines itself (`VERCEL` or `AWS_LAMBDA_FUNCTION_NAME` set).
    pub timestamps: bool,
}

/// Which KV backend this process uses.
#[derive(Debug, Clone)]
pub enum KvBackend {
    /// In-process memory: the embedded default of `atoms serve`; not shared between instances.
    Memory,
    /// `REDIS_URL` (`redis://` or `rediss://`).
    Redis { url: Secret },
    /// `KV_REST_API_URL` + `KV_REST_API_TOKEN` (aliases `UPSTASH_REDIS_REST_URL` +
    /// `UPSTASH_REDIS_REST_TOKEN`): Upstash's REST protocol, what Vercel KV became.
    Upstash { url: reqwest::Url, token: Secret },
}

#[derive(Debug, Clone)]
pub struct KvConfig {
    /// Upstash REST when its variables are set, else `REDIS_URL`, else memory.
    pub backend: KvBackend,
    /// `KV_TIMEOUT_MS`: per-command timeout, connection included (default 1500).
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct SupabaseConfig {
    /// `SUPABASE_URL` (alias `NEXT_PUBLIC_SUPABASE_URL`): `https://<project>.supabase.co`.
    pub url: reqwest::Url,
    /// `SUPABASE_ANON_KEY` (alias `NEXT_PUBLIC_SUPABASE_ANON_KEY`): sent as `apikey`.
    pub anon_key: Secret,
    /// `SUPABASE_JWT_SECRET` decides: mint per-call tokens, or forward the caller's token.
    pub identity: PostgrestIdentity,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// Supabase through PostgREST (production).
    pub supabase: Option<SupabaseConfig>,
    /// `DATABASE_URL`: direct Postgres (`postgres://…`), preferred over PostgREST when both are set.
    pub database_url: Option<Secret>,
    /// `DATABASE_POOL_SIZE`: connections per instance for the direct adapter (default 4; a
    /// serverless instance serves few concurrent requests, and the pooler multiplexes).
    pub pool_size: usize,
    /// `DATABASE_STATEMENT_TIMEOUT_MS`: per-operation statement timeout (default 5000).
    pub statement_timeout: Duration,
    /// `ATOMS_DATA_DIR`: where `atoms serve` keeps its throwaway local Postgres cluster when no
    /// database is configured (default `.atoms` in the working directory).
    pub data_dir: std::path::PathBuf,
    /// `ATOMS_POSTGRES_BIN_DIR`: the directory whose `initdb`, `pg_ctl` and `postgres` that
    /// cluster runs on; only that directory is used. Default: the newest
    /// `/usr/lib/postgresql/<version>/bin`, else the first `PATH` directory holding all three.
    pub postgres_bin_dir: Option<std::path::PathBuf>,
    /// True when `atoms serve` filled `database_url` with its own local cluster.
    pub embedded: bool,
}

/// How the PostgREST adapter tells the database who the caller is.
#[derive(Debug, Clone)]
pub enum PostgrestIdentity {
    /// `SUPABASE_JWT_SECRET` set: mint a short-lived HS256 token (`role: authenticated`, the
    /// caller's `sub`, `exp` ≤ 60 s) per call.
    Mint { jwt_secret: Secret },
    /// No secret: forward the caller's own bearer token (Supabase third-party auth trusting the
    /// AuthKit issuer).
    Forward,
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// `MCP_SESSION_IDLE_MINUTES`: a legacy MCP session unused this long ends (default 120;
    /// never longer than the absolute lifetime).
    pub ttl: Duration,
    /// `MCP_SESSION_TTL_HOURS`: the absolute lifetime of a legacy MCP session, however busy
    /// (default 24).
    pub absolute: Duration,
    /// `MAX_SESSIONS_PER_USER`: open legacy sessions per user; a new one beyond it ends the
    /// user's oldest (default 10).
    pub max_per_user: u32,
}

/// One rate: `per_minute` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// `RATE_LIMIT_ENABLED`: default true, except on the local target (a developer's own
    /// machine) where it defaults to false.
    pub enabled: bool,
    /// `RATE_LIMIT_REQUESTS_PER_MINUTE` (default 60) and `RATE_LIMIT_BURST_SIZE` (default 100):
    /// every MCP request of one caller.
    pub requests_per_minute: u32,
    pub burst_size: u32,
    /// `RATE_LIMIT_WRITE_PER_MINUTE` / `RATE_LIMIT_WRITE_BURST`: tool operations that change
    /// data, on top of the general limit (default: none).
    pub write: Option<Rate>,
    /// `RATE_LIMIT_SEARCH_PER_MINUTE` / `RATE_LIMIT_SEARCH_BURST`: search and query operations.
    pub search: Option<Rate>,
    /// `RATE_LIMIT_EXPORT_PER_MINUTE` / `RATE_LIMIT_EXPORT_BURST`: `export_results`.
    pub export: Option<Rate>,
    /// `RATE_LIMIT_AUTH_PER_MINUTE` / `RATE_LIMIT_AUTH_BURST`: `/auth/*` per client address
    /// (default 20 / 10).
    pub auth: Rate,
    /// `RATE_LIMIT_FAIL_OPEN` (default true): with the KV down, MCP requests pass (logged and
    /// counted); false refuses them with 503. `/auth/*` always fails closed.
    pub fail_open: bool,
}

#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// `CACHE_ENABLED` (default true): the stateless list cache and the read cache of slow
    /// read operations.
    pub enabled: bool,
    /// `CACHE_TTL_SECONDS` (default 300).
    pub ttl: Duration,
    /// `CACHE_MAX_SIZE_MB` (default 64): the read cache's total size in the KV, accounted per
    /// entry; an answer over 1/16 of it is not cached.
    pub max_bytes: u64,
}

/// Facts about the deployment, reported by `/health`.
#[derive(Debug, Clone, Default)]
pub struct PlatformInfo {
    /// `VERCEL_REGION`, else `AWS_REGION`, else `local`.
    pub region: String,
    /// `VERCEL_GIT_COMMIT_SHA`, else `ATOMS_COMMIT`, else `unknown`.
    pub commit: String,
    /// `VERCEL_URL` and `VERCEL_BRANCH_URL`: hosts of this (preview) deployment.
    pub deployment_hosts: Vec<String>,
    /// `VERCEL` is set: public paths under `/.well-known` cannot be rewritten onto functions.
    pub vercel: bool,
}

const MAX_BODY_DEFAULT: usize = 1024 * 1024;

impl Config {
    /// Reads the process environment. Fails with every problem found.
    pub fn from_env() -> Result<Self, Vec<Problem>> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, validating formats and, for production and
    /// preview targets, completeness.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, Vec<Problem>> {
        let config = Self::read(lookup, None)?;
        let missing = check_complete(&config, config.target);
        if missing.is_empty() { Ok(config) } else { Err(missing) }
    }

    /// Reads configuration without requiring completeness (used by `atoms check-env`, which
    /// reports completeness itself). `at_least` raises the derived target, never lowers it.
    pub fn read(
        lookup: &dyn Fn(&str) -> Option<String>,
        at_least: Option<Target>,
    ) -> Result<Self, Vec<Problem>> {
        let mut env = EnvReader::new(lookup);
        let target = read_target(&mut env).max(at_least.unwrap_or(Target::Local));
        let config = Config {
            target,
            http: read_http(&mut env),
            log: read_log(&mut env),
            kv: read_kv(&mut env),
            database: read_database(&mut env),
            auth: auth::read_auth(&mut env, target == Target::Local),
            sessions: read_sessions(&mut env),
            rate_limit: read_rate_limit(&mut env, target),
            cache: CacheConfig {
                enabled: env.boolean(&["CACHE_ENABLED"], true),
                ttl: Duration::from_secs(env.positive(&["CACHE_TTL_SECONDS"], 300, 86_400)),
                max_bytes: env.positive(&["CACHE_MAX_SIZE_MB"], 64, 64 * 1024) * 1024 * 1024,
            },
            platform: read_platform(&env),
            observability: observability::read_observability(&mut env),
            outbound_timeout: millis(env.positive(&["ATOMS_OUTBOUND_TIMEOUT_MS"], 5_000, 60_000)),
            health_timeout: millis(env.positive(&["ATOMS_HEALTH_TIMEOUT_MS"], 1_500, 30_000)),
        };
        let no_resource = config.http.public_url.is_none() && config.platform.deployment_hosts.is_empty();
        if config.target == Target::Local && config.auth.mode != AuthMode::Local && no_resource {
            // Tokens are issued for a resource URL; without one no token could ever verify.
            env.missing("PUBLIC_URL", "the URL clients reach this server at, e.g. http://127.0.0.1:3000 (authkit and supabase modes)");
        }
        if env.problems.is_empty() { Ok(config) } else { Err(env.problems) }
    }

    /// The configuration `atoms serve` and the tests use when nothing is set: local target,
    /// memory KV, no external dependencies.
    pub fn embedded() -> Self {
        Self::from_lookup(&|_| None).unwrap_or_else(|_| unreachable!("defaults are valid"))
    }
}

fn read_http(env: &mut EnvReader<'_>) -> HttpConfig {
    let public_url = env.url(
        &["PUBLIC_URL", "FASTMCP_SERVER_AUTH_AUTHKITPROVIDER_BASE_URL"],
        "an absolute URL such as https://atoms.example.com",
    );
    let (path_name, mcp_path) = env
        .named(&["ATOMS_MCP_PATH", "ATOMS_FASTMCP_HTTP_PATH"])
        .map_or(("ATOMS_MCP_PATH", "/api/mcp".to_owned()), |(name, path)| {
            (name, path.trim_end_matches('/').to_owned())
        });
    if !is_mcp_path(&mcp_path) {
        env.malformed(path_name, "a path such as /api/mcp, outside the other routes (/health, /api/health)");
    }
    let max_body_bytes =
        env.positive(&["ATOMS_MAX_BODY_BYTES"], MAX_BODY_DEFAULT as u64, 64 * 1024 * 1024) as usize;
    let extra_origins: Vec<String> = env
        .string(&["MCP_ALLOWED_ORIGINS"])
        .map(|raw| raw.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect())
        .unwrap_or_default();
    if extra_origins.iter().any(|o| !(o.starts_with("http://") || o.starts_with("https://")) && o != "null") {
        env.malformed("MCP_ALLOWED_ORIGINS", "comma-separated origins such as https://app.example.com:443");
    }
    HttpConfig { public_url, mcp_path, max_body_bytes, extra_origins }
}

fn read_log(env: &mut EnvReader<'_>) -> LogConfig {
    let level = match env.named(&["LOG_LEVEL", "RUST_LOG"]) {
        None => LevelFilter::INFO,
        Some((name, raw)) => level_of(&raw).unwrap_or_else(|| {
            env.malformed(
                name,
                "off, error, warn, info, debug or trace (or RUST_LOG directives such as atoms=debug)",
            );
            LevelFilter::INFO
        }),
    };
    let format = match env.string(&["LOG_FORMAT"]).map(|f| f.to_ascii_lowercase()).as_deref() {
        None | Some("json") => LogFormat::Json,
        Some("text") => LogFormat::Text,
        Some(_) => {
            env.malformed("LOG_FORMAT", "json or text");
            LogFormat::Json
        }
    };
    let platform_stamps =
        env.string(&["VERCEL"]).is_some() || env.string(&["AWS_LAMBDA_FUNCTION_NAME"]).is_some();
    LogConfig { level, format, timestamps: !platform_stamps }
}

fn read_kv(env: &mut EnvReader<'_>) -> KvConfig {
    let timeout = millis(env.positive(&["KV_TIMEOUT_MS"], 1_500, 60_000));
    let rest_url_names = ["KV_REST_API_URL", "UPSTASH_REDIS_REST_URL"];
    let rest_token_names = ["KV_REST_API_TOKEN", "UPSTASH_REDIS_REST_TOKEN"];
    let url_set = env.string(&rest_url_names).is_some();
    let token = env.secret(&rest_token_names);
    let backend = if url_set || token.is_some() {
        let url = env.url(&rest_url_names, "an https URL such as https://<db>.upstash.io");
        match (url, token) {
            (Some(url), Some(token)) => KvBackend::Upstash { url, token },
            (_, None) => {
                env.missing("KV_REST_API_TOKEN", "the REST token that belongs to KV_REST_API_URL");
                KvBackend::Memory
            }
            (None, Some(_)) => {
                if !url_set {
                    env.missing("KV_REST_API_URL", "the REST URL that belongs to KV_REST_API_TOKEN");
                }
                KvBackend::Memory
            }
        }
    } else {
        match env.secret(&["REDIS_URL"]) {
            Some(url) if is_redis_url(url.expose()) => KvBackend::Redis { url },
            Some(_) => {
                env.malformed("REDIS_URL", "redis://[:password@]host:port[/db] or rediss://...");
                KvBackend::Memory
            }
            None => KvBackend::Memory,
        }
    };
    KvConfig { backend, timeout }
}

fn read_database(env: &mut EnvReader<'_>) -> DatabaseConfig {
    let url_names = ["SUPABASE_URL", "NEXT_PUBLIC_SUPABASE_URL"];
    let key_names = ["SUPABASE_ANON_KEY", "NEXT_PUBLIC_SUPABASE_ANON_KEY"];
    let url_set = env.string(&url_names).is_some();
    let anon_key = env.secret(&key_names);
    let supabase = if url_set || anon_key.is_some() {
        let url = env.url(&url_names, "an https URL such as https://<project>.supabase.co");
        match (url, anon_key) {
            (Some(url), Some(anon_key)) => {
                let identity = match env.secret(&["SUPABASE_JWT_SECRET"]) {
                    Some(jwt_secret) if jwt_secret.expose().len() >= 32 => {
                        PostgrestIdentity::Mint { jwt_secret }
                    }
                    Some(_) => {
                        env.malformed("SUPABASE_JWT_SECRET", "the project's JWT secret (32+ characters)");
                        PostgrestIdentity::Forward
                    }
                    None => PostgrestIdentity::Forward,
                };
                Some(SupabaseConfig { url, anon_key, identity })
            }
            (_, None) => {
                env.missing("SUPABASE_ANON_KEY", "the project's anon (publishable) key");
                None
            }
            (None, Some(_)) => {
                if !url_set {
                    env.missing("SUPABASE_URL", "the project URL that belongs to SUPABASE_ANON_KEY");
                }
                None
            }
        }
    } else {
        None
    };
    let database_url = env.secret(&["DATABASE_URL"]);
    if let Some(url) = &database_url {
        let raw = url.expose();
        if !(raw.starts_with("postgres://") || raw.starts_with("postgresql://")) {
            env.malformed("DATABASE_URL", "postgres://user:password@host:port/database");
        }
    }
    DatabaseConfig {
        supabase,
        database_url,
        pool_size: env.positive(&["DATABASE_POOL_SIZE"], 4, 100) as usize,
        statement_timeout: millis(env.positive(&["DATABASE_STATEMENT_TIMEOUT_MS"], 5_000, 600_000)),
        data_dir: env.string(&["ATOMS_DATA_DIR"]).unwrap_or_else(|| ".atoms".to_owned()).into(),
        postgres_bin_dir: env.string(&["ATOMS_POSTGRES_BIN_DIR"]).map(Into::into),
        embedded: false,
    }
}

fn read_sessions(env: &mut EnvReader<'_>) -> SessionConfig {
    let absolute = hours(env.positive(&["MCP_SESSION_TTL_HOURS"], 24, 24 * 30));
    let idle = Duration::from_secs(60 * env.positive(&["MCP_SESSION_IDLE_MINUTES"], 120, 60 * 24 * 30));
    SessionConfig {
        ttl: idle.min(absolute),
        absolute,
        max_per_user: env.positive(&["MAX_SESSIONS_PER_USER"], 10, 10_000) as u32,
    }
}

fn read_rate_limit(env: &mut EnvReader<'_>, target: Target) -> RateLimitConfig {
    let mut class = |name: &str, default: Option<Rate>| {
        let rate_name = format!("RATE_LIMIT_{name}_PER_MINUTE");
        let burst_name = format!("RATE_LIMIT_{name}_BURST");
        let per_minute = env.string(&[&rate_name]).map(|_| env.positive(&[&rate_name], 60, 1_000_000) as u32);
        let burst = env.string(&[&burst_name]).map(|_| env.positive(&[&burst_name], 10, 1_000_000) as u32);
        match (per_minute, burst, default) {
            (None, None, default) => default,
            (Some(per_minute), burst, _) => {
                Some(Rate { per_minute, burst: burst.unwrap_or(per_minute.min(10)) })
            }
            (None, Some(burst), Some(default)) => Some(Rate { burst, ..default }),
            (None, Some(_), None) => {
                env.missing(&rate_name, &format!("the sustained rate that {burst_name} belongs to"));
                None
            }
        }
    };
    let write = class("WRITE", None);
    let search = class("SEARCH", None);
    let export = class("EXPORT", None);
    let auth =
        class("AUTH", Some(Rate { per_minute: 20, burst: 10 })).unwrap_or(Rate { per_minute: 20, burst: 10 });
    RateLimitConfig {
        enabled: env.boolean(&["RATE_LIMIT_ENABLED"], target != Target::Local),
        requests_per_minute: env.positive(&["RATE_LIMIT_REQUESTS_PER_MINUTE"], 60, 1_000_000) as u32,
        burst_size: env.positive(&["RATE_LIMIT_BURST_SIZE"], 100, 1_000_000) as u32,
        write,
        search,
        export,
        auth,
        fail_open: env.boolean(&["RATE_LIMIT_FAIL_OPEN"], true),
    }
}

fn read_platform(env: &EnvReader<'_>) -> PlatformInfo {
    let region = env.string(&["VERCEL_REGION", "AWS_REGION"]).unwrap_or_else(|| "local".to_owned());
    let commit =
        env.string(&["VERCEL_GIT_COMMIT_SHA", "ATOMS_COMMIT"]).unwrap_or_else(|| "unknown".to_owned());
    let deployment_hosts = ["VERCEL_URL", "VERCEL_BRANCH_URL"]
        .iter()
        .filter_map(|name| env.string(&[name]))
        .map(|host| host.trim_start_matches("https://").trim_end_matches('/').to_owned())
        .collect();
    PlatformInfo { region, commit, deployment_hosts, vercel: env.string(&["VERCEL"]).is_some() }
}

fn is_redis_url(raw: &str) -> bool {
    raw.starts_with("redis://") || raw.starts_with("rediss://")
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn hours(h: u64) -> Duration {
    Duration::from_secs(h * 3600)
}

#[cfg(test)]
mod tests;
