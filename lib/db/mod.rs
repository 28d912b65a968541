//! The database: the domain lives in Postgres functions (`migrations/`), and every operation is
//! one call `rpc(function, args, identity) -> json` — one round trip, one transaction, RLS
//! applied as the caller.
//!
//! Two adapters with that one call shape: [`postgrest`] (Supabase in production) and
//! [`direct`] (`DATABASE_URL`: local, tests, Lambda/RDS, Supabase's pooler). [`migrate`]
//! applies the schema; [`local`] runs the throwaway cluster of `atoms serve`.

pub mod direct;
mod error;
mod identity;
pub mod jwt;
pub mod local;
pub mod migrate;
mod pool;
pub mod postgrest;

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use tracing::Instrument as _;
use tracing::field::Empty;

pub use error::DbError;
pub use identity::Identity;

use crate::config::DatabaseConfig;
use crate::secret::Secret;

/// The configured database; cheap to clone.
#[derive(Clone)]
pub enum Db {
    Direct(Arc<direct::DirectDb>),
    Postgrest(Arc<postgrest::PostgrestDb>),
}

impl Db {
    /// The adapter `config` names (`DATABASE_URL` first), or `None` when no database is configured.
    pub fn from_config(
        config: &DatabaseConfig,
        http: &reqwest::Client,
        timeout: std::time::Duration,
    ) -> Result<Option<Self>, DbError> {
        if let Some(url) = &config.database_url {
            return Self::direct(url, config).map(Some);
        }
        Ok(config.supabase.as_ref().map(|supabase| {
            Self::Postgrest(Arc::new(postgrest::PostgrestDb::new(supabase.clone(), http.clone(), timeout)))
        }))
    }

    pub fn direct(url: &Secret, config: &DatabaseConfig) -> Result<Self, DbError> {
        Ok(Self::Direct(Arc::new(direct::DirectDb::new(url, config.pool_size, config.statement_timeout)?)))
    }

    /// `direct` or `postgrest`.
    pub fn adapter_name(&self) -> &'static str {
        match self {
            Self::Direct(_) => "direct",
            Self::Postgrest(_) => "postgrest",
        }
    }

    /// Calls `public.<function>(args)` as `identity`. `function` must be an `atoms_` function
    /// name (it is part of the statement / URL, so it is checked, never escaped).
    pub async fn rpc(&self, function: &str, args: &Value, identity: &Identity) -> Result<Value, DbError> {
        let text = self.rpc_text(function, args, identity).await?;
        parse_result(function, &text)
    }

    /// [`Self::rpc`]'s answer as the JSON text the database wrote, not yet parsed (for callers
    /// that write it on without a `Value`: `crate::tools::compact`).
    pub async fn rpc_text(
        &self,
        function: &str,
        args: &Value,
        identity: &Identity,
    ) -> Result<String, DbError> {
        if !is_function_name(function) {
            return Err(DbError::InvalidArgument(format!("{function:?} is not an Atoms database function")));
        }
        let started = std::time::Instant::now();
        // The function's name only: its arguments and the caller's identity stay out of spans.
        let span = tracing::info_span!("db", function, outcome = Empty);
        let call = async {
            match self {
                Self::Direct(db) => db.rpc_text(function, args, identity).await,
                // Boxed: an HTTP client's future is kilobytes, and would otherwise size every
                // future that awaits an rpc — allocated and copied per request.
                Self::Postgrest(db) => Box::pin(db.rpc_text(function, args, identity)).await,
            }
        };
        let result = call.instrument(span.clone()).await;
        span.record("outcome", result.as_ref().map_or_else(DbError::code, |_| "ok"));
        crate::metrics::record_db_rpc(started.elapsed());
        result
    }

    pub async fn ping(&self) -> Result<(), DbError> {
        match self {
            Self::Direct(db) => db.ping().await,
            Self::Postgrest(db) => db.ping().await,
        }
    }
}

/// A function's JSON text as a `Value`.
pub fn parse_result(function: &str, text: &str) -> Result<Value, DbError> {
    serde_json::from_str(text).map_err(|_| DbError::Internal(format!("{function} returned invalid JSON")))
}

fn is_function_name(name: &str) -> bool {
    name.len() <= 63
        && name.starts_with("atoms_")
        && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// Starts (or reuses) the local cluster under `data_dir`, creates the `atoms` database, applies
/// migrations, and returns its URL. Used by `atoms serve` when no database is configured;
/// `bin_dir` is `ATOMS_POSTGRES_BIN_DIR` (else the binaries are searched for).
pub async fn prepare_local(data_dir: &Path, bin_dir: Option<&Path>) -> Result<Secret, String> {
    let dir = data_dir.join("postgres");
    let bin_dir = bin_dir.map(Path::to_path_buf);
    let cluster =
        tokio::task::spawn_blocking(move || local::LocalPostgres::start_with(&dir, bin_dir.as_deref()))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
    ensure_database(&cluster.url("postgres"), "atoms").await?;
    let url = cluster.url("atoms");
    migrate::migrate(&url).await.map_err(|e| e.to_string())?;
    Ok(url)
}

/// Creates `name` in the server at `admin_url` unless it exists.
pub async fn ensure_database(admin_url: &Secret, name: &str) -> Result<(), String> {
    let config: tokio_postgres::Config = admin_url.expose().parse().map_err(|_| "invalid URL".to_owned())?;
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let exists = client
        .simple_query(&format!("select 1 from pg_database where datname = {}", direct::dollar_quote(name)))
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)));
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        client.batch_execute(&format!("create database {quoted}")).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_function_name;

    #[test]
    fn only_atoms_function_names_are_callable() {
        assert!(is_function_name("atoms_entity_create"));
        assert!(!is_function_name("pg_sleep"));
        assert!(!is_function_name("atoms_x(1); drop table t; --"));
        assert!(!is_function_name("atoms_Entity"));
    }
}
