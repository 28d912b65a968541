//! Real Postgres for tests: one throwaway cluster per test binary, started with the same
//! mechanism as `atoms serve` ([`atoms::db::local`]), or the server of `DATABASE_URL` when set.
//! Migrations are applied once to a template database; each test gets a fresh copy.
//!
//! The cluster outlives no test run: a watchdog shell stops it and removes its directory as soon
//! as the test process exits.

use std::process::{Command, Stdio};
use std::sync::OnceLock;

use atoms::db::local::LocalPostgres;
use atoms::secret::Secret;

struct Server {
    /// A URL to the server's maintenance database (`postgres`), used to create databases.
    admin: url_parts::Parts,
    template: String,
}

/// URL pieces, so database names can be swapped in.
mod url_parts {
    #[derive(Clone)]
    pub(crate) struct Parts {
        pub(crate) base: String,
        pub(crate) query: String,
    }

    impl Parts {
        pub(crate) fn parse(url: &str) -> Self {
            let (without_query, query) = url.split_once('?').map_or((url, ""), |(u, q)| (u, q));
            let base = match without_query.rfind('/') {
                Some(slash) if slash > "postgres://".len() => &without_query[..slash],
                _ => without_query,
            };
            Self { base: base.to_owned(), query: query.to_owned() }
        }

        pub(crate) fn database(&self, name: &str) -> String {
            if self.query.is_empty() {
                format!("{}/{name}", self.base)
            } else {
                format!("{}/{name}?{}", self.base, self.query)
            }
        }
    }
}

static SERVER: OnceLock<Server> = OnceLock::new();

fn start_local() -> url_parts::Parts {
    let dir = std::env::temp_dir().join(format!("atoms-test-pg-{}", uuid::Uuid::new_v4().simple()));
    let cluster = LocalPostgres::start(&dir).unwrap_or_else(|e| panic!("cannot start a test Postgres: {e}"));
    // Stop the cluster and delete it when this test process exits, however it exits.
    let stop = format!(
        "{pg_ctl} stop -m immediate -D {dir}/pg >/dev/null 2>&1",
        pg_ctl = cluster.bin_dir.join("pg_ctl").display(),
        dir = cluster.data_dir.display()
    );
    let as_postgres =
        if atoms::db::local::running_as_root() { format!("runuser -u postgres -- {stop}") } else { stop };
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {as_postgres}; rm -rf {dir}",
        pid = std::process::id(),
        dir = cluster.data_dir.display()
    );
    // Detached (the inner shell runs in the background), so nobody has to wait for it.
    let status = Command::new("sh")
        .args(["-c", &format!("({watchdog}) </dev/null >/dev/null 2>&1 &")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("start the Postgres watchdog");
    assert!(status.success(), "the Postgres watchdog did not start");
    url_parts::Parts::parse(cluster.url("postgres").expose())
}

fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        // Runs on its own thread and runtime: OnceLock initialisation is synchronous, and the
        // calling test's runtime must not be blocked from inside.
        std::thread::spawn(|| {
            let admin = match std::env::var("DATABASE_URL") {
                Ok(url) if !url.is_empty() => url_parts::Parts::parse(&url),
                _ => start_local(),
            };
            let template = format!("atoms_template_{}", uuid::Uuid::new_v4().simple());
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                let maintenance = Secret::new(admin.database("postgres"));
                atoms::db::ensure_database(&maintenance, &template).await.expect("create template database");
                let url = Secret::new(admin.database(&template));
                atoms::db::migrate::migrate(&url).await.expect("migrations apply to an empty database");
            });
            Server { admin, template }
        })
        .join()
        .expect("Postgres set-up thread")
    })
}

/// A fresh database with every migration applied; returns its URL.
pub async fn fresh_database() -> Secret {
    let server = server();
    let name = format!("atoms_test_{}", uuid::Uuid::new_v4().simple());
    let admin = server.admin.database("postgres");
    let (client, connection) =
        tokio_postgres::connect(&admin, tokio_postgres::NoTls).await.expect("connect to the test server");
    tokio::spawn(connection);
    // Copies from one template may not overlap on some versions: retry briefly when busy.
    let mut attempts = 0;
    loop {
        match client.batch_execute(&format!("create database {name} template {}", server.template)).await {
            Ok(()) => break,
            Err(error) if attempts < 50 && error.to_string().contains("being accessed by other users") => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(error) => panic!("create test database: {error}"),
        }
    }
    Secret::new(server.admin.database(&name))
}

/// A database with nothing in it (for migration tests).
pub async fn empty_database() -> Secret {
    let server = server();
    let name = format!("atoms_empty_{}", uuid::Uuid::new_v4().simple());
    atoms::db::ensure_database(&Secret::new(server.admin.database("postgres")), &name).await.expect("create");
    Secret::new(server.admin.database(&name))
}

/// `url` (a test database URL) for another login role and database, e.g. a plain owner role.
pub fn url_as(url: &Secret, user: &str, password: &str, database: &str) -> Secret {
    let parts = url_parts::Parts::parse(url.expose());
    let (scheme, rest) = parts.base.split_once("://").expect("a postgres:// URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let base = url_parts::Parts { base: format!("{scheme}://{user}:{password}@{host}"), query: parts.query };
    Secret::new(base.database(database))
}
