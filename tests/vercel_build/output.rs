//! Reading a `vercel build` result — its functions, its routes (through `inspect.mjs`), its
//! files — and starting the function executables it built.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::build::{Build, build, root};
use crate::support;

/// A built function executable, started as Vercel's runtime starts it locally: `VERCEL_DEV_PORT`
/// set, no IPC socket. Killed on drop.
pub(crate) struct Function {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Function {
    pub(crate) fn start(build: &Build, name: &str) -> Self {
        Self::start_with(build, name, support::free_port(), &[])
    }

    /// [`Function::start`] on `port` with extra environment variables.
    pub(crate) fn start_with(build: &Build, name: &str, port: u16, env: &[(&str, &str)]) -> Self {
        let executable = executable(build, name);
        let log = build.work.join(format!("{name}.log"));
        let log_file = std::fs::File::create(&log).expect("create the function log");
        let mut child = Command::new(&executable)
            .env_clear()
            .env("VERCEL_DEV_PORT", port.to_string())
            .env("ATOMS_ENV", "local")
            .env("LOG_FORMAT", "text")
            .envs(env.iter().copied())
            .current_dir(&build.project)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log handle"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", executable.display()));
        support::wait_for_port(
            port,
            &format!("the built {name} function (log: {})", log.display()),
            &mut child,
        );
        Self { child, port, log }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn log_hint(&self) -> String {
        format!("its output is in {}", self.log.display())
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
/// `api/*.rs`, relative (`api/mcp.rs`).
pub(crate) fn api_sources(project: &Path) -> BTreeSet<String> {
    files_under(&project.join("api"))
        .into_iter()
        .filter(|file| !file.contains('/') && file.ends_with(".rs"))
        .map(|file| format!("api/{file}"))
        .collect()
}

pub(crate) fn function_name(source: &str) -> &str {
    source.trim_start_matches("api/").trim_end_matches(".rs")
}

/// The executable a built function runs, from its `.vc-config.json`; it must lie inside the
/// project, or `vercel deploy --prebuilt` leaves it out.
pub(crate) fn executable(build: &Build, name: &str) -> PathBuf {
    let config = read_json(&build.output.join(format!("functions/api/{name}.func/.vc-config.json")));
    let relative = config["filePathMap"]["executable"]
        .as_str()
        .unwrap_or_else(|| panic!("api/{name}.rs: no filePathMap.executable in {config}"));
    assert!(
        !relative.starts_with('/') && !relative.split('/').any(|part| part == ".."),
        "api/{name}.rs: the executable {relative} lies outside the project (is CARGO_TARGET_DIR set?)"
    );
    let path = build.project.join(relative);
    assert!(path.is_file(), "api/{name}.rs: {} does not exist", path.display());
    path
}

/// `tests/support/vercel/inspect.mjs` on the build's `config.json`.
pub(crate) fn routes(paths: &[&str]) -> Value {
    let config = build().output.join("config.json");
    let mut args = vec!["routes".to_owned(), path_arg(&config)];
    args.extend(paths.iter().map(|path| (*path).to_owned()));
    inspect(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

pub(crate) fn inspect(args: &[&str]) -> Value {
    let node = support::test_tools_dir().join("node_modules/.bin/node");
    let script = root().join("tests/support/vercel/inspect.mjs");
    let output = Command::new(&node)
        .arg(&script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {} {}: {e}", node.display(), script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "inspect.mjs {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("inspect.mjs {args:?}: not JSON ({e}): {stdout}"))
}

pub(crate) fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON ({e})", path.display()))
}

/// Every file under `dir`, relative, `/`-separated.
pub(crate) fn files_under(dir: &Path) -> BTreeSet<String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.insert(relative_path(base, &path));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

pub(crate) fn dirs_under(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry"))
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}

pub(crate) fn relative_path(base: &Path, path: &Path) -> String {
    path.strip_prefix(base).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

pub(crate) fn path_arg(path: &Path) -> String {
    path.display().to_string()
}
