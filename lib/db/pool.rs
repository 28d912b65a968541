//! A small connection pool sized for serverless instances: a few connections opened on demand,
//! reused while healthy and known to be outside a transaction, closed otherwise. Checkout waits at most the statement timeout.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::DbError;

pub(crate) struct Pool {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    idle: Mutex<Vec<Client>>,
    permits: Arc<Semaphore>,
    wait: Duration,
}

/// A checked-out connection. It returns to the pool on drop only after [`Pooled::release`]
/// (its user vouches that no transaction is open); otherwise it is closed.
pub(crate) struct Pooled<'a> {
    client: Option<Client>,
    /// Set by `release`: the transaction is known closed.
    clean: bool,
    pool: &'a Pool,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    pub(crate) fn new(config: tokio_postgres::Config, size: usize, wait: Duration) -> Self {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let tls_config =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map(|builder| builder.with_root_certificates(roots).with_no_client_auth());
        let tls = match tls_config {
            Ok(config) => MakeRustlsConnect::new(config),
            // Only fails if ring lacks every safe protocol version, which it does not.
            Err(_) => MakeRustlsConnect::new(
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            ),
        };
        Self { config, tls, idle: Mutex::new(Vec::new()), permits: Arc::new(Semaphore::new(size)), wait }
    }

    pub(crate) async fn get(&self) -> Result<Pooled<'_>, DbError> {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| DbError::Unavailable("all database connections are busy".to_owned()))?
            .map_err(|_| DbError::Unavailable("the pool is closed".to_owned()))?;
        let reused = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            std::iter::from_fn(|| idle.pop()).find(|client| !client.is_closed())
        };
        let client = match reused {
            Some(client) => client,
            // Boxed: connecting (TLS included) is a large future, rarely awaited; inline it
            // would size every checkout's future.
            None => Box::pin(self.connect()).await?,
        };
        Ok(Pooled { client: Some(client), clean: false, pool: self, _permit: permit })
    }

    async fn connect(&self) -> Result<Client, DbError> {
        let connecting = self.config.connect(self.tls.clone());
        let (client, connection) = tokio::time::timeout(self.wait, connecting)
            .await
            .map_err(|_| DbError::Unavailable("connecting to the database timed out".to_owned()))?
            .map_err(|e| DbError::Unavailable(connect_reason(&e)))?;
        tokio::spawn(async move {
            // Ends when the client is dropped or the server goes away; the client then reports
            // `is_closed` and is discarded at the next checkout.
            let _ = connection.await;
        });
        Ok(client)
    }
}

/// A connection failure described without the connection string.
fn connect_reason(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => "connection failed".to_owned(),
    }
}

impl Pooled<'_> {
    pub(crate) fn client(&self) -> &Client {
        self.client.as_ref().unwrap_or_else(|| unreachable!("present until drop"))
    }

    /// Marks the connection reusable: no transaction is open on it.
    pub(crate) fn release(&mut self) {
        self.clean = true;
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && self.clean
            && !client.is_closed()
        {
            self.pool.idle.lock().unwrap_or_else(|p| p.into_inner()).push(client);
        }
    }
}
