//! `scripts/deploy` and `scripts/rollback`, run for real in a throwaway git checkout with a fake
//! `vercel` first on `PATH`: a script that records its arguments, answers `env pull` with a
//! prepared environment (the target database's real URL in it) and "deploys" by printing the URL
//! of a local server — `atoms serve` on Postgres (which fails today's smoke checks it cannot
//! offer, so production is not promoted) or the deployment double that passes them.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::TempDir;
use support::atoms_server::{AtomsServer, block_on};

const FAKE_VERCEL: &str = r#"#!/usr/bin/env bash
# A fake Vercel CLI for tests/deploy.rs: records each call, acts out env pull / deploy / promote / rollback.
printf '%s\n' "$*" >> "$FAKE_VERCEL_LOG"
target=preview
for arg in "$@"; do
  case "$arg" in --environment=*) target=${arg#--environment=} ;; --prod) target=production ;; esac
done
case "$1" in
  env) [ "$2" = pull ] && cp "$FAKE_VERCEL_ENV" "$3" && echo "Downloading 'production' Environment Variables" >&2 ;;
  pull) # project settings and the target's variables, where `vercel build` reads them
    mkdir -p .vercel && echo '{"projectId":"prj_fake"}' > .vercel/project.json
    cp "$FAKE_VERCEL_ENV" ".vercel/.env.$target.local" ;;
  build) # needs what `vercel pull` wrote and the zig toolchain @vercel/rust links with
    [ -f ".vercel/.env.$target.local" ] || { echo "fake vercel: build before pull ($target)" >&2; exit 1; }
    command -v cargo-zigbuild >/dev/null || { echo "fake vercel: cargo-zigbuild is not on PATH" >&2; exit 1; }
    [ -n "${CARGO_ZIGBUILD_PYTHON_PATH:-}" ] || { echo "fake vercel: CARGO_ZIGBUILD_PYTHON_PATH unset" >&2; exit 1; }
    mkdir -p .vercel/output && echo "{\"version\":3,\"target\":\"$target\"}" > .vercel/output/config.json ;;
  deploy)
    if [ "$2" = --prebuilt ]; then
      grep -q "\"target\":\"$target\"" .vercel/output/config.json 2>/dev/null \
        || { echo "fake vercel: no $target build in .vercel/output" >&2; exit 1; }
    fi
    echo "Inspect: https://vercel.com/atoms/atoms/dpl_fake" >&2; echo "$FAKE_VERCEL_URL" ;;
  promote) echo "Success! $2 is now the production deployment" ;;
  rollback) echo "Success! rolled back" ;;
  *) echo "fake vercel: unexpected call: $*" >&2; exit 1 ;;
esac
"#;

/// A checkout with the deploy scripts committed, a fake `vercel`, and the environment it pulls.
struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new(env: &str) -> Self {
        let dir = TempDir::new("deploy");
        let repo = dir.0.join("repo");
        std::fs::create_dir_all(repo.join("scripts")).expect("repo");
        for script in ["deploy", "rollback"] {
            let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join(script);
            std::fs::copy(&from, repo.join("scripts").join(script)).expect("copy script");
        }
        std::fs::write(repo.join("README.md"), "a checkout to deploy\n").expect("file");
        std::fs::write(repo.join(".gitignore"), "/.vercel\n").expect("file");
        let git = |args: &[&str]| {
            let status = Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args(args)
                .current_dir(&repo)
                .output()
                .expect("git");
            assert!(status.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&status.stderr));
        };
        git(&["init", "-q", "-b", "main"]);
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "release"]);
        let bin = dir.0.join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        let vercel = bin.join("vercel");
        std::fs::write(&vercel, FAKE_VERCEL).expect("fake vercel");
        // `atoms` through a wrapper that records its arguments (credentials must never be there).
        let atoms = bin.join("atoms");
        std::fs::write(
            &atoms,
            format!(
                "#!/usr/bin/env bash\nprintf '%s\\n' \"$*\" >> \"$ATOMS_ARGS_LOG\"\nexec {} \"$@\"\n",
                env!("CARGO_BIN_EXE_atoms")
            ),
        )
        .expect("atoms wrapper");
        // What `--prebuilt` looks for: the zig venv scripts/test installs (never run here).
        let zig = dir.0.join("tools/zig/bin");
        std::fs::create_dir_all(&zig).expect("zig venv");
        for tool in ["cargo-zigbuild", "python"] {
            std::fs::write(zig.join(tool), "#!/bin/sh\nexit 1\n").expect("tool");
        }
        Command::new("chmod")
            .arg("0755")
            .arg(&vercel)
            .arg(&atoms)
            .arg(zig.join("cargo-zigbuild"))
            .arg(zig.join("python"))
            .status()
            .expect("chmod");
        std::fs::write(dir.0.join("pulled.env"), env).expect("env");
        std::fs::write(dir.0.join("vercel.log"), "").expect("log");
        Self { dir }
    }

    fn repo(&self) -> PathBuf {
        self.dir.0.join("repo")
    }

    /// Runs `scripts/<script> args` with the fake `vercel` deploying to `url`.
    fn run(&self, script: &str, args: &[&str], url: &str, extra_env: &[(&str, &str)]) -> Output {
        let path =
            format!("{}:{}", self.dir.0.join("bin").display(), std::env::var("PATH").unwrap_or_default());
        Command::new(self.repo().join("scripts").join(script))
            .args(args)
            .current_dir(self.repo())
            .env("PATH", path)
            .env("ATOMS_BIN", self.dir.0.join("bin/atoms"))
            .env("ATOMS_ARGS_LOG", self.dir.0.join("atoms-args.log"))
            .env("ATOMS_TEST_TOOLS", self.dir.0.join("tools"))
            .env("FAKE_VERCEL_LOG", self.dir.0.join("vercel.log"))
            .env("FAKE_VERCEL_ENV", self.dir.0.join("pulled.env"))
            .env("FAKE_VERCEL_URL", url)
            .env("TMPDIR", &self.dir.0)
            .env_remove("ATOMS_SMOKE_TOKEN")
            .env_remove("VERCEL_AUTOMATION_BYPASS_SECRET")
            .env_remove("ATOMS_PUBLIC_URL")
            .envs(extra_env.iter().copied())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run the script")
    }

    /// The fake `vercel`'s calls, one line of arguments each.
    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.0.join("vercel.log"))
            .expect("log")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Every argument list `atoms` was started with by the scripts, one line each.
    fn atoms_args(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("atoms-args.log")).unwrap_or_default()
    }

    /// Temp env files left in TMPDIR (the scripts must delete theirs).
    fn leftover_env_files(&self) -> Vec<String> {
        std::fs::read_dir(&self.dir.0)
            .expect("dir")
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|name| name.starts_with("atoms-deploy-env") || name.starts_with("atoms-rollback-env"))
            .collect()
    }
}

fn production_env(database_url: &str, public_url: &str) -> String {
    format!(
        "# Created by Vercel CLI\nVERCEL=\"1\"\nVERCEL_ENV=\"production\"\nVERCEL_URL=\"\"\n\
         PUBLIC_URL=\"{public_url}\"\nAUTHKIT_DOMAIN=\"acme.authkit.app\"\n\
         WORKOS_CLIENT_ID=\"client_01TEST\"\nWORKOS_API_KEY=\"sk_test_deploy\"\n\
         ATOMS_SESSION_KEY=\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"\n\
         DATABASE_URL=\"{database_url}\"\nREDIS_URL=\"redis://127.0.0.1:6379\"\n"
    )
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn production_is_not_promoted_when_smoke_fails_and_pending_migrations_are_applied_first() {
    let server = AtomsServer::on_fresh_database();
    let deployment = server.mcp_url().trim_end_matches("/api/mcp").to_owned();
    let target_database = block_on(support::postgres::empty_database());
    let fixture = Fixture::new(&production_env(target_database.expose(), "https://atoms.example.com"));

    let output = fixture.run("deploy", &["--prod", "--skip-tests"], &deployment, &[]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("environment is complete for target production"), "{out}");
    assert!(out.contains("applied 20261122000100_supabase_compat"), "{out}");
    assert!(out.contains("✗ metrics_refused"), "smoke's report is shown: {out}");
    assert!(
        out.contains(&format!("deploy: stopped: not promoted: smoke tests failed on {deployment}")),
        "{out}"
    );
    let calls = fixture.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[0].starts_with("env pull ") && calls[0].ends_with(" --environment=production --yes"),
        "{calls:?}"
    );
    assert_eq!(calls[1], "deploy --yes --prod --skip-domain");
    assert!(!out.contains(target_database.expose()), "the pulled DATABASE_URL is never printed");
    assert_eq!(fixture.leftover_env_files(), Vec::<String>::new(), "the temp env file is deleted");
    let pending = block_on(atoms::db::migrate::pending(&target_database)).expect("pending");
    assert!(pending.is_empty(), "the target database was migrated: {pending:?}");
}

#[test]
fn production_is_promoted_when_smoke_passes() {
    let database = block_on(support::postgres::fresh_database());
    let deployment = format!("http://127.0.0.1:{}", support::deployment_double::start());
    let fixture = Fixture::new(&production_env(database.expose(), "https://atoms.example.com"));

    let output = fixture.run("deploy", &["--prod", "--skip-tests"], &deployment, &[]);
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("none: the database is up to date"), "{out}");
    assert!(out.contains("smoke passed"), "{out}");
    assert!(out.contains(&format!("promoted {deployment} to production")), "{out}");
    let calls = fixture.calls();
    assert_eq!(
        calls[1..],
        ["deploy --yes --prod --skip-domain".to_owned(), format!("promote {deployment} --yes")]
    );
}

#[test]
fn a_preview_of_the_branch_is_deployed_and_smoke_tested() {
    let database = block_on(support::postgres::fresh_database());
    let deployment = format!("http://127.0.0.1:{}", support::deployment_double::start());
    let env = production_env(database.expose(), "")
        .replace("production", "preview")
        .replace("PUBLIC_URL=\"\"\n", "");
    let fixture = Fixture::new(&env);

    let output = fixture.run("deploy", &["--skip-tests"], &deployment, &[]);
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains(&format!("preview ready: {deployment}")), "{out}");
    let calls = fixture.calls();
    assert!(calls[0].ends_with(" --environment=preview --yes --git-branch=main"), "{calls:?}");
    assert_eq!(calls[1..], ["deploy --yes".to_owned()], "a preview is never promoted");
}

#[test]
fn dry_run_prints_the_exact_commands_and_runs_none() {
    let fixture = Fixture::new("");
    let output = fixture.run(
        "deploy",
        &["--prod", "--dry-run"],
        "http://unused",
        &[("ATOMS_SMOKE_TOKEN", "tok-secret")],
    );
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    for line in [
        "+ scripts/test",
        "+ vercel deploy --yes --prod --skip-domain",
        "+ vercel promote https://DEPLOYMENT-URL --yes",
        "smoke https://DEPLOYMENT-URL\n(ATOMS_SMOKE_TOKEN is set: tools/list and a read-only tool call are checked)",
    ] {
        assert!(out.contains(line), "{line:?} in {out}");
    }
    assert!(
        out.lines()
            .any(|l| l.starts_with("+ vercel env pull ") && l.ends_with(" --environment=production --yes")),
        "{out}"
    );
    assert!(out.lines().any(|l| l.contains("check-env --target production --env-file ")), "{out}");
    assert!(!out.contains("tok-secret"), "the smoke token is never printed");
    assert_eq!(fixture.calls(), Vec::<String>::new(), "a dry run calls no vercel command");
    assert_eq!(fixture.leftover_env_files(), Vec::<String>::new());
}

#[test]
fn a_dirty_tree_or_an_incomplete_environment_stops_before_deploying() {
    let database = block_on(support::postgres::fresh_database());
    let incomplete =
        production_env(database.expose(), "https://atoms.example.com").replace("AUTHKIT_DOMAIN", "#");
    let fixture = Fixture::new(&incomplete);
    std::fs::write(fixture.repo().join("scratch.txt"), "uncommitted\n").expect("dirty");
    let output = fixture.run("deploy", &["--prod", "--skip-tests"], "http://unused", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output).contains("the working tree has uncommitted changes"), "{}", text(&output));
    assert_eq!(fixture.calls(), Vec::<String>::new());

    std::fs::remove_file(fixture.repo().join("scratch.txt")).expect("clean");
    let output = fixture.run("deploy", &["--prod", "--skip-tests"], "http://unused", &[]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("AUTHKIT_DOMAIN"), "{out}");
    assert!(out.contains("deploy: stopped: the production environment is incomplete"), "{out}");
    assert!(fixture.calls().iter().all(|c| !c.starts_with("deploy")), "{:?}", fixture.calls());
    assert_eq!(fixture.leftover_env_files(), Vec::<String>::new());
}

#[test]
fn rollback_rolls_back_then_smoke_tests_production() {
    let deployment = format!("http://127.0.0.1:{}", support::deployment_double::start());
    let fixture = Fixture::new(&production_env("postgres://unused@127.0.0.1/x", &deployment));
    let output = fixture.run("rollback", &["dpl_previous"], "http://unused", &[]);
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains(&format!("atoms smoke {deployment}")), "{out}");
    assert!(out.contains("rolled back; production passes its smoke tests"), "{out}");
    let calls = fixture.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[1], "rollback dpl_previous --yes");
    assert_eq!(fixture.leftover_env_files(), Vec::<String>::new());

    let output = fixture.run("rollback", &["--dry-run"], "http://unused", &[]);
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("+ vercel rollback --yes"), "{out}");
    assert_eq!(fixture.calls().len(), 2, "a dry run calls no vercel command");
}

#[test]
fn prebuilt_production_pulls_builds_here_and_deploys_the_build_output() {
    let database = block_on(support::postgres::fresh_database());
    let deployment = format!("http://127.0.0.1:{}", support::deployment_double::start());
    let fixture = Fixture::new(&production_env(database.expose(), "https://atoms.example.com"));

    let output = fixture.run("deploy", &["--prod", "--prebuilt", "--skip-tests"], &deployment, &[]);
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains(&format!("promoted {deployment} to production")), "{out}");
    let calls = fixture.calls();
    assert_eq!(
        calls[1..],
        [
            "pull --yes --environment=production".to_owned(),
            "build --prod".to_owned(),
            "deploy --prebuilt --yes --prod --skip-domain".to_owned(),
            format!("promote {deployment} --yes"),
        ],
        "{out}"
    );
    assert!(
        !fixture.repo().join(".vercel/.env.production.local").exists(),
        "the variables vercel pull wrote for the build are deleted"
    );
    assert!(fixture.repo().join(".vercel/output/config.json").is_file(), "the build output stays");
    assert!(!out.contains(database.expose()), "the pulled DATABASE_URL is never printed");
}

#[test]
fn prebuilt_preview_and_its_dry_run() {
    let fixture = Fixture::new("");
    let output = fixture.run("deploy", &["--prebuilt", "--dry-run"], "http://unused", &[]);
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    for line in [
        "+ vercel pull --yes --environment=preview --git-branch=main\n",
        "+ vercel build\n",
        "+ vercel deploy --prebuilt --yes\n",
    ] {
        assert!(out.contains(line), "{line:?} in {out}");
    }
    assert_eq!(fixture.calls(), Vec::<String>::new(), "a dry run calls no vercel command");

    let database = block_on(support::postgres::fresh_database());
    let deployment = format!("http://127.0.0.1:{}", support::deployment_double::start());
    let env = production_env(database.expose(), "")
        .replace("production", "preview")
        .replace("PUBLIC_URL=\"\"\n", "");
    let fixture = Fixture::new(&env);
    let output = fixture.run("deploy", &["--prebuilt", "--skip-tests"], &deployment, &[]);
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert_eq!(
        fixture.calls()[1..],
        [
            "pull --yes --environment=preview --git-branch=main".to_owned(),
            "build".to_owned(),
            "deploy --prebuilt --yes".to_owned()
        ]
    );
    assert!(!fixture.repo().join(".vercel/.env.preview.local").exists());
}

#[test]
fn prebuilt_without_the_zig_toolchain_stops_before_anything_changes() {
    let fixture = Fixture::new("");
    let output = fixture.run(
        "deploy",
        &["--prod", "--prebuilt", "--skip-tests"],
        "http://unused",
        &[("ATOMS_TEST_TOOLS", "/nonexistent"), ("PATH", "/usr/bin:/bin")],
    );
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("--prebuilt builds the functions here and needs cargo-zigbuild and zig"), "{out}");
    assert_eq!(fixture.calls(), Vec::<String>::new());
    assert_eq!(fixture.atoms_args(), "", "no check-env, no migration");
}

/// A protected preview: smoke passes only with Vercel's bypass header, which `atoms smoke` takes
/// from `VERCEL_AUTOMATION_BYPASS_SECRET` in the environment the scripts pass on — like the token
/// from `ATOMS_SMOKE_TOKEN`. Neither ever appears in a command line or the output.
#[test]
fn smoke_credentials_pass_through_the_environment_never_the_command_line() {
    const SECRET: &str = "bypass-deploy-0123456789abcdef0123";
    const TOKEN: &str = support::deployment_double::TOKEN;
    let database = block_on(support::postgres::fresh_database());
    let deployment = support::deployment_double::protected(SECRET, None);
    let env = production_env(database.expose(), "")
        .replace("production", "preview")
        .replace("PUBLIC_URL=\"\"\n", "");
    let fixture = Fixture::new(&env);

    let output = fixture.run("deploy", &["--skip-tests"], &deployment.origin(), &[]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "without the secret, Vercel's 401: {out}");
    assert!(out.contains("set VERCEL_AUTOMATION_BYPASS_SECRET"), "{out}");

    let credentials = [("VERCEL_AUTOMATION_BYPASS_SECRET", SECRET), ("ATOMS_SMOKE_TOKEN", TOKEN)];
    let output = fixture.run("deploy", &["--skip-tests"], &deployment.origin(), &credentials);
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(
        out.contains("(VERCEL_AUTOMATION_BYPASS_SECRET is set: requests carry x-vercel-protection-bypass)")
    );
    assert!(out.contains("✓ tools_list: 2 tools"), "the token reached smoke: {out}");
    assert!(out.contains("✓ tool_call"), "{out}");
    let output = fixture.run(
        "rollback",
        &[],
        "http://unused",
        &[("ATOMS_PUBLIC_URL", deployment.origin().as_str()), ("VERCEL_AUTOMATION_BYPASS_SECRET", SECRET)],
    );
    let rollback = text(&output);
    assert!(output.status.success(), "{rollback}");
    let args = fixture.atoms_args();
    assert!(args.lines().any(|l| l.starts_with("smoke ")), "{args}");
    for (name, value) in credentials {
        assert!(!args.contains(value), "{name} in a command line: {args}");
        assert!(!out.contains(value) && !rollback.contains(value), "{name} printed");
    }
}
