//! Raw SQL sessions that act exactly like the adapters do (`set local role <role>`, the caller's
//! claims in `request.jwt.claims`), for the attacks no adapter would send (direct table writes,
//! private helpers, planted objects) and for races that need two open transactions.
//!
//! Errors come back as their SQLSTATE (`"42501"`, `"PT404"`), so tests assert the exact refusal.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// One connection; each `begin` opens a transaction as a role and subject.
pub struct Session {
    client: tokio_postgres::Client,
    /// Inside `begin`: statements run in savepoints so a refusal keeps the transaction usable.
    in_transaction: std::sync::atomic::AtomicBool,
}

fn sqlstate(error: &tokio_postgres::Error) -> String {
    error.as_db_error().map(|d| d.code().code().to_owned()).unwrap_or_else(|| error.to_string())
}

impl Session {
    pub async fn connect(url: &str) -> Self {
        let (client, connection) =
            tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect to the test database");
        tokio::spawn(connection);
        Self { client, in_transaction: std::sync::atomic::AtomicBool::new(false) }
    }

    /// Begins a transaction as `role`, with `sub` (empty: none) as the caller's subject.
    pub async fn begin(&self, role: &str, sub: &str) {
        self.client.batch_execute(&format!("begin; set local role {role}")).await.expect("begin as role");
        self.in_transaction.store(true, std::sync::atomic::Ordering::Relaxed);
        let claims = if sub.is_empty() { json!({"role": role}) } else { json!({"sub": sub, "role": role}) };
        self.client
            .execute("select set_config('request.jwt.claims', $1, true)", &[&claims.to_string()])
            .await
            .expect("set claims");
    }

    /// Runs administrative SQL (no role change); panics on error.
    pub async fn batch(&self, sql: &str) {
        self.client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub async fn commit(&self) {
        self.client.batch_execute("commit").await.expect("commit");
        self.in_transaction.store(false, std::sync::atomic::Ordering::Relaxed);
    }

    pub async fn rollback(&self) {
        self.client.batch_execute("rollback").await.expect("rollback");
        self.in_transaction.store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Runs a statement inside a savepoint (so a refusal does not end the transaction); returns
    /// the number of rows it touched, or its SQLSTATE.
    pub async fn execute(&self, sql: &str) -> Result<u64, String> {
        self.attempt(self.client.execute(sql, &[])).await
    }

    /// Runs `statement` inside a savepoint when in a transaction.
    async fn attempt<T>(
        &self,
        statement: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, String> {
        let guarded = self.in_transaction.load(std::sync::atomic::Ordering::Relaxed);
        if guarded {
            self.client.batch_execute("savepoint attempt").await.expect("savepoint");
        }
        let result = statement.await.map_err(|error| sqlstate(&error));
        if guarded {
            let end =
                if result.is_ok() { "release savepoint attempt" } else { "rollback to savepoint attempt" };
            self.client.batch_execute(end).await.expect("end savepoint");
        }
        result
    }

    /// The first column of the first row as text (null: empty string), or the SQLSTATE.
    pub async fn text(&self, sql: &str) -> Result<String, String> {
        let sql = format!("select ({sql})::pg_catalog.text");
        let row = self.attempt(self.client.query_one(&sql, &[])).await?;
        Ok(row.get::<_, Option<String>>(0).unwrap_or_default())
    }

    /// Calls `public.<function>(args)` as the adapters do.
    pub async fn call(&self, function: &str, args: &Value) -> Result<Value, String> {
        // Catalog types by full name: a test may have planted look-alikes in pg_temp.
        let sql = format!("select public.{function}($1::pg_catalog.text::pg_catalog.jsonb)::pg_catalog.text");
        match self.client.query_one(&sql, &[&args.to_string()]).await {
            Ok(row) => Ok(serde_json::from_str(&row.get::<_, String>(0)).expect("function returns JSON")),
            Err(error) => Err(sqlstate(&error)),
        }
    }
}

/// One statement in its own transaction as `role`/`sub`: rows touched or SQLSTATE.
pub async fn execute_as(url: &str, role: &str, sub: &str, sql: &str) -> Result<u64, String> {
    let session = Session::connect(url).await;
    session.begin(role, sub).await;
    let result = session.execute(sql).await;
    session.commit().await;
    result
}

/// One expression's value as text in its own transaction as `role`/`sub`.
pub async fn text_as(url: &str, role: &str, sub: &str, sql: &str) -> Result<String, String> {
    let session = Session::connect(url).await;
    session.begin(role, sub).await;
    let result = session.text(sql).await;
    session.commit().await;
    result
}

/// Waits until another backend of this database is blocked on a lock: the point where a race
/// test lets the first transaction finish. (A condition polled on the server, not a sleep.)
pub async fn wait_until_a_session_waits_for_a_lock(admin_url: &str) {
    let admin = Session::connect(admin_url).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let waiting = admin
            .text(
                "select count(*) from pg_locks l join pg_stat_activity a on a.pid = l.pid \
                   where not l.granted and a.datname = current_database()",
            )
            .await
            .expect("pg_locks");
        if waiting != "0" {
            return;
        }
        assert!(Instant::now() < deadline, "no session started waiting for a lock within 20 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
