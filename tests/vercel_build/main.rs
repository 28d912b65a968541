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
//!   health function its probes, the auth function its rewritten sign-in paths, each started as
//!   Vercel's runtime starts it (`VERCEL_DEV_PORT`).
//!
//! The build runs once per test binary (`build.rs`), shared by the tests below, which read its
//! result and start its executables through `output.rs`. The copy lives in
//! `target/vercel-build/checkout` and keeps its `target/` between runs, so only the first build
//! is cold. Tools come from `scripts/test`: the CLI in `target/test-tools/vercel`,
//! `cargo-zigbuild` in `target/test-tools/cargo-zigbuild` and `ziglang` in the venv
//! `target/test-tools/zig`, which the CLI's Rust builder calls for local builds.

#[path = "../support/mod.rs"]
mod support;

mod build;
mod output;

use std::collections::BTreeSet;

use serde_json::{Value, json};

use build::{PLANTED, build, vercel_package};
use output::{
    Function, api_sources, dirs_under, executable, files_under, function_name, inspect, path_arg, read_json,
    relative_path, routes,
};

/// Each rewrite of `vercel.json` (by its `source`) with public paths and where the built
/// `config.json` must send them (`None`: nowhere, the path is not rewritten).
type Samples = &'static [(&'static str, Option<&'static str>)];
const REWRITES: [(&str, Samples); 7] = [
    ("/health", &[("/health", Some("/api/health"))]),
    ("/metrics", &[("/metrics", Some("/api/metrics")), ("/metrics/other", None)]),
    ("/status", &[("/status", Some("/api/metrics?view=status"))]),
    (
        "/health/:probe(live|ready)",
        &[
            ("/health/live", Some("/api/health?probe=live")),
            ("/health/ready", Some("/api/health?probe=ready")),
            ("/health/other", None),
        ],
    ),
    (
        "/oauth/:document(protected-resource|authorization-server)",
        &[
            // Vercel also appends the named segment as a query parameter; the guard reads `oauth`.
            (
                "/oauth/protected-resource",
                Some("/api/mcp?oauth=protected-resource&document=protected-resource"),
            ),
            (
                "/oauth/authorization-server",
                Some("/api/mcp?oauth=authorization-server&document=authorization-server"),
            ),
            ("/oauth/other", None),
        ],
    ),
    (
        "/auth/:action(login|callback|token|logout)",
        &[
            ("/auth/login", Some("/api/auth?action=login")),
            ("/auth/callback", Some("/api/auth?action=callback")),
            ("/auth/token", Some("/api/auth?action=token")),
            ("/auth/logout", Some("/api/auth?action=logout")),
            ("/auth/other", None),
        ],
    ),
    ("/auth/webhooks/workos", &[("/auth/webhooks/workos", Some("/api/auth?action=webhook"))]),
];

/// The security headers of the Rust boundary (`lib/http/security_headers.rs`), which the static
/// pages get from `vercel.json` with a CSP that admits their same-origin script and stylesheet.
const STATIC_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                          base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
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
        "each rewrite in vercel.json needs its sample paths in REWRITES (tests/vercel_build/main.rs)"
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
    let functions = ["/api/mcp", "/api/health", "/health", "/health/live", "/api/auth", "/auth/login"];
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

/// The built MCP function starts and answers on its route through the whole boundary, as a
/// deployment in `authkit` mode would (against the AuthKit double, `VERCEL=1` as the platform
/// sets it): a 2026-07-28 `server/discover` without a token is refused — 401, a JSON-RPC error
/// body, a `WWW-Authenticate` challenge naming the metadata at the path Vercel's rewrite reaches,
/// the function's own security headers — that metadata is served on the rewrite's destination,
/// and with a token AuthKit issued for this resource the same request is answered.
#[tokio::test]
async fn the_built_mcp_function_answers_server_discover() {
    let double = support::authkit::AuthKitDouble::start();
    let port = support::free_port();
    let public = format!("http://127.0.0.1:{port}");
    let env = double.env(&public);
    let mut vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    vars.push(("VERCEL", "1"));
    let function = Function::start_with(build(), "mcp", port, &vars);
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let discover = |token: Option<String>| {
        let mut request = reqwest::Client::new()
            .post(function.url("/api/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "server/discover")
            .body(
                json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta}})
                    .to_string(),
            );
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let response = discover(None)
        .await
        .unwrap_or_else(|e| panic!("POST /api/mcp to the built mcp function: {e}; {}", function.log_hint()));
    let status = response.status();
    let csp = response.headers().get("content-security-policy").cloned();
    let challenge = response.headers().get("www-authenticate").cloned();
    let body = response.text().await.expect("body");
    assert_eq!(status, 401, "{body}\n{}", function.log_hint());
    let message: Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("a JSON-RPC error body ({e}): {body}"));
    assert_eq!(
        (&message["jsonrpc"], &message["error"]["code"]),
        (&json!("2.0"), &json!(-32000)),
        "{message}"
    );
    assert_eq!(
        challenge.as_ref().and_then(|v| v.to_str().ok()),
        Some(format!("Bearer resource_metadata=\"{public}/oauth/protected-resource\"").as_str()),
        "a Bearer challenge naming the metadata where a Vercel rewrite reaches it"
    );
    assert_eq!(
        csp.as_ref().and_then(|v| v.to_str().ok()),
        Some("default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
        "the function's own security headers"
    );

    // The rewrite's destination (`/oauth/protected-resource` → `/api/mcp?oauth=protected-resource`).
    let metadata: Value =
        reqwest::get(function.url("/api/mcp?oauth=protected-resource&document=protected-resource"))
            .await
            .expect("metadata")
            .json()
            .await
            .expect("metadata JSON");
    assert_eq!(metadata["resource"], format!("{public}/api/mcp"), "{metadata}");
    assert_eq!(metadata["authorization_servers"], json!([double.url]), "{metadata}");

    let claims = double.state.claims(
        support::authkit::Family::Mcp,
        "user_01ALICE",
        "s1",
        Some(&format!("{public}/api/mcp")),
    );
    let token = double.state.mint(support::authkit::Family::Mcp, &claims);
    let response = discover(Some(token)).await.expect("discover with a token");
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(status, 200, "{body}\n{}", function.log_hint());
    let versions = body["result"]["supportedVersions"].as_array().cloned().unwrap_or_default();
    assert!(versions.contains(&json!("2026-07-28")), "the discover result: {body}");
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

#[tokio::test]
async fn the_built_auth_function_serves_the_rewritten_sign_in_paths() {
    let function = Function::start(build(), "auth");
    let routes = routes(&["/auth/login", "/auth/webhooks/workos"]);
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    // Unconfigured (no WorkOS variables here): the flow's own answer proves the rewritten path
    // reached its handler through the whole boundary — an HTML page for the browser route, a
    // JSON envelope for the webhook.
    let login = routes["/auth/login"]["rewrite"].as_str().expect("/auth/login is rewritten");
    let response = client.get(function.url(login)).send().await.expect("GET login");
    assert_eq!(response.status(), 503, "{}", function.log_hint());
    assert!(response.headers()["content-type"].to_str().expect("ascii").starts_with("text/html"));
    let page = response.text().await.expect("page");
    assert!(page.contains("WORKOS_CLIENT_ID") && page.contains("ATOMS_SESSION_KEY"), "{page}");
    let hook = routes["/auth/webhooks/workos"]["rewrite"].as_str().expect("the webhook is rewritten");
    let response = client.post(function.url(hook)).body("{}").send().await.expect("POST webhook");
    assert_eq!(response.status(), 503, "{}", function.log_hint());
    let body: Value = response.json().await.expect("a JSON envelope");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("WORKOS_WEBHOOK_SECRET")), "{body}");
}
