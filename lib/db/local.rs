//! A throwaway local Postgres cluster for `atoms serve` (and the test harness): created under a
//! data directory Atoms owns, from the PostgreSQL binaries in `ATOMS_POSTGRES_BIN_DIR` (when
//! configured), else under `/usr/lib/postgresql/<version>/bin` or on PATH, listening on loopback
//! only, trust auth.
//!
//! Postgres refuses to run as root; when we are root, the server runs as the `postgres` system
//! user (the data directory is handed to it). A cluster already running in the directory is
//! reused, so `atoms serve` restarts in milliseconds.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::secret::Secret;

/// A running local cluster.
#[derive(Debug, Clone)]
pub struct LocalPostgres {
    pub data_dir: PathBuf,
    pub port: u16,
    pub bin_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LocalDbError {
    /// `searched` says where: the default search, or `ATOMS_POSTGRES_BIN_DIR`.
    #[error(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) {searched}; install them with \
         `apt-get install -y postgresql` (scripts/serve does that before building), or set DATABASE_URL"
    )]
    NoBinaries { searched: String },
    #[error("running as root, but there is no `postgres` system user to run the server as")]
    NoPostgresUser,
    #[error("{step} failed: {detail}")]
    Step { step: &'static str, detail: String },
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`: `configured` alone when given
/// (`ATOMS_POSTGRES_BIN_DIR`), else [`find_bin_dir`].
pub fn bin_dir(configured: Option<&Path>) -> Result<PathBuf, LocalDbError> {
    match configured {
        Some(dir) if has_all(dir) => Ok(dir.to_path_buf()),
        Some(dir) => Err(LocalDbError::NoBinaries {
            searched: format!(
                "in ATOMS_POSTGRES_BIN_DIR={} (unset it to search /usr/lib/postgresql/*/bin and PATH)",
                dir.display()
            ),
        }),
        None => find_bin_dir().ok_or_else(|| LocalDbError::NoBinaries {
            searched: "under /usr/lib/postgresql/*/bin or on PATH".into(),
        }),
    }
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`, found on this machine.
pub fn find_bin_dir() -> Option<PathBuf> {
    let mut versioned: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|dir| has_all(dir))
        .collect();
    versioned.sort_by_key(|dir| {
        dir.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok())
    });
    let on_path =
        std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).find(|dir| has_all(dir)));
    // Prefer the packaged layout (newest version): PATH may hold thin wrappers.
    versioned.pop().or(on_path)
}

/// True when `dir` holds all three server binaries the cluster needs.
fn has_all(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"].iter().all(|b| dir.join(b).is_file())
}

/// True when this process runs as root (Postgres refuses to, so the server runs as `postgres`).
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .is_some_and(|uid| uid == "0")
}

/// `(uid, gid)` to run the server as: ours, or `postgres`'s when we are root.
fn server_user() -> Result<Option<(u32, u32)>, LocalDbError> {
    if !running_as_root() {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&"postgres"))
                .then(|| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
        })
        .flatten()
        .map(Some)
        .ok_or(LocalDbError::NoPostgresUser)
}

fn command(bin_dir: &Path, program: &str, user: Option<(u32, u32)>) -> Command {
    let mut command = Command::new(bin_dir.join(program));
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
    command.stdin(Stdio::null()).env("LC_ALL", "C.UTF-8");
    command
}

fn run(step: &'static str, command: &mut Command) -> Result<(), LocalDbError> {
    let output = command.output().map_err(|e| LocalDbError::Step { step, detail: e.to_string() })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(LocalDbError::Step { step, detail: stderr.lines().last().unwrap_or("no output").to_owned() })
}

fn chown_recursive(path: &Path, uid: u32, gid: u32) -> Result<(), LocalDbError> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .map_err(|e| LocalDbError::Step { step: "chown data directory", detail: e.to_string() })?;
    if path.is_dir() {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            chown_recursive(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

impl LocalPostgres {
    /// Starts (or reuses) the cluster in `data_dir`, creating it on first use, from the binaries
    /// [`find_bin_dir`] finds.
    pub fn start(data_dir: &Path) -> Result<Self, LocalDbError> {
        Self::start_with(data_dir, None)
    }

    /// [`LocalPostgres::start`] on the binaries in `bin_dir` when given (`ATOMS_POSTGRES_BIN_DIR`).
    pub fn start_with(data_dir: &Path, bin_dir: Option<&Path>) -> Result<Self, LocalDbError> {
        let bin_dir = self::bin_dir(bin_dir)?;
        let user = server_user()?;
        let step =
            |step: &'static str| move |e: std::io::Error| LocalDbError::Step { step, detail: e.to_string() };
        std::fs::create_dir_all(data_dir).map_err(step("create data directory"))?;
        let data_dir = data_dir.canonicalize().map_err(step("resolve data directory"))?;
        let cluster = data_dir.join("pg");
        let port_file = data_dir.join("port");
        let port = match std::fs::read_to_string(&port_file).ok().and_then(|p| p.trim().parse().ok()) {
            Some(port) => port,
            None => {
                let port = TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .map_err(step("pick a free port"))?
                    .port();
                std::fs::write(&port_file, port.to_string()).map_err(step("record the port"))?;
                port
            }
        };
        if let Some((uid, gid)) = user {
            chown_recursive(&data_dir, uid, gid)?;
        }
        let this = Self { data_dir, port, bin_dir };
        if !cluster.join("PG_VERSION").is_file() {
            run(
                "initdb",
                command(&this.bin_dir, "initdb", user)
                    .args(["--username=postgres", "--auth=trust", "--encoding=UTF8", "--no-sync", "-D"])
                    .arg(&cluster),
            )?;
        }
        let running = command(&this.bin_dir, "pg_ctl", user)
            .arg("status")
            .arg("-D")
            .arg(&cluster)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !running {
            run("pg_ctl start", command(&this.bin_dir, "pg_ctl", user).args(this.server_args(&cluster)))?;
        }
        Ok(this)
    }

    fn server_args(&self, cluster: &Path) -> Vec<String> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{}' -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            self.port,
            self.data_dir.display()
        );
        vec![
            "start".into(),
            "-w".into(),
            "-t".into(),
            "30".into(),
            "-D".into(),
            cluster.display().to_string(),
            "-l".into(),
            self.data_dir.join("postgres.log").display().to_string(),
            "-o".into(),
            options,
        ]
    }

    /// The URL of `database` in this cluster (trust auth on loopback: no password).
    pub fn url(&self, database: &str) -> Secret {
        Secret::new(format!("postgres://postgres@127.0.0.1:{}/{database}", self.port))
    }

    /// Stops the server (fast shutdown).
    pub fn stop(&self) -> Result<(), LocalDbError> {
        let user = server_user()?;
        run(
            "pg_ctl stop",
            command(&self.bin_dir, "pg_ctl", user)
                .args(["stop", "-m", "fast", "-D"])
                .arg(self.data_dir.join("pg")),
        )
    }
}
