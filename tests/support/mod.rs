//! Test harness: real Redis and a real third-party Upstash REST server, started on free loopback
//! ports in throwaway directories, plus an in-process Atoms server.
//!
//! Nothing is skipped silently: a missing binary fails the test with how to install it
//! (`scripts/test` installs everything).

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part of the harness

pub mod atoms_server;
pub mod authkit;
pub mod deployment_double;
pub mod lambda_runtime;
pub mod mcp;
pub mod metrics;
pub mod otlp;
pub mod postgres;
pub mod postgrest;
pub mod sdk;
pub mod signin;
pub mod sql;
pub mod workos_api;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use atoms::config::Config;
use atoms::serve::{LocalServer, ServeOptions};

/// A free TCP port on loopback (the OS picks it; we release it immediately).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// Waits until something accepts connections on `port`; panics after 20 s with `what`.
pub fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before accepting connections: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not accept connections on port {port} within 20 s");
}

fn find_binary(name: &str, hint: &str) -> PathBuf {
    let from_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
    });
    from_path.unwrap_or_else(|| panic!("`{name}` not found on PATH: {hint} (scripts/test installs it)"))
}

/// Where `scripts/test` installs the npm test tools.
pub fn test_tools_dir() -> PathBuf {
    std::env::var_os("ATOMS_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-tools"))
}

/// A process killed when the handle drops.
pub struct Process {
    pub child: Child,
    pub port: u16,
    _dir: TempDir,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// Kills the process now (e.g. to simulate an outage) and waits for it to exit.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the process to stop (SIGTERM, what platforms send) and waits until it has exited:
    /// whatever it does on a graceful shutdown is done when this returns.
    pub fn stop(&mut self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -TERM {}", self.child.id());
        let exited = self.child.wait().expect("wait for the process");
        assert!(exited.success(), "graceful shutdown exits 0: {exited}");
    }

    /// Stops the process and returns what it wrote to stderr (for processes that log to a file).
    pub fn logs(&mut self) -> String {
        self.kill();
        std::fs::read_to_string(self._dir.0.join(LOG_FILE)).unwrap_or_default()
    }
}

/// A throwaway `redis-server` on a free port.
pub fn start_redis() -> Process {
    start_redis_on(free_port())
}

/// A throwaway `redis-server` on `port` (e.g. to bring a killed one back).
pub fn start_redis_on(port: u16) -> Process {
    let binary = find_binary("redis-server", "install it with `apt-get install -y redis-server`");
    let dir = TempDir::new("redis");
    let mut child = Command::new(binary)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(&dir.0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    wait_for_port(port, "redis-server", &mut child);
    Process { child, port, _dir: dir }
}

/// A throwaway `redis-server` speaking only TLS, with a certificate for `127.0.0.1` signed by a
/// throwaway CA (made here with the `openssl` CLI); returns the server and the CA's PEM.
pub fn start_redis_tls() -> (Process, Vec<u8>) {
    let binary = find_binary("redis-server", "install it with `apt-get install -y redis-server`");
    let openssl = find_binary("openssl", "install it with `apt-get install -y openssl`");
    let dir = TempDir::new("redis-tls");
    let run = |args: &[&str]| {
        let output = Command::new(&openssl).args(args).current_dir(&dir.0).output().expect("run openssl");
        assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    };
    let ca_subject = ["-subj", "/CN=atoms test CA", "-keyout", "ca.key", "-out", "ca.crt"];
    run(&[&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"][..], &ca_subject].concat());
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.0.join("san.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").expect("san");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "san.cnf",
        "-out",
        "server.crt",
    ]);
    let port = free_port();
    let mut child = Command::new(binary)
        .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
        .args(["--appendonly", "no", "--tls-auth-clients", "no"])
        .args([
            "--tls-cert-file",
            "server.crt",
            "--tls-key-file",
            "server.key",
            "--tls-ca-cert-file",
            "ca.crt",
        ])
        .current_dir(&dir.0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server with TLS");
    wait_for_port(port, "redis-server (TLS)", &mut child);
    let ca = std::fs::read(dir.0.join("ca.crt")).expect("CA certificate");
    (Process { child, port, _dir: dir }, ca)
}

pub fn redis_url(redis: &Process) -> String {
    format!("redis://127.0.0.1:{}", redis.port)
}

const LOG_FILE: &str = "stderr.log";

/// `atoms serve --no-database` plus `extra` arguments, as its own process on a free loopback
/// port with only `env` in its environment; its log lines go to a file ([`Process::logs`]).
pub fn atoms_serve(extra: &[&str], env: &[(&str, &str)]) -> Process {
    atoms_serve_on(free_port(), extra, env)
}

/// [`atoms_serve`] on a given port (for configurations that name their own URL).
pub fn atoms_serve_on(port: u16, extra: &[&str], env: &[(&str, &str)]) -> Process {
    let dir = TempDir::new("serve");
    let mut child = Command::new(env!("CARGO_BIN_EXE_atoms"))
        .args(["serve", "--no-database", "--port", &port.to_string()])
        .args(extra)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(&dir.0)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.0.join(LOG_FILE)).expect("log file"))
        .spawn()
        .expect("start atoms serve");
    wait_for_port(port, "atoms serve", &mut child);
    Process { child, port, _dir: dir }
}

pub const UPSTASH_TOKEN: &str = "test-upstash-token";

/// `@humanwhocodes/upstash-redis-server` (a third-party implementation of Upstash's REST
/// protocol) in front of `redis_url`.
pub fn start_upstash(redis_url: &str) -> Process {
    let tools = test_tools_dir();
    let node = tools.join("node_modules/.bin/node");
    let server = tools.join("node_modules/@humanwhocodes/upstash-redis-server/dist/server.js");
    assert!(
        node.is_file() && server.is_file(),
        "Upstash test server not installed under {}: run scripts/test (it runs `npm ci` in that \
         directory from tests/support/npm)",
        tools.display()
    );
    let dir = TempDir::new("upstash");
    let port = free_port();
    let mut child = Command::new(node)
        .arg(server)
        .env("URS_TOKEN", UPSTASH_TOKEN)
        .env("PORT", port.to_string())
        .env("REDIS_URL", redis_url)
        .current_dir(&dir.0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the Upstash REST server");
    wait_for_port(port, "upstash-redis-server", &mut child);
    Process { child, port, _dir: dir }
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!("atoms-test-{label}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Configuration from `vars` only (the test process's own environment is ignored).
pub fn config(vars: &[(&str, &str)]) -> Config {
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Config::from_lookup(&move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        .unwrap_or_else(|problems| panic!("test configuration is invalid: {problems:?}"))
}

/// Starts `atoms serve`'s server in this process on a free loopback port; returns its base URL.
pub async fn spawn_app(config: Config) -> String {
    spawn_app_on(config, 0).await
}

/// [`spawn_app`] on `port` (0: any), for configurations that name their own URL.
pub async fn spawn_app_on(config: Config, port: u16) -> String {
    let options =
        ServeOptions { host: [127, 0, 0, 1].into(), port, embedded_database: false, conformance: false };
    let server = LocalServer::bind(config, &options).await.expect("bind local server");
    let base = format!("http://{}", server.address);
    tokio::spawn(server.run());
    base
}
