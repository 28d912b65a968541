//! The AWS Lambda packages `scripts/package-lambda --arch all` writes (`scripts/test` runs it
//! first): per `api/` function, `target/lambda/<function>/bootstrap.zip` (x86_64) and
//! `target/lambda/arm64/<function>/bootstrap.zip`, each an executable `bootstrap` for its
//! architecture needing no glibc newer than Amazon Linux 2023's 2.34, that answers function URL
//! events when run against a Lambda Runtime API emulator (`support::lambda_runtime`) exactly as
//! Lambda runs it — the arm64 ones under `qemu-aarch64-static` with Debian's `libc6:arm64`
//! (multiarch) as their C library; and the AWS SAM template `deploy/lambda/template.yaml`,
//! checked by cfn-lint and against the function list.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::lambda_runtime::{RuntimeApi, function_url_event};

const MAX_GLIBC: (u32, u32) = (2, 34);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The functions: Cargo.toml's `[[bin]]`s whose source is under `api/` (as the script reads them).
fn functions() -> Vec<String> {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    let mut functions = Vec::new();
    let mut name = None;
    for line in manifest.lines().map(str::trim) {
        if line == "[[bin]]" {
            name = None;
        } else if let Some(value) = line.strip_prefix("name = ") {
            name = Some(value.trim_matches('"').to_owned());
        } else if let Some(path) = line.strip_prefix("path = \"api/") {
            functions.push(name.take().unwrap_or_else(|| panic!("a [[bin]] at api/{path} without a name")));
        }
    }
    assert!(!functions.is_empty(), "no [[bin]] under api/ in Cargo.toml");
    functions
}

/// The two architectures Lambda runs, with where their packages live and how to read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arch {
    X86_64,
    Arm64,
}

impl Arch {
    const ALL: [Arch; 2] = [Arch::X86_64, Arch::Arm64];

    /// The package directory under `target/lambda/` (x86_64 keeps the original layout).
    fn dir(self) -> &'static str {
        match self {
            Arch::X86_64 => "",
            Arch::Arm64 => "arm64/",
        }
    }

    /// `readelf -h`'s Machine line.
    fn machine(self) -> &'static str {
        match self {
            Arch::X86_64 => "Advanced Micro Devices X86-64",
            Arch::Arm64 => "AArch64",
        }
    }

    /// An objdump that reads this architecture's dynamic symbols.
    fn objdump(self) -> &'static str {
        match self {
            Arch::X86_64 => "objdump",
            Arch::Arm64 => "aarch64-linux-gnu-objdump",
        }
    }
}

fn zip_of(arch: Arch, function: &str) -> PathBuf {
    let zip = root().join(format!("target/lambda/{}{function}/bootstrap.zip", arch.dir()));
    assert!(
        zip.is_file(),
        "{} is missing: run scripts/package-lambda --arch all (scripts/test does)",
        zip.display()
    );
    zip
}

/// Unpacks a package with Python's zipfile (as Lambda would: entries and their Unix modes);
/// returns the directory, the entries as `(name, mode)` and the `bootstrap` path.
fn unpack(arch: Arch, function: &str) -> (support::TempDir, Vec<(String, u32)>, PathBuf) {
    let dir = support::TempDir::new(&format!("lambda-{arch:?}-{function}"));
    let script = "import sys, zipfile\n\
                  z = zipfile.ZipFile(sys.argv[1])\n\
                  z.extractall(sys.argv[2])\n\
                  for i in z.infolist(): print(i.filename, oct(i.external_attr >> 16))\n";
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(zip_of(arch, function))
        .arg(&dir.0)
        .output()
        .expect("python3 unpacks the zip");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let entries: Vec<(String, u32)> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(name, mode)| {
            (name.to_owned(), u32::from_str_radix(mode.trim_start_matches("0o"), 8).expect("octal mode"))
        })
        .collect();
    let bootstrap = dir.0.join("bootstrap");
    // zipfile does not restore modes; Lambda does, from the entry checked above.
    Command::new("chmod").arg("0755").arg(&bootstrap).status().expect("chmod");
    (dir, entries, bootstrap)
}

/// The ELF header's Machine field.
fn machine(binary: &Path) -> String {
    let output = Command::new("readelf").arg("-h").arg(binary).output().expect("readelf (binutils)");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.trim().strip_prefix("Machine:"))
        .map(|machine| machine.trim().to_owned())
        .unwrap_or_default()
}

/// Every `GLIBC_x.y` version the ELF file requires (objdump's dynamic symbol table).
fn glibc_versions(arch: Arch, binary: &Path) -> Vec<(u32, u32)> {
    let output = Command::new(arch.objdump()).arg("-T").arg(binary).output().unwrap_or_else(|e| {
        panic!("{} ({e}): apt-get install -y binutils-aarch64-linux-gnu (scripts/test does)", arch.objdump())
    });
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    let mut versions: Vec<(u32, u32)> = text
        .split("GLIBC_")
        .skip(1)
        .filter_map(|rest| {
            let version: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
            let mut parts = version.split('.').filter_map(|p| p.parse().ok());
            Some((parts.next()?, parts.next().unwrap_or(0)))
        })
        .collect();
    versions.sort_unstable();
    versions.dedup();
    versions
}

#[test]
fn every_function_is_one_executable_bootstrap_for_glibc_2_34_on_both_architectures() {
    for (arch, function) in
        Arch::ALL.into_iter().flat_map(|arch| functions().into_iter().map(move |f| (arch, f)))
    {
        let (_dir, entries, bootstrap) = unpack(arch, &function);
        assert_eq!(entries, vec![("bootstrap".to_owned(), 0o100755)], "{function}: one executable bootstrap");
        assert_eq!(machine(&bootstrap), arch.machine(), "{arch:?} {function}");
        let versions = glibc_versions(arch, &bootstrap);
        assert!(!versions.is_empty(), "{function}: a dynamically linked glibc binary");
        let newest = versions.last().copied().expect("non-empty");
        assert!(
            newest <= MAX_GLIBC,
            "{function}: bootstrap requires GLIBC_{}.{}; Amazon Linux 2023 has 2.34 ({versions:?})",
            newest.0,
            newest.1
        );
        let size = std::fs::metadata(zip_of(arch, &function)).expect("zip").len();
        eprintln!(
            "{arch:?} {function}: bootstrap.zip {size} bytes, newest glibc symbol {}.{}",
            newest.0, newest.1
        );
    }
}

/// A `bootstrap` running as Lambda runs it, against the emulator; killed on drop.
struct Bootstrap {
    child: Child,
    /// When the process was spawned (for the cold start figure).
    spawned: Instant,
    _dir: support::TempDir,
    log: PathBuf,
}

impl Drop for Bootstrap {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bootstrap {
    /// Starts `function`'s bootstrap with Lambda's environment plus `env` (the deployment's); an
    /// arm64 one under `qemu-aarch64-static`, which finds the aarch64 dynamic loader and C
    /// library where Debian's multiarch `libc6:arm64` puts them (`/lib/ld-linux-aarch64.so.1`,
    /// `/lib/aarch64-linux-gnu`): the emulated process sees the real file system.
    fn start(arch: Arch, function: &str, runtime: &RuntimeApi, env: &[(&str, &str)]) -> Self {
        let (dir, _, bootstrap) = unpack(arch, function);
        let log = dir.0.join("stderr.log");
        let mut command = match arch {
            Arch::X86_64 => Command::new(&bootstrap),
            Arch::Arm64 => {
                let qemu = Path::new("/usr/bin/qemu-aarch64-static");
                assert!(
                    qemu.is_file(),
                    "qemu-aarch64-static is missing: apt-get install -y qemu-user-static (scripts/test does)"
                );
                assert!(
                    Path::new("/lib/ld-linux-aarch64.so.1").exists(),
                    "the aarch64 C library is missing: dpkg --add-architecture arm64 && apt-get update && apt-get install -y libc6:arm64 libgcc-s1:arm64 (scripts/test does)"
                );
                let mut command = Command::new(qemu);
                command.arg(&bootstrap);
                command
            }
        };
        let spawned = Instant::now();
        let child = command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", format!("atoms-{function}"))
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/atoms-{function}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2027/01/01/[$LATEST]test")
            .env("AWS_REGION", "us-east-1")
            .env("LOG_FORMAT", "text")
            .envs(env.iter().copied())
            .current_dir(&dir.0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bootstrap.display()));
        Self { child, spawned, _dir: dir, log }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A complete production configuration (a Lambda function is never the local target).
fn production_env<'a>(database_url: &'a str, redis_url: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("PUBLIC_URL", "https://atoms.example.com"),
        ("AUTHKIT_DOMAIN", "atoms-test.authkit.invalid"),
        ("WORKOS_CLIENT_ID", "client_01TEST"),
        ("WORKOS_API_KEY", "sk_test_lambda"),
        ("ATOMS_SESSION_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="),
        ("DATABASE_URL", database_url),
        ("REDIS_URL", redis_url),
        ("ATOMS_HEALTH_TIMEOUT_MS", "1000"),
    ]
}

const INVOKE_TIMEOUT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn the_health_bootstrap_answers_function_url_events() {
    health_bootstrap_answers(Arch::X86_64).await;
}

/// The arm64 health bootstrap, emulated: `/health/live` and the deep `/health`.
#[tokio::test]
async fn the_arm64_health_bootstrap_answers_function_url_events_under_qemu() {
    health_bootstrap_answers(Arch::Arm64).await;
}

async fn health_bootstrap_answers(arch: Arch) {
    let database_url = support::postgres::fresh_database().await;
    let redis = support::start_redis();
    let redis_url = support::redis_url(&redis);
    let runtime = RuntimeApi::start().await;
    let function =
        Bootstrap::start(arch, "health", &runtime, &production_env(database_url.expose(), &redis_url));

    let live = runtime
        .invoke(function_url_event("GET", "/health/live", &[], None), INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("/health/live: {e}\n{}", function.logs()));
    let cold = function.spawned.elapsed();
    let answer = live.http().unwrap_or_else(|e| panic!("{e}\n{}", function.logs()));
    assert!(matches!(live, support::lambda_runtime::Outcome::Response { streaming: true, .. }), "{live:?}");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(serde_json::from_str::<Value>(&answer.body).expect("JSON")["status"], "alive");
    assert_eq!(
        answer.header("x-content-type-options"),
        Some("nosniff"),
        "the boundary's headers: {answer:?}"
    );
    // lambda_http sets x-amzn-trace-id from the invocation's trace id, and the boundary takes it.
    assert!(
        answer.header("x-request-id").is_some_and(|id| id.starts_with("Root=1-")),
        "the request id is the invocation's trace id: {answer:?}"
    );

    // The deep check reaches the real Postgres and Redis; AuthKit cannot be reached from here.
    let deep = runtime
        .invoke(function_url_event("GET", "/health", &[], None), INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("/health: {e}\n{}", function.logs()));
    let answer = deep.http().expect("an HTTP answer");
    let report: Value = serde_json::from_str(&answer.body).expect("a JSON health report");
    assert_eq!((answer.status, report["status"].as_str()), (200, Some("degraded")), "{report}");
    let checks = report.to_string();
    for dependency in ["database", "kv"] {
        assert!(checks.contains(dependency), "{dependency} in {report}");
    }
    eprintln!(
        "{arch:?} health bootstrap: cold start (spawn → first answer through the runtime API) {cold:.1?}"
    );
}

/// The MCP bootstrap as a production deployment trusting the AuthKit double: a tokenless
/// `tools/list` is refused through the streaming protocol — 401, a JSON-RPC error body, a
/// `WWW-Authenticate: Bearer` challenge naming the Protected Resource Metadata — and the same
/// event with a token AuthKit issued for `https://atoms.example.com/api/mcp` lists the five
/// tools. No database is needed for either.
#[tokio::test]
async fn the_mcp_bootstrap_challenges_without_a_token_and_lists_tools_with_one() {
    mcp_bootstrap_answers(Arch::X86_64).await;
}

/// The arm64 MCP bootstrap, emulated: the same challenge and `tools/list`.
#[tokio::test]
async fn the_arm64_mcp_bootstrap_lists_tools_under_qemu() {
    mcp_bootstrap_answers(Arch::Arm64).await;
}

async fn mcp_bootstrap_answers(arch: Arch) {
    let double = support::authkit::AuthKitDouble::start();
    let runtime = RuntimeApi::start().await;
    let closed = format!("postgres://atoms@127.0.0.1:{}/atoms", support::free_port());
    let redis = support::start_redis();
    let redis_url = support::redis_url(&redis);
    let mut env = production_env(&closed, &redis_url);
    env.retain(|(name, _)| !["AUTHKIT_DOMAIN", "WORKOS_CLIENT_ID"].contains(name));
    env.extend([
        ("AUTHKIT_DOMAIN", double.url.as_str()),
        ("WORKOS_API_URL", double.url.as_str()),
        ("WORKOS_CLIENT_ID", double.state.client_id.as_str()),
    ]);
    let function = Bootstrap::start(arch, "mcp", &runtime, &env);
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let body =
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}}).to_string();
    let headers = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/list"),
    ];
    let outcome = runtime
        .invoke(function_url_event("POST", "/api/mcp", &headers, Some(&body)), INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("tools/list: {e}\n{}", function.logs()));
    let cold = function.spawned.elapsed();
    assert!(
        matches!(outcome, support::lambda_runtime::Outcome::Response { streaming: true, .. }),
        "{outcome:?}"
    );
    let answer = outcome.http().unwrap_or_else(|e| panic!("{e}\n{}", function.logs()));
    assert_eq!(answer.status, 401, "{answer:?}\n{}", function.logs());
    assert_eq!(
        answer.header("www-authenticate"),
        Some(
            "Bearer resource_metadata=\"https://atoms.example.com/.well-known/oauth-protected-resource/api/mcp\""
        ),
        "{answer:?}"
    );
    let message: Value =
        serde_json::from_str(&answer.body).unwrap_or_else(|e| panic!("JSON-RPC body ({e}): {answer:?}"));
    // The guard refuses before reading the body, so the error carries `"id": null`.
    assert_eq!(
        (&message["jsonrpc"], &message["error"]["code"]),
        (&json!("2.0"), &json!(-32000)),
        "{message}"
    );
    eprintln!("{arch:?} mcp bootstrap: cold start (spawn → first answer through the runtime API) {cold:.1?}");

    let claims = double.state.claims(
        support::authkit::Family::Mcp,
        "user_01ALICE",
        "s1",
        Some("https://atoms.example.com/api/mcp"),
    );
    let bearer = format!("Bearer {}", double.state.mint(support::authkit::Family::Mcp, &claims));
    let mut with_token = headers.to_vec();
    with_token.push(("authorization", bearer.as_str()));
    let outcome = runtime
        .invoke(function_url_event("POST", "/api/mcp", &with_token, Some(&body)), INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("tools/list with a token: {e}\n{}", function.logs()));
    let answer = outcome.http().unwrap_or_else(|e| panic!("{e}\n{}", function.logs()));
    assert_eq!(answer.status, 200, "{answer:?}\n{}", function.logs());
    let message: Value = serde_json::from_str(&answer.body).expect("JSON-RPC result");
    let names: Vec<&str> = message["result"]["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["workspace_tool", "entity_tool", "relationship_tool", "workflow_tool", "query_tool"]);
}

/// The template, decoded by cfn-lint's own parser (CloudFormation's `!Ref` tags included).
fn template() -> Value {
    let python = support::test_tools_dir().join("ops/bin/python");
    assert!(python.is_file(), "cfn-lint is missing: run scripts/test (tests/support/ops/requirements.txt)");
    let script = "import json, sys\nfrom cfnlint.decode import decode\n\
                  template, problems = decode(sys.argv[1])\n\
                  assert not problems, problems\nprint(json.dumps(template, default=str))\n";
    let output = Command::new(python)
        .args(["-c", script])
        .arg(root().join("deploy/lambda/template.yaml"))
        .output()
        .expect("run cfn-lint's decoder");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("template as JSON")
}

#[test]
fn the_sam_template_passes_cfn_lint() {
    let cfn_lint = support::test_tools_dir().join("ops/bin/cfn-lint");
    assert!(cfn_lint.is_file(), "cfn-lint is missing: run scripts/test (tests/support/ops/requirements.txt)");
    let output =
        Command::new(cfn_lint).arg(root().join("deploy/lambda/template.yaml")).output().expect("cfn-lint");
    assert!(
        output.status.success(),
        "cfn-lint refuses deploy/lambda/template.yaml:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_sam_template_has_one_streaming_function_url_per_function() {
    let template = template();
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Handler"], "bootstrap");
    let variables = globals["Environment"]["Variables"].as_object().expect("environment");
    for required in ["PUBLIC_URL", "AUTHKIT_DOMAIN", "DATABASE_URL", "REDIS_URL"] {
        assert!(variables.contains_key(required), "{required} in the functions' environment");
    }
    let parameter = &template["Parameters"]["Architecture"];
    assert_eq!(parameter["Default"], "x86_64");
    assert_eq!(parameter["AllowedValues"], json!(["x86_64", "arm64"]));
    let resources = template["Resources"].as_object().expect("resources");
    let functions: Vec<&Value> =
        resources.values().filter(|r| r["Type"] == "AWS::Serverless::Function").collect();
    assert_eq!(functions.len(), 2 * self::functions().len(), "one function per api/ binary and architecture");
    for (arch, function) in
        Arch::ALL.into_iter().flat_map(|arch| self::functions().into_iter().map(move |f| (arch, f)))
    {
        // CodeUri stays a literal local path (SAM CLI uploads only those); the condition on the
        // Architecture parameter picks which of the two functions exists.
        let code = format!("../../target/lambda/{}{function}/bootstrap.zip", arch.dir());
        let resource = functions
            .iter()
            .find(|r| r["Properties"]["CodeUri"] == code.as_str())
            .unwrap_or_else(|| panic!("no function with CodeUri {code}"));
        let (condition, name) = match arch {
            Arch::X86_64 => ("IsX86", "x86_64"),
            Arch::Arm64 => ("IsArm64", "arm64"),
        };
        assert_eq!(resource["Condition"], condition, "{code}");
        assert_eq!(resource["Properties"]["Architectures"], json!([name]), "{code}");
        assert_eq!(
            template["Conditions"][condition],
            json!({"Fn::Equals": [{"Ref": "Architecture"}, name]}),
            "{condition}"
        );
        let properties = &resource["Properties"];
        assert!(properties["MemorySize"].as_u64().is_some() && properties["Timeout"].as_u64().is_some());
        assert_eq!(properties["FunctionUrlConfig"]["AuthType"], "NONE", "{function}");
        assert_eq!(properties["FunctionUrlConfig"]["InvokeMode"], "RESPONSE_STREAM", "{function}");
    }
}
