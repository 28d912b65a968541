//! `atoms`: the operator CLI — run the local server, validate a deployment's environment,
//! smoke-test and benchmark a deployment.

use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;

use atoms::config::Target;
use atoms::serve::{LocalServer, ServeOptions};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "atoms", version, about = "Atoms MCP server: local server and operator tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every route on one port (embedded defaults: memory KV, loopback only).
    Serve {
        /// Port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// Interface to bind; anything but loopback requires a complete production configuration.
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
        /// Do not start the embedded local Postgres when no database is configured.
        #[arg(long)]
        no_database: bool,
        /// Serve the MCP conformance suite's fixtures (builds with `--features conformance`).
        #[arg(long)]
        conformance: bool,
    },
    /// Print a bearer token for a local user, accepted by `atoms serve` on loopback only.
    DevToken {
        /// The user's subject (their id inside Atoms), e.g. user_alice.
        #[arg(long)]
        sub: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// Lifetime: seconds, or a number with s, m, h or d (at most 90d).
        #[arg(long, default_value = "1h")]
        ttl: String,
    },
    /// Validate the environment for a deployment target; exit 1 when incomplete.
    CheckEnv {
        /// Target to check (default: what ATOMS_ENV / VERCEL_ENV say, else local).
        #[arg(long, value_enum)]
        target: Option<Target>,
        /// Check the variables of this dotenv file (e.g. from `vercel env pull`) instead of the
        /// process environment.
        #[arg(long)]
        env_file: Option<std::path::PathBuf>,
    },
    /// Apply pending database migrations (no-op when up to date).
    Migrate {
        /// Postgres URL (default: DATABASE_URL).
        #[arg(long)]
        database_url: Option<String>,
        /// Take DATABASE_URL from this dotenv file (e.g. from `vercel env pull`).
        #[arg(long, conflicts_with = "database_url")]
        env_file: Option<std::path::PathBuf>,
        /// Only list the migrations the database has not applied (read-only).
        #[arg(long)]
        pending: bool,
    },
    /// Smoke-test a deployment: health, headers, CORS, auth challenge, tools, metrics, limits.
    Smoke {
        /// The deployment's origin, e.g. https://atoms.example.com or http://127.0.0.1:3000.
        base_url: String,
        /// Bearer token for the MCP route (enables tools/list and a read-only tool call). Prefer
        /// the ATOMS_SMOKE_TOKEN environment variable: arguments are visible in `ps`. Protected
        /// Vercel deployments: VERCEL_AUTOMATION_BYPASS_SECRET (environment only).
        #[arg(long)]
        token: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// The deployment's MCP path (ATOMS_MCP_PATH).
        #[arg(long, default_value = "/api/mcp")]
        mcp_path: String,
        /// Timeout of each request, in seconds.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// List or end users' legacy MCP sessions in the shared KV (REDIS_URL or KV_REST_API_URL).
    Sessions {
        #[command(subcommand)]
        action: SessionsCommand,
    },
    /// Measure: `bench function` (size, cold start, memory) or `bench db` (operation latency).
    Bench {
        #[command(subcommand)]
        target: BenchTarget,
    },
}

#[derive(Subcommand)]
enum SessionsCommand {
    /// A user's open sessions, oldest first.
    List {
        /// The user's subject (the token's `sub`).
        #[arg(long)]
        user: String,
    },
    /// End one session, every session of a user, or revoke a sign-in session (`sid`: its tokens
    /// are refused fleet-wide and its MCP sessions end).
    Revoke {
        /// The `Mcp-Session-Id` to end.
        session: Option<String>,
        #[arg(long, conflicts_with = "session")]
        user: Option<String>,
        #[arg(long, conflicts_with_all = ["session", "user"])]
        sid: Option<String>,
    },
}

#[derive(Subcommand)]
enum BenchTarget {
    /// A function binary: size, cold start (spawn → first 200), peak RSS under load.
    Function {
        /// The function binary (build it with `cargo build --release` first).
        #[arg(long, default_value = "target/release/health")]
        binary: std::path::PathBuf,
        /// Path whose first 200 ends a cold start and which the load requests.
        #[arg(long, default_value = "/health/live")]
        path: String,
        /// Probe with an MCP `server/discover` POST to `--path` (e.g. `/api/mcp`) instead of a GET.
        #[arg(long)]
        mcp_discover: bool,
        /// Cold starts to measure (the median is reported).
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// Sequential requests for the memory measurement.
        #[arg(long, default_value_t = 1000)]
        requests: usize,
    },
    /// Tool calls through `atoms serve` beside the same database call made directly.
    Tools {
        /// Entities in the benchmark workspace.
        #[arg(long, default_value_t = 10_000)]
        entities: usize,
        /// Calls per operation (each path).
        #[arg(long, default_value_t = 300)]
        calls: usize,
        /// A server to use (any database URL on it); default: a throwaway local cluster.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// The MCP endpoint under load beside a bare hyper server (CPU/request ratio, rps, latency).
    Mcp {
        /// Concurrent connections for the load phase.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Requests per connection in the load phase.
        #[arg(long, default_value_t = 2_000)]
        requests: usize,
        /// Sequential requests on one connection for the latency percentiles.
        #[arg(long, default_value_t = 5_000)]
        sequential: usize,
    },
    /// Token verification: CPU per authenticated tools/list beside local mode, and the cold
    /// instance's first authenticated request (needs the openssl CLI for a throwaway key).
    Auth {
        /// Concurrent connections for the load phase.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Requests per connection in the load phase.
        #[arg(long, default_value_t = 2_000)]
        requests: usize,
        /// Fresh processes for the cold-start measurement.
        #[arg(long, default_value_t = 20)]
        cold_runs: usize,
    },
    /// A running deployment: p50/p95/p99 per endpoint beside the production checklist.
    Remote {
        /// The deployment's origin, e.g. http://127.0.0.1:3000.
        base_url: String,
        /// Measured requests per endpoint (at most 1000), sequential on one connection.
        #[arg(long, default_value_t = 100)]
        requests: usize,
        /// Bearer token for the MCP requests (a deployment needs one).
        #[arg(long)]
        token: Option<String>,
        /// The deployment's MCP path (ATOMS_MCP_PATH).
        #[arg(long, default_value = "/api/mcp")]
        mcp_path: String,
        /// Confirm that a non-loopback target is yours (otherwise it is refused).
        #[arg(long)]
        yes_this_is_mine: bool,
    },
    /// The rate limiter's cost: atoms serve on Redis with the limiter off vs on.
    Limits {
        /// Redis to use (default: a throwaway redis-server from PATH).
        #[arg(long)]
        redis_url: Option<String>,
        /// Concurrent connections for the CPU measurement.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Requests per connection for the CPU measurement.
        #[arg(long, default_value_t = 1_000)]
        requests: usize,
        /// Sequential requests for the latency percentiles.
        #[arg(long, default_value_t = 2_000)]
        sequential: usize,
    },
    /// (internal) The bare hyper baseline server of `bench mcp`.
    #[command(hide = true)]
    BaselineServer {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        body: std::path::PathBuf,
    },
    /// (internal) The floor server of `bench tools`: hyper plus the query of one `read_entity`
    /// (DATABASE_URL).
    #[command(hide = true)]
    FloorServer {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        entity_id: String,
    },
    /// entities.create and entities.search through the direct adapter (p50/p95).
    Db {
        /// Entities to create (each one timed).
        #[arg(long, default_value_t = 10_000)]
        entities: usize,
        /// Searches to run over them.
        #[arg(long, default_value_t = 1_000)]
        searches: usize,
        /// A server to use (any database URL on it); default: a throwaway local cluster.
        #[arg(long)]
        database_url: Option<String>,
        /// Instead: the fleet data set (200 x 1,000 entities, a 50,000-edge hub), each bounded
        /// operation timed `--calls` times.
        #[arg(long)]
        fleet: bool,
        /// Calls per operation with `--fleet`.
        #[arg(long, default_value_t = 50)]
        calls: usize,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve { port, host, no_database, conformance } => run_on_one_thread(serve(ServeOptions {
            host,
            port,
            embedded_database: !no_database,
            conformance,
        })),
        Command::DevToken { sub, email, name, ttl } => {
            run(async move { atoms::auth::dev_token::command(&sub, email.as_deref(), name.as_deref(), &ttl) })
        }
        Command::CheckEnv { target, env_file } => {
            let report = match env_file {
                Some(path) => match atoms::env_file::EnvFile::read(&path) {
                    Ok(file) => atoms::check_env::check(&|name| file.get(name), target),
                    Err(error) => return fail(&error),
                },
                None => atoms::check_env::check(&|name| std::env::var(name).ok(), target),
            };
            let _ = std::io::stdout().write_all(report.render().as_bytes());
            if report.is_complete() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Command::Migrate { database_url, env_file, pending } => run(migrate(database_url, env_file, pending)),
        Command::Sessions { action } => run(async move {
            let action = match action {
                SessionsCommand::List { user } => atoms::mcp::session_admin::SessionAction::List { user },
                SessionsCommand::Revoke { session, user, sid } => {
                    atoms::mcp::session_admin::SessionAction::Revoke { session, user, sid }
                }
            };
            let config =
                atoms::config::Config::read(&|name| std::env::var(name).ok(), None).map_err(|problems| {
                    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
                })?;
            if matches!(config.kv.backend, atoms::config::KvBackend::Memory) {
                return Err("sessions live in a deployment's KV: set REDIS_URL or KV_REST_API_URL and KV_REST_API_TOKEN".to_owned());
            }
            let http = reqwest::Client::builder()
                .timeout(config.outbound_timeout)
                .build()
                .map_err(|e| e.to_string())?;
            let kv = atoms::kv::Kv::from_config(&config.kv, &http).map_err(|e| e.to_string())?;
            atoms::mcp::session_admin::command(&kv, action).await
        }),
        Command::Smoke { base_url, token, json, mcp_path, timeout } => {
            let credentials = atoms::config::SmokeCredentials::from_env();
            smoke(
                atoms::smoke::SmokeOptions {
                    base_url,
                    token: token.map(atoms::secret::Secret::new).or(credentials.token),
                    protection_bypass: credentials.protection_bypass,
                    mcp_path,
                    request_timeout: std::time::Duration::from_secs(timeout.max(1)),
                    budget: std::time::Duration::from_secs(60),
                },
                json,
            )
        }
        Command::Bench {
            target: BenchTarget::Remote { base_url, requests, token, mcp_path, yes_this_is_mine },
        } => run(async move {
            let options = atoms::bench::remote::RemoteOptions {
                base_url,
                token: token.map(atoms::secret::Secret::new),
                mcp_path,
                requests,
                request_timeout: std::time::Duration::from_secs(10),
                budget: std::time::Duration::from_secs(300),
                yes_this_is_mine,
            };
            atoms::bench::remote::run(options).await.map(|r| r.render())
        }),
        Command::Bench { target: BenchTarget::Function { binary, path, mcp_discover, runs, requests } } => {
            let probe = if mcp_discover {
                atoms::bench::function::Probe::McpDiscover(path)
            } else {
                atoms::bench::function::Probe::Get(path)
            };
            run(async move {
                let report = atoms::bench::function::run(&binary, &probe, runs, requests).await;
                report.map(|r| r.render(&binary)).map_err(|e| e.to_string())
            })
        }
        Command::Bench { target: BenchTarget::Db { fleet: true, calls, database_url, .. } } => {
            run(atoms::bench::db::run_fleet_standalone(database_url, calls))
        }
        Command::Bench { target: BenchTarget::Db { entities, searches, database_url, .. } } => {
            run(async move {
                atoms::bench::db::run_standalone(database_url, entities, searches).await.map(|r| r.render())
            })
        }
        Command::Bench { target: BenchTarget::Tools { entities, calls, database_url } } => {
            run_on_one_thread(async move {
                let atoms = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
                atoms::bench::tools::run_standalone(&atoms, database_url, entities, calls).await
            })
        }
        Command::Bench { target: BenchTarget::Mcp { connections, requests, sequential } } => {
            run(async move {
                let atoms = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
                atoms::bench::mcp::run(&atoms, connections, requests, sequential).await.map(|r| r.render())
            })
        }
        Command::Bench { target: BenchTarget::Limits { redis_url, connections, requests, sequential } } => {
            run(async move {
                let atoms = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
                atoms::bench::limits::run(&atoms, redis_url, connections, requests, sequential)
                    .await
                    .map(|r| r.render())
            })
        }
        Command::Bench { target: BenchTarget::Auth { connections, requests, cold_runs } } => {
            run(async move {
                let atoms = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
                atoms::bench::auth::run(&atoms, connections, requests, cold_runs).await.map(|r| r.render())
            })
        }
        Command::Bench { target: BenchTarget::BaselineServer { port, body } } => run(async move {
            let bytes = std::fs::read(&body).map_err(|e| format!("cannot read {}: {e}", body.display()))?;
            atoms::bench::mcp::baseline_server(port, bytes)
                .await
                .map(|()| String::new())
                .map_err(|e| e.to_string())
        }),
        Command::Bench { target: BenchTarget::FloorServer { port, entity_id } } => {
            // One thread, as `atoms serve` runs, so the two processes compare like for like.
            run_on_one_thread(async move {
                let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set".to_owned())?;
                atoms::bench::floor::floor_server(port, &atoms::secret::Secret::new(url), &entity_id)
                    .await
                    .map(|()| String::new())
            })
        }
    }
}

/// Runs one command on a fresh runtime: its output goes to stdout, its error to stderr.
fn run(command: impl Future<Output = Result<String, String>>) -> ExitCode {
    finish(tokio::runtime::Builder::new_multi_thread().enable_all().build(), command)
}

/// [`run`] on a current-thread runtime: what `atoms serve` runs on, like the function binaries
/// (see `atoms::host`: a request is mostly waiting, and handing its wake-ups between worker
/// threads cost more CPU than the work — `atoms bench tools`).
fn run_on_one_thread(command: impl Future<Output = Result<String, String>>) -> ExitCode {
    finish(tokio::runtime::Builder::new_current_thread().enable_all().build(), command)
}

fn finish(
    runtime: std::io::Result<tokio::runtime::Runtime>,
    command: impl Future<Output = Result<String, String>>,
) -> ExitCode {
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    match runtime.block_on(command) {
        Ok(output) => {
            let _ = std::io::stdout().write_all(output.as_bytes());
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error),
    }
}

/// `atoms smoke`: the report on stdout (human or JSON), exit 1 when a check failed.
fn smoke(options: atoms::smoke::SmokeOptions, json: bool) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    match runtime.block_on(atoms::smoke::run(options)) {
        Ok(report) => {
            let text = if json { report.to_json() } else { report.render() };
            let _ = std::io::stdout().write_all(text.as_bytes());
            if report.passed { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(error) => fail(&error.to_string()),
    }
}

async fn migrate(
    database_url: Option<String>,
    env_file: Option<std::path::PathBuf>,
    pending: bool,
) -> Result<String, String> {
    let url = match env_file {
        Some(path) => atoms::env_file::EnvFile::read(&path)?
            .get("DATABASE_URL")
            .ok_or_else(|| format!("{} sets no DATABASE_URL", path.display()))?,
        None => database_url
            .or_else(|| std::env::var("DATABASE_URL").ok())
            .ok_or("no database: pass --database-url or set DATABASE_URL")?,
    };
    let url = atoms::secret::Secret::new(url);
    if pending {
        let files = atoms::db::migrate::pending(&url).await.map_err(|e| e.to_string())?;
        return Ok(files.iter().map(|file| format!("{file}\n")).collect());
    }
    let report = atoms::db::migrate::migrate(&url).await.map_err(|e| e.to_string())?;
    let mut out = format!("{} migration(s) already applied\n", report.up_to_date);
    for file in &report.applied {
        out.push_str(&format!("applied {file}\n"));
    }
    if report.applied.is_empty() {
        out.push_str("database is up to date\n");
    }
    Ok(out)
}

async fn serve(options: ServeOptions) -> Result<String, String> {
    let config = atoms::serve::config_from_env().map_err(|e| e.to_string())?;
    atoms::telemetry::init(&config.log, config.observability.traces.as_ref());
    let server = LocalServer::bind(config, &options).await.map_err(|e| e.to_string())?;
    let _ = std::io::stdout().write_all(server.describe().as_bytes());
    let _ = std::io::stdout().flush();
    server.run().await.map(|()| String::new()).map_err(|e| e.to_string())
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "atoms: {message}");
    ExitCode::FAILURE
}
