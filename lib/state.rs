//! The shared state of one process, built once per cold start and lent to every handler.

use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::db::{Db, DbError};
use crate::kv::{Kv, KvError};

/// Everything handlers share. Cheap to clone (reference-counted parts).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub kv: Kv,
    /// The database, when one is configured (`DATABASE_URL` or Supabase).
    pub db: Option<Db>,
    /// The one pooled outbound HTTP client (Upstash, JWKS, PostgREST); each call sets its own
    /// timeout on top of the client's connect timeout.
    pub http: reqwest::Client,
    /// When this process started, for `uptime_seconds`.
    pub started: Instant,
    /// When this instance last flushed its metrics to the KV (`crate::metrics::flush`).
    pub metrics: Arc<crate::metrics::flush::Schedule>,
}

/// Start-up failures of shared state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl AppState {
    /// Builds state from configuration. Opens no connection: clients connect on first use, so
    /// a cold start costs no network round trip.
    pub fn new(config: Config) -> Result<Self, StateError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.outbound_timeout.min(std::time::Duration::from_secs(3)))
            .timeout(config.outbound_timeout)
            .pool_idle_timeout(std::time::Duration::from_secs(60))
            .user_agent(concat!("atoms/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let kv = Kv::from_config(&config.kv, &http)?;
        let db = Db::from_config(&config.database, &http, config.outbound_timeout)?;
        let metrics = Arc::new(crate::metrics::flush::Schedule::new(config.observability.flush_interval));
        Ok(Self { config: Arc::new(config), kv, db, http, started: Instant::now(), metrics })
    }
}
