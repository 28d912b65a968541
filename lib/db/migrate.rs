//! `atoms migrate`: applies the SQL files of `migrations/` (embedded in the binary) in order.
//!
//! Each pending file runs in its own transaction together with its bookkeeping row in
//! `atoms_private.schema_migrations` (version, SHA-256 checksum). An applied file whose
//! checksum changed stops the run: migrations are append-only. A session advisory lock
//! serialises concurrent runs (two deploys starting at once). Up to date = no-op.

use sha2::{Digest, Sha256};
use tokio_postgres::SimpleQueryMessage;

use super::direct::dollar_quote;
use crate::secret::Secret;

/// One migration file.
pub struct Migration {
    /// The file name without `.sql`, e.g. `20261122000100_supabase_compat`.
    pub file: &'static str,
    pub sql: &'static str,
}

macro_rules! migration {
    ($file:literal) => {
        Migration { file: $file, sql: include_str!(concat!("../../migrations/", $file, ".sql")) }
    };
}

/// Every migration, in order. `tests/tidy.rs` checks this list against `migrations/`.
pub const MIGRATIONS: &[Migration] = &[
    migration!("20261122000100_supabase_compat"),
    migration!("20261122000200_schema"),
    migration!("20261122000300_private_helpers"),
    migration!("20261122000400_row_level_security"),
    migration!("20261122000500_workspaces"),
    migration!("20261122000600_entities"),
    migration!("20261122000700_relationships"),
    migration!("20261122000800_workflows"),
    migration!("20261122000900_queries"),
    migration!("20261129000100_api_roles"),
    migration!("20261129000200_integrity"),
    migration!("20261129000300_identity_and_membership"),
    migration!("20261129000400_bounded_operations"),
    migration!("20261129000500_policies_and_grants"),
    migration!("20261129000600_tool_arguments"),
    migration!("20261129000700_completion"),
];

/// An arbitrary constant naming the migration lock.
const LOCK_KEY: i64 = 0x41_54_4f_4d_53; // "ATOMS"

impl Migration {
    pub fn version(&self) -> &'static str {
        self.file.split('_').next().unwrap_or(self.file)
    }

    pub fn checksum(&self) -> String {
        crate::hex::encode(&Sha256::digest(self.sql.as_bytes()))
    }
}

#[derive(Debug, Default)]
pub struct MigrationReport {
    /// Files applied by this run, in order.
    pub applied: Vec<&'static str>,
    /// Files that were already applied.
    pub up_to_date: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error(
        "migration {0} was changed after it was applied (checksum differs); \
         add a new migration instead of editing an applied one"
    )]
    Changed(&'static str),
    #[error("migration {file} failed: {message}")]
    Failed { file: &'static str, message: String },
    #[error("database error: {0}")]
    Database(String),
}

/// Applies every pending migration to the database at `url`.
pub async fn migrate(url: &Secret) -> Result<MigrationReport, MigrateError> {
    let config: tokio_postgres::Config =
        url.expose().parse().map_err(|_| MigrateError::Connect("not a valid Postgres URL".to_owned()))?;
    let pool = super::pool::Pool::new(config, 1, std::time::Duration::from_secs(10));
    let connection = pool.get().await.map_err(|e| MigrateError::Connect(e.to_string()))?;
    let client = connection.client();
    let db = |e: tokio_postgres::Error| MigrateError::Database(describe(&e));

    client.batch_execute(&format!("select pg_advisory_lock({LOCK_KEY})")).await.map_err(db)?;
    let result = apply_pending(client).await;
    let unlocked = client.batch_execute(&format!("select pg_advisory_unlock({LOCK_KEY})")).await;
    let report = result?;
    unlocked.map_err(db)?;
    Ok(report)
}

/// The migrations the database at `url` has not applied yet, in order — read-only (nothing is
/// created or locked), for `atoms migrate --pending` and `scripts/deploy`. An applied file whose
/// checksum changed is an error, as in [`migrate`].
pub async fn pending(url: &Secret) -> Result<Vec<&'static str>, MigrateError> {
    let config: tokio_postgres::Config =
        url.expose().parse().map_err(|_| MigrateError::Connect("not a valid Postgres URL".to_owned()))?;
    let pool = super::pool::Pool::new(config, 1, std::time::Duration::from_secs(10));
    let connection = pool.get().await.map_err(|e| MigrateError::Connect(e.to_string()))?;
    let client = connection.client();
    let db = |e: tokio_postgres::Error| MigrateError::Database(describe(&e));
    let rows = client.simple_query("select version, checksum from atoms_private.schema_migrations").await;
    let applied: Vec<(String, String)> = match rows {
        Ok(rows) => rows
            .iter()
            .filter_map(|message| match message {
                SimpleQueryMessage::Row(row) => Some((row.get(0)?.to_owned(), row.get(1)?.to_owned())),
                _ => None,
            })
            .collect(),
        // No bookkeeping table yet (42P01 undefined_table, 3F000 undefined schema): nothing applied.
        Err(error)
            if error.code().is_some_and(|c| {
                *c == tokio_postgres::error::SqlState::UNDEFINED_TABLE
                    || *c == tokio_postgres::error::SqlState::INVALID_SCHEMA_NAME
            }) =>
        {
            Vec::new()
        }
        Err(error) => return Err(db(error)),
    };
    let mut pending = Vec::new();
    for migration in MIGRATIONS {
        match applied.iter().find(|(version, _)| version == migration.version()) {
            Some((_, checksum)) if *checksum == migration.checksum() => {}
            Some(_) => return Err(MigrateError::Changed(migration.file)),
            None => pending.push(migration.file),
        }
    }
    Ok(pending)
}

async fn apply_pending(client: &tokio_postgres::Client) -> Result<MigrationReport, MigrateError> {
    let db = |e: tokio_postgres::Error| MigrateError::Database(describe(&e));
    client
        .batch_execute(
            "create schema if not exists atoms_private;
             create table if not exists atoms_private.schema_migrations (
               version text primary key,
               name text not null,
               checksum text not null,
               applied_at timestamptz not null default now())",
        )
        .await
        .map_err(db)?;
    let applied: Vec<(String, String)> = client
        .simple_query("select version, checksum from atoms_private.schema_migrations")
        .await
        .map_err(db)?
        .iter()
        .filter_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some((row.get(0)?.to_owned(), row.get(1)?.to_owned())),
            _ => None,
        })
        .collect();

    let mut report = MigrationReport::default();
    for migration in MIGRATIONS {
        match applied.iter().find(|(version, _)| version == migration.version()) {
            Some((_, checksum)) if *checksum == migration.checksum() => report.up_to_date += 1,
            Some(_) => return Err(MigrateError::Changed(migration.file)),
            None => {
                let sql = format!(
                    "begin;\n{}\n;\ninsert into atoms_private.schema_migrations (version, name, checksum) \
                     values ({}, {}, {});\ncommit;",
                    migration.sql,
                    dollar_quote(migration.version()),
                    dollar_quote(migration.file),
                    dollar_quote(&migration.checksum()),
                );
                if let Err(error) = client.batch_execute(&sql).await {
                    let _ = client.batch_execute("rollback").await;
                    return Err(MigrateError::Failed { file: migration.file, message: describe(&error) });
                }
                report.applied.push(migration.file);
            }
        }
    }
    Ok(report)
}

fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let position = db.where_().map(|w| format!(" (at {w})")).unwrap_or_default();
            format!("{} [{}]{position}", db.message(), db.code().code())
        }
        None => error.to_string(),
    }
}
