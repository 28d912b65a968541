//! `atoms serve`: every route of the bundle on one port, on embedded defaults.
//!
//! With no configuration it runs the local target: KV in memory, loopback only. Binding any other
//! interface requires a complete production configuration and makes the process run as
//! production (never `local`, whatever `ATOMS_ENV` says), because the embedded defaults and the
//! local identity are not safe to expose.

use std::net::{IpAddr, SocketAddr};

use crate::config::{Config, Problem, Target, check_complete};
use crate::host::local;
use crate::router;
use crate::state::AppState;

/// Options of `atoms serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub host: IpAddr,
    pub port: u16,
    /// With no database configured, start (or reuse) the throwaway local Postgres cluster under
    /// `ATOMS_DATA_DIR` and apply migrations. Off, the database is reported `not_configured`.
    pub embedded_database: bool,
    /// Serve the MCP conformance suite's fixtures instead of the Atoms tools (needs a build with
    /// `--features conformance`).
    pub conformance: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("configuration is invalid:\n{}", list(.0))]
    Config(Vec<Problem>),
    #[error(
        "refusing to bind {host}: only loopback addresses may serve the embedded defaults; \
         a public bind needs a complete production configuration:\n{}",
        list(missing)
    )]
    PublicBindWithoutProduction { host: IpAddr, missing: Vec<Problem> },
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error("this binary has no conformance fixtures: build it with `--features conformance`")]
    NoConformance,
    #[error("cannot start the local database: {0}")]
    LocalDatabase(String),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("server stopped: {0}")]
    Serve(std::io::Error),
}

fn list(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
}

/// A bound, ready-to-run local server. Splitting bind from run lets callers (and tests) learn
/// the actual port before serving.
pub struct LocalServer {
    pub address: SocketAddr,
    pub state: AppState,
    listener: tokio::net::TcpListener,
    conformance: bool,
}

impl LocalServer {
    /// Validates configuration for the bind address and binds.
    pub async fn bind(config: Config, options: &ServeOptions) -> Result<Self, ServeError> {
        let mut config = config;
        if !options.host.is_loopback() {
            let missing = check_complete(&config, Target::Production);
            if !missing.is_empty() {
                return Err(ServeError::PublicBindWithoutProduction { host: options.host, missing });
            }
        }
        config.target = config.target.for_bind(options.host.is_loopback());
        let database = &config.database;
        if options.embedded_database && database.database_url.is_none() && database.supabase.is_none() {
            let url = crate::db::prepare_local(&database.data_dir, database.postgres_bin_dir.as_deref())
                .await
                .map_err(ServeError::LocalDatabase)?;
            config.database.database_url = Some(url);
            config.database.embedded = true;
        }
        let state = AppState::new(config)?;
        let requested = SocketAddr::new(options.host, options.port);
        let listener = local::bind(requested).await.map_err(|e| ServeError::Bind(requested, e))?;
        let address = listener.local_addr().map_err(|e| ServeError::Bind(requested, e))?;
        Ok(Self { address, state, listener, conformance: options.conformance })
    }

    /// What this server serves, for the start-up banner.
    pub fn describe(&self) -> String {
        let base = format!("http://{}", self.address);
        let config = &self.state.config;
        let mcp = &config.http.mcp_path;
        let who = match config.auth.mode {
            crate::config::AuthMode::Local => {
                "no token = the local user; other users: Authorization: Bearer $(atoms dev-token --sub <id>)"
                    .to_owned()
            }
            mode => format!(
                "{} mode: clients sign in through {} (OAuth discovery from the 401 challenge)\n  \
                 GET  {base}/.well-known/oauth-protected-resource{mcp}  protected resource metadata",
                mode.as_str(),
                crate::auth::discovery::authorization_server(config)
                    .unwrap_or_else(|| "(not configured)".to_owned()),
            ),
        };
        format!(
            "atoms {} serving on {base} (target {}, kv {}, database {})\n  \
             POST {base}{mcp}  MCP endpoint (Streamable HTTP); point a client at it, e.g.\n       \
             claude mcp add --transport http atoms {base}{mcp}\n       \
             {who}\n  \
             GET  {base}/health        deep health report\n  \
             GET  {base}/health/ready  readiness\n  \
             GET  {base}/health/live   liveness\n  \
             GET  {base}/metrics       fleet-wide metrics (Prometheus; METRICS_TOKEN, or loopback in local mode)\n  \
             GET  {base}/status        status page (same protection)\n  \
             GET  {base}/auth/login    browser sign-in through WorkOS AuthKit (then /auth/callback)\n  \
             GET  {base}/auth/token    a current access token for the signed-in browser\n  \
             POST {base}/auth/logout   sign out (ends the WorkOS session too)\n  \
             POST {base}/auth/webhooks/workos  WorkOS events (session.revoked, user.deleted)\n",
            env!("CARGO_PKG_VERSION"),
            config.target.as_str(),
            self.state.kv.backend_name(),
            match (&self.state.db, config.database.embedded) {
                (Some(_), true) => "local postgres under ATOMS_DATA_DIR",
                (Some(db), false) => db.adapter_name(),
                (None, _) => "not configured",
            },
        )
    }

    #[cfg(feature = "conformance")]
    fn mcp_routes(&self) -> Result<axum::Router, ServeError> {
        Ok(if self.conformance {
            crate::mcp::conformance_routes(&self.state)
        } else {
            crate::mcp::routes(&self.state)
        })
    }

    #[cfg(not(feature = "conformance"))]
    fn mcp_routes(&self) -> Result<axum::Router, ServeError> {
        if self.conformance {
            return Err(ServeError::NoConformance);
        }
        Ok(crate::mcp::routes(&self.state))
    }

    /// Serves until Ctrl-C / SIGTERM.
    pub async fn run(self) -> Result<(), ServeError> {
        let mcp = self.mcp_routes()?;
        let router = router::local_server(self.state.clone(), mcp);
        local::serve_with_metrics(self.listener, router, self.state).await.map_err(ServeError::Serve)
    }
}

/// Reads the environment for `atoms serve`.
pub fn config_from_env() -> Result<Config, ServeError> {
    Config::from_env().map_err(ServeError::Config)
}
