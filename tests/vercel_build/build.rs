//! Running `vercel build` once per test binary: the pinned tools, a copy of the checkout that
//! keeps its build cache, the planted local state, the build itself.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::LazyLock;
use std::time::Instant;

use crate::support;

/// Local state planted in the copy: none of it may reach a deployment or an upload.
pub(crate) const PLANTED: [&str; 8] = [
    ".atoms/postgres/pg/PG_VERSION",
    ".atoms/postgres/pg/base/5/16384",
    ".env",
    ".env.local",
    ".env.production.local",
    "node_modules/planted/index.js",
    "atoms-serve.log",
    "target/debug/planted",
];

/// The result of one `vercel build`, shared by every test of this binary.
pub(crate) struct Build {
    /// `target/vercel-build`: the copy, the build's log, the functions' logs, zig's caches.
    pub(crate) work: PathBuf,
    /// The copy of the checkout the build ran in.
    pub(crate) project: PathBuf,
    /// `.vercel/output` inside it.
    pub(crate) output: PathBuf,
    /// The checkout's files (tracked, or untracked and not ignored), relative, as copied.
    pub(crate) checkout_files: BTreeSet<String>,
}

static BUILD: LazyLock<Result<Build, String>> = LazyLock::new(run_vercel_build);

/// The shared build; every test fails with the build's own error when it failed.
pub(crate) fn build() -> &'static Build {
    BUILD.as_ref().unwrap_or_else(|error| panic!("{error}"))
}

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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
            cargo_zigbuild_bin: tools.join("zig/bin"),
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
                "cargo-zigbuild (its PyPI wheel in the venv at target/test-tools/zig, from tests/support/vercel/requirements.txt)",
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

pub(crate) fn vercel_package() -> PathBuf {
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
        std::fs::write(path, "local state planted by tests/vercel_build\n")?;
    }
    std::fs::create_dir_all(project.join(".vercel"))?;
    std::fs::write(
        project.join(".vercel/project.json"),
        r#"{"projectId":"prj_local","orgId":"team_local","settings":{"framework":null}}"#,
    )
}
