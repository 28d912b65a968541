//! The real `atoms serve` binary on a real database, as its own process: what an MCP client
//! outside the test process talks to. Its `ATOMS_DATA_DIR` is a throwaway directory, so
//! [`AtomsServer::token`] can mint `atoms dev-token` tokens it accepts.

use std::future::Future;

use super::{Process, TempDir};

/// `atoms serve` on loopback with `DATABASE_URL` set, and its data directory.
pub struct AtomsServer {
    server: Process,
    data_dir: TempDir,
}

impl AtomsServer {
    /// On a fresh, migrated database of the test cluster.
    pub fn on_fresh_database() -> Self {
        let url = block_on(super::postgres::fresh_database());
        Self::on(url.expose())
    }

    /// On the database at `database_url`.
    pub fn on(database_url: &str) -> Self {
        Self::with_env(database_url, &[("LOG_LEVEL", "warn")])
    }

    /// On the database at `database_url`, with more environment variables.
    pub fn with_env(database_url: &str, env: &[(&str, &str)]) -> Self {
        let data_dir = TempDir::new("atoms-data");
        let data = data_dir.0.to_str().expect("a UTF-8 temp path");
        let mut all = vec![("DATABASE_URL", database_url), ("ATOMS_DATA_DIR", data)];
        all.extend_from_slice(env);
        Self { server: super::atoms_serve(&[], &all), data_dir }
    }

    /// The server's base URL.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port)
    }

    /// Stops the server gracefully (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// The MCP endpoint's URL.
    pub fn mcp_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/mcp", self.server.port)
    }

    /// A bearer token for the local user `sub` (`atoms dev-token --sub <sub>`), valid for an hour.
    pub fn token(&self, sub: &str) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let email = format!("{sub}@example.com");
        atoms::auth::dev_token::issue(&self.data_dir.0, sub, Some(&email), None, 3600, now)
            .expect("dev token")
    }

    /// What the server logged so far (stops it).
    pub fn logs(&mut self) -> String {
        self.server.logs()
    }
}

/// Runs `future` to completion on a runtime of its own (for async set-up in synchronous tests).
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(future)
}
