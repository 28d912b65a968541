//! What a Vercel deployment of this checkout publishes, proven with Vercel's own build: `vercel
//! build` (the CLI pinned in `tests/support/vercel/`, offline) runs on a copy of the checkout
//! holding the local state a working copy accumulates (`.atoms/` with a Postgres cluster, env
//! files, `node_modules/`, logs), and then:
//!
//! - the static output holds exactly the files of `public/`, byte for byte;
//! - every `api/*.rs` is a function with the memory and duration `vercel.json` gives it, the
//!   executable inside the project (so `vercel deploy --prebuilt` uploads it) and streaming on;
//! - `config.json` sends the public paths of every rewrite in `vercel.json` (`/health`,
//!   `/health/live`, `/health/ready`: `REWRITES` below) to their function, and gives the static
//!   pages (only them) their own security headers;
//! - neither `vercel deploy` nor `vercel deploy --prebuilt` would upload any local state, and the
//!   source upload holds every file of the checkout (as the CLI's own upload code computes them);
//! - the built binaries serve: the MCP function answers a 2026-07-28 `server/discover`, the
//!   health function its probes, each started as Vercel's runtime starts it (`VERCEL_DEV_PORT`).
//!
//! The build runs once per test binary, shared by the tests below. The copy lives in
//! `target/vercel-build/checkout` and keeps its `target/` between runs, so only the first build
//! is cold. Tools come from `scripts/test`: the CLI in `target/test-tools/vercel`,
//! `cargo-zigbuild` in `target/test-tools/cargo-zigbuild` and `ziglang` in the venv
//! `target/test-tools/zig`, which the CLI's Rust builder calls for local builds.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::Instant;

use serde_json::{Value, json};

/// Local state planted in the copy: none of it may reach a deployment or an upload.
const PLANTED: [&str; 8] = [
    ".atoms/postgres/pg/PG_VERSION",
    ".atoms/postgres/pg/base/5/16384",
    ".env",
    ".env.local",
    ".env.production.local",
    "node_modules/planted/index.js",
    "atoms-serve.log",
    "target/debug/planted",
];

/// Each rewrite of `vercel.json` (by its `source`) with public paths and where the built
/// `config.json` must send them (`None`: nowhere, the path is not rewritten).
type Samples = &'static [(&'static str, Option<&'static str>)];
const REWRITES: [(&str, Samples); 2] = [
    ("/health", &[("/health", Some("/api/health"))]),
    (
        "/health/:probe(live|ready)",
        &[
            ("/health/live", Some("/api/health?probe=live")),
            ("/health/ready", Some("/api/health?probe=ready")),
            ("/health/other", None),
        ],
    ),
];

/// The security headers of the Rust boundary (`lib/http/security_headers.rs`), which the static
/// pages get from `vercel.json` with a CSP that admits their same-origin script and stylesheet.
const STATIC_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                          base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The result of one `vercel build`, shared by every test in this file.
struct Build {
    /// `target/vercel-build`: the copy, the build's log, the functions' logs, zig's caches.
    work: PathBuf,
    /// The copy of the checkout the build ran in.
    project: PathBuf,
    /// `.vercel/output` inside it.
    output: PathBuf,
    /// The checkout's files (tracked, or untracked and not ignored), relative, as copied.
    checkout_files: BTreeSet<String>,
}

static BUILD: LazyLock<Result<Build, String>> = LazyLock::new(run_vercel_build);

/// The shared build; every test fails with the build's own error when it failed.
fn build() -> &'static Build {
    BUILD.as_ref().unwrap_or_else(|error| panic!("{error}"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn static_output_holds_exactly_the_public_files() {
    let build = build();
    let static_dir = build.output.join("static");
    let published = files_under(&static_dir);
    let public = files_under(&build.project.join("public"));
    assert!(public.contains("index.html"), "public/ has no index.html: {public:?}");
    assert_eq!(published, public, "static output ≠ public/ (the static output must come from public/ alone)");
    for file in &public {
        let source = std::fs::read(build.project.join("public").join(file)).expect("read public file");
        let output = std::fs::read(static_dir.join(file)).expect("read static file");
        assert!(source == output, "{file} differs between public/ and the static output");
    }
}

#[test]
fn every_function_is_built_with_its_vercel_json_settings() {
    let build = build();
    let vercel_json = read_json(&build.project.join("vercel.json"));
    let functions = vercel_json["functions"].as_object().expect("vercel.json has `functions`");
    let sources = api_sources(&build.project);
    let configured: BTreeSet<String> = functions.keys().cloned().collect();
    assert_eq!(
        sources, configured,
        "every api/*.rs needs an entry in vercel.json `functions` (memory, maxDuration), and no entry may \
         name a missing file"
    );
    let built = dirs_under(&build.output.join("functions/api"));
    let expected: BTreeSet<String> =
        sources.iter().map(|source| format!("{}.func", function_name(source))).collect();
    assert_eq!(built, expected, "the functions `vercel build` produced");

    for source in &sources {
        let name = function_name(source);
        let config = read_json(&build.output.join(format!("functions/api/{name}.func/.vc-config.json")));
        let settings = &functions[source];
        assert!(
            settings["memory"].is_u64() && settings["maxDuration"].is_u64(),
            "vercel.json: {source} needs `memory` and `maxDuration`: {settings}"
        );
        assert_eq!(config["memory"], settings["memory"], "{source}: memory of the built function");
        assert_eq!(
            config["maxDuration"], settings["maxDuration"],
            "{source}: maxDuration of the built function"
        );
        assert_eq!(config["runtime"], "executable", "{source}: {config}");
        assert_eq!(config["handler"], "executable", "{source}: {config}");
        let executable = executable(build, name);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&executable).expect("the executable exists").permissions(),
        );
        assert!(mode & 0o111 != 0, "{} is not executable", executable.display());
    }
    let mcp = read_json(&build.output.join("functions/api/mcp.func/.vc-config.json"));
    assert_eq!(
        mcp["supportsResponseStreaming"], true,
        "the MCP function must stream (text/event-stream): {mcp}"
    );
}

#[test]
fn every_rewrite_sends_its_public_paths_to_its_function() {
    let vercel_json = read_json(&build().project.join("vercel.json"));
    let sources: BTreeSet<&str> = vercel_json["rewrites"]
        .as_array()
        .expect("vercel.json has `rewrites`")
        .iter()
        .map(|rewrite| rewrite["source"].as_str().expect("a rewrite source"))
        .collect();
    let specified: BTreeSet<&str> = REWRITES.iter().map(|(source, _)| *source).collect();
    assert_eq!(
        sources, specified,
        "each rewrite in vercel.json needs its sample paths in REWRITES (tests/vercel_build.rs)"
    );
    let samples: Vec<(&str, Option<&str>)> =
        REWRITES.iter().flat_map(|(_, samples)| samples.iter().copied()).collect();
    let paths: Vec<&str> = samples.iter().map(|(path, _)| *path).collect();
    let routes = routes(&paths);
    for (path, expected) in samples {
        assert_eq!(routes[path]["rewrite"].as_str(), expected, "where config.json sends {path}: {routes}");
    }
}

#[test]
fn static_pages_get_security_headers_and_functions_keep_their_own() {
    let build = build();
    let mut pages = vec!["/".to_owned()];
    pages.extend(files_under(&build.output.join("static")).iter().map(|file| format!("/{file}")));
    let functions = ["/api/mcp", "/api/health", "/health", "/health/live"];
    let paths: Vec<&str> = pages.iter().map(String::as_str).chain(functions).collect();
    let routes = routes(&paths);
    for page in &pages {
        let headers = &routes[page.as_str()]["headers"];
        assert_eq!(headers["Content-Security-Policy"], STATIC_CSP, "{page}: {headers}");
        assert_eq!(headers["X-Content-Type-Options"], "nosniff", "{page}: {headers}");
        assert_eq!(headers["X-Frame-Options"], "DENY", "{page}: {headers}");
        assert_eq!(headers["Referrer-Policy"], "no-referrer", "{page}: {headers}");
        assert!(headers["Strict-Transport-Security"].is_string(), "{page}: {headers}");
        assert!(headers["Permissions-Policy"].is_string(), "{page}: {headers}");
    }
    for path in functions {
        let headers = &routes[path]["headers"];
        assert_eq!(
            headers,
            &json!({}),
            "{path} is a function: its headers come from the Rust boundary alone"
        );
    }
}

#[test]
fn uploads_carry_no_local_state_and_everything_the_build_needs() {
    let build = build();
    let uploads = inspect(&["uploads", &path_arg(&vercel_package()), &path_arg(&build.project)]);
    let listed = |kind: &str| -> BTreeSet<String> {
        uploads[kind]
            .as_array()
            .expect("a file list")
            .iter()
            .map(|f| f.as_str().expect("path").to_owned())
            .collect()
    };
    let source = listed("source");
    let prebuilt = listed("prebuilt");
    for (kind, files) in [("vercel deploy", &source), ("vercel deploy --prebuilt", &prebuilt)] {
        let leaked: Vec<&String> = files
            .iter()
            .filter(|file| PLANTED.iter().any(|planted| planted == file) || file.starts_with(".atoms/"))
            .collect();
        assert!(leaked.is_empty(), "`{kind}` would upload local state: {leaked:?} (see .vercelignore)");
    }

    // The source upload is the checkout: nothing the Rust build needs is left behind, nothing
    // built or local is added. The CLI always leaves out .gitignore; a symlinked directory
    // (supabase/migrations) is uploaded as the files it points to.
    let missing: Vec<&String> = build
        .checkout_files
        .iter()
        .filter(|file| file.as_str() != ".gitignore")
        .filter(|file| !source.contains(*file) && !source.iter().any(|f| f.starts_with(&format!("{file}/"))))
        .collect();
    assert!(
        missing.is_empty(),
        "`vercel deploy` would not upload {missing:?}: .vercelignore excludes too much"
    );
    let extra: Vec<&String> = source
        .iter()
        .filter(|file| !build.checkout_files.iter().any(|c| *file == c || file.starts_with(&format!("{c}/"))))
        .collect();
    assert!(
        extra.is_empty(),
        "`vercel deploy` would upload files that are not part of the checkout: {extra:?}"
    );

    // The prebuilt upload is the build output plus the executables it points to.
    let output_files: BTreeSet<String> =
        files_under(&build.output).into_iter().map(|file| format!(".vercel/output/{file}")).collect();
    let not_uploaded: Vec<&String> = output_files.difference(&prebuilt).collect();
    assert!(not_uploaded.is_empty(), "`vercel deploy --prebuilt` would leave out {not_uploaded:?}");
    for source_file in api_sources(&build.project) {
        let name = function_name(&source_file);
        let relative = relative_path(&build.project, &executable(build, name));
        assert!(
            prebuilt.contains(&relative),
            "`vercel deploy --prebuilt` would deploy {source_file} without its executable {relative} \
             (the CLI drops executables that .vercelignore ignores): {prebuilt:?}"
        );
    }
    let outside: Vec<&String> = prebuilt
        .iter()
        .filter(|file| !file.starts_with(".vercel/") && !file.starts_with("target/"))
        .collect();
    assert!(outside.is_empty(), "`vercel deploy --prebuilt` would upload more than the build: {outside:?}");
}

#[tokio::test]
async fn the_built_mcp_function_answers_server_discover() {
    let function = Function::start(build(), "mcp");
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let response = reqwest::Client::new()
        .post(function.url("/api/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "server/discover")
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta}})
                .to_string(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST /api/mcp to the built mcp function: {e}; {}", function.log_hint()));
    let status = response.status();
    let csp = response.headers().get("content-security-policy").cloned();
    let body = response.text().await.expect("body");
    assert_eq!(status, 200, "{body}\n{}", function.log_hint());
    let message: Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("a JSON answer ({e}): {body}"));
    let versions = message["result"]["supportedVersions"].as_array().unwrap_or_else(|| panic!("{message}"));
    assert!(versions.contains(&json!("2026-07-28")), "{message}");
    assert_eq!(
        csp.as_ref().and_then(|v| v.to_str().ok()),
        Some("default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
        "the function's own security headers"
    );
}

#[tokio::test]
async fn the_built_health_function_answers_its_probes() {
    let function = Function::start(build(), "health");
    let routes = routes(&["/health", "/health/live", "/health/ready"]);
    let client = reqwest::Client::new();
    for (public, statuses) in [
        ("/health/live", &["alive"][..]),
        ("/health/ready", &["ready", "not_ready"][..]),
        ("/health", &["healthy", "degraded", "unhealthy"][..]),
    ] {
        // The path Vercel sends the function, as config.json rewrites the public one.
        let rewritten =
            routes[public]["rewrite"].as_str().unwrap_or_else(|| panic!("{public} is not rewritten"));
        let response = client.get(function.url(rewritten)).send().await.unwrap_or_else(|e| {
            panic!("GET {rewritten} from the built health function: {e}; {}", function.log_hint())
        });
        let code = response.status();
        let report: Value =
            response.json().await.unwrap_or_else(|e| panic!("{rewritten}: a JSON report ({e})"));
        let status = report["status"].as_str().unwrap_or_else(|| panic!("{rewritten}: {report}"));
        assert!(statuses.contains(&status), "{public} → {rewritten}: {code} {report}");
        if public == "/health/live" {
            assert_eq!(code, 200, "{report}");
        }
    }
}

/// A built function executable, started as Vercel's runtime starts it locally: `VERCEL_DEV_PORT`
/// set, no IPC socket. Killed on drop.
struct Function {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Function {
    fn start(build: &Build, name: &str) -> Self {
        let executable = executable(build, name);
        let port = support::free_port();
        let log = build.work.join(format!("{name}.log"));
        let log_file = std::fs::File::create(&log).expect("create the function log");
        let mut child = Command::new(&executable)
            .env_clear()
            .env("VERCEL_DEV_PORT", port.to_string())
            .env("ATOMS_ENV", "local")
            .env("LOG_FORMAT", "text")
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

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log_hint(&self) -> String {
        format!("its output is in {}", self.log.display())
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies the checkout, plants local state, runs `vercel build` and reports how long it took.
fn run_vercel_build() -> Result<Build, String> {
    let tools = Tools::find()?;
    let checkout_files = checkout_files()?;
    let work = root().join("target/vercel-build");
    let project = work.join("checkout");
    refresh_copy(&project, &checkout_files)
        .map_err(|e| format!("copying the checkout to {}: {e}", project.display()))?;
    plant_local_state(&project).map_err(|e| format!("planting local state in {}: {e}", project.display()))?;

    let log = work.join("vercel-build.log");
    let log_file = std::fs::File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
    let started = Instant::now();
    let status = Command::new(&tools.vercel)
        .args(["build", "--yes"])
        .current_dir(&project)
        .env_clear()
        .envs(tools.env(&work))
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
        .stderr(log_file)
        .status()
        .map_err(|e| format!("run {}: {e}", tools.vercel.display()))?;
    let elapsed = started.elapsed();
    if !status.success() {
        let output = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = output.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(format!(
            "`vercel build` failed ({status}) after {elapsed:.0?} in {}:\n{}\n(whole log: {})",
            project.display(),
            tail.join("\n"),
            log.display()
        ));
    }
    eprintln!("vercel build: {:.1} s ({})", elapsed.as_secs_f64(), project.display());
    Ok(Build { output: project.join(".vercel/output"), project, work, checkout_files })
}

/// The pinned tools `scripts/test` installs; a missing one fails with how to install it.
struct Tools {
    vercel: PathBuf,
    cargo_zigbuild_bin: PathBuf,
    zig_python: PathBuf,
    node_bin: PathBuf,
}

impl Tools {
    fn find() -> Result<Self, String> {
        let tools = support::test_tools_dir();
        let found = Self {
            vercel: tools.join("vercel/node_modules/.bin/vercel"),
            cargo_zigbuild_bin: tools.join("cargo-zigbuild/bin"),
            zig_python: tools.join("zig/bin/python"),
            node_bin: tools.join("node_modules/.bin"),
        };
        let missing: Vec<String> = [
            (
                found.vercel.clone(),
                "the Vercel CLI (npm ci from tests/support/vercel into target/test-tools/vercel)",
            ),
            (
                found.cargo_zigbuild_bin.join("cargo-zigbuild"),
                "cargo-zigbuild (cargo install --root target/test-tools/cargo-zigbuild)",
            ),
            (
                found.zig_python.clone(),
                "ziglang (a venv at target/test-tools/zig from tests/support/vercel/requirements.txt)",
            ),
            (found.node_bin.join("node"), "Node 22 (npm ci from tests/support/npm into target/test-tools)"),
        ]
        .into_iter()
        .filter(|(path, _)| !path.is_file())
        .map(|(path, what)| format!("{what}: {} is missing", path.display()))
        .collect();
        if missing.is_empty() {
            Ok(found)
        } else {
            Err(format!(
                "the vercel build check needs tools scripts/test installs; run scripts/test:\n  {}",
                missing.join("\n  ")
            ))
        }
    }

    /// The environment of `vercel build`: only what the build needs, so the result does not
    /// depend on the caller's shell (no `CARGO_TARGET_DIR`, no `VERCEL_*` credentials).
    fn env(&self, work: &Path) -> Vec<(String, String)> {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".to_owned());
        let system_path = std::env::var("PATH").unwrap_or_default();
        let path = format!(
            "{}:{}:{home}/.cargo/bin:{system_path}",
            self.cargo_zigbuild_bin.display(),
            self.node_bin.display()
        );
        let mut env = vec![
            ("PATH".to_owned(), path),
            ("HOME".to_owned(), home),
            ("CARGO_ZIGBUILD_PYTHON_PATH".to_owned(), self.zig_python.display().to_string()),
            ("CARGO_ZIGBUILD_CACHE_DIR".to_owned(), work.join("cache/cargo-zigbuild").display().to_string()),
            ("ZIG_GLOBAL_CACHE_DIR".to_owned(), work.join("cache/zig").display().to_string()),
            ("VERCEL_TELEMETRY_DISABLED".to_owned(), "1".to_owned()),
            ("NO_UPDATE_NOTIFIER".to_owned(), "1".to_owned()),
        ];
        // rustup's settings pass (RUSTUP_HOME, RUSTUP_AUTO_INSTALL, …), but not the toolchain
        // the caller runs under: rust-toolchain.toml in the copy picks it, as in any checkout.
        env.extend(std::env::vars().filter(|(name, _)| {
            (name.starts_with("RUSTUP_") && name != "RUSTUP_TOOLCHAIN")
                || ["CARGO_HOME", "LANG", "TMPDIR"].contains(&name.as_str())
        }));
        env
    }
}

fn vercel_package() -> PathBuf {
    support::test_tools_dir().join("vercel/node_modules/vercel")
}

/// The checkout as `git` sees it: tracked files plus untracked ones that are not ignored.
fn checkout_files() -> Result<BTreeSet<String>, String> {
    let output = Command::new("git")
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .current_dir(root())
        .output()
        .map_err(|e| format!("the vercel build check copies the checkout with `git ls-files`: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`git ls-files` failed in {} (the vercel build check copies a git checkout): {}",
            root().display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(output
        .stdout
        .split(|byte| *byte == 0)
        .filter(|name| !name.is_empty())
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .filter(|name| std::fs::symlink_metadata(root().join(name)).is_ok()) // deleted in the work tree
        .collect())
}

/// Replaces everything in `project` but its `target/` (the build cache) with the checkout's
/// files, modification times kept so cargo sees unchanged files as unchanged.
fn refresh_copy(project: &Path, files: &BTreeSet<String>) -> std::io::Result<()> {
    std::fs::create_dir_all(project)?;
    for entry in std::fs::read_dir(project)? {
        let entry = entry?;
        if entry.file_name() == "target" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    for name in files {
        let (from, to) = (root().join(name), project.join(name));
        std::fs::create_dir_all(to.parent().expect("a file has a parent"))?;
        let metadata = std::fs::symlink_metadata(&from)?;
        if metadata.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
        } else {
            std::fs::copy(&from, &to)?;
            std::fs::File::options().write(true).open(&to)?.set_modified(metadata.modified()?)?;
        }
    }
    Ok(())
}

/// What a working copy accumulates, plus the project link `vercel build` needs offline.
fn plant_local_state(project: &Path) -> std::io::Result<()> {
    for file in PLANTED {
        let path = project.join(file);
        std::fs::create_dir_all(path.parent().expect("a file has a parent"))?;
        std::fs::write(path, "local state planted by tests/vercel_build.rs\n")?;
    }
    std::fs::create_dir_all(project.join(".vercel"))?;
    std::fs::write(
        project.join(".vercel/project.json"),
        r#"{"projectId":"prj_local","orgId":"team_local","settings":{"framework":null}}"#,
    )
}

/// `api/*.rs`, relative (`api/mcp.rs`).
fn api_sources(project: &Path) -> BTreeSet<String> {
    files_under(&project.join("api"))
        .into_iter()
        .filter(|file| !file.contains('/') && file.ends_with(".rs"))
        .map(|file| format!("api/{file}"))
        .collect()
}

fn function_name(source: &str) -> &str {
    source.trim_start_matches("api/").trim_end_matches(".rs")
}

/// The executable a built function runs, from its `.vc-config.json`; it must lie inside the
/// project, or `vercel deploy --prebuilt` leaves it out.
fn executable(build: &Build, name: &str) -> PathBuf {
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
fn routes(paths: &[&str]) -> Value {
    let config = build().output.join("config.json");
    let mut args = vec!["routes".to_owned(), path_arg(&config)];
    args.extend(paths.iter().map(|path| (*path).to_owned()));
    inspect(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn inspect(args: &[&str]) -> Value {
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

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON ({e})", path.display()))
}

/// Every file under `dir`, relative, `/`-separated.
fn files_under(dir: &Path) -> BTreeSet<String> {
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

fn dirs_under(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry"))
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}

fn relative_path(base: &Path, path: &Path) -> String {
    path.strip_prefix(base).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}
