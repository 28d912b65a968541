//! The browser sign-in flow in a real headless Chromium (Debian's `chromium`, driven by
//! `playwright-core` pinned in `tests/support/browser/`, installed by `scripts/test`): login →
//! AuthKit's page (the double's) → callback → the signed-in page shows the user and the MCP URL,
//! its `__Host-` `Secure` cookie is kept on plain-http loopback, its hashed inline script runs
//! under the strict CSP (copy button), `/auth/token` answers with the cookie, sign-out from the
//! page's form ends the session, and the replayed callback is a 400 page. Screenshots land in
//! `target/auth-browser/` for a person to look at.

mod support;

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use serde_json::Value;
use support::authkit::User;
use support::workos_api;

fn driver() -> (PathBuf, PathBuf) {
    let tools = support::test_tools_dir();
    let node = tools.join("node_modules/.bin/node");
    let package = tools.join("browser/node_modules/playwright-core");
    assert!(
        node.is_file() && package.is_dir(),
        "playwright-core or Node 22 not installed under {}: run scripts/test (npm ci from \
         tests/support/browser into target/test-tools/browser)",
        tools.display()
    );
    // Next to its node_modules, so `import 'playwright-core'` resolves; copied on every run so an
    // edit of the source is what runs.
    let script = tools.join("browser/signin.mjs");
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/browser/signin.mjs");
    std::fs::copy(source, &script).expect("copy the browser script");
    (node, script)
}

#[tokio::test]
async fn chromium_signs_in_sees_the_page_and_signs_out() {
    let chromium = PathBuf::from("/usr/bin/chromium");
    assert!(
        chromium.is_file(),
        "Chromium not found at /usr/bin/chromium: apt-get install -y chromium (scripts/test does)"
    );
    let (node, script) = driver();
    let (double, api) = workos_api::start();
    api.auto_approve.store(false, Ordering::SeqCst); // show AuthKit's page; the browser clicks on
    double.state.set_next_user(User {
        id: "user_01ADA".into(),
        email: "ada@example.com".into(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
    });
    let (base, _kv) = workos_api::serve_atoms(&double, &[]).await;
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../auth-browser");
    std::fs::create_dir_all(&shots).expect("screenshot directory");
    let output = tokio::process::Command::new(node)
        .arg(script)
        .env("ATOMS_BASE", &base)
        .env("SCREENSHOTS", &shots)
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), output)
        .await
        .expect("the browser run finishes within 2 minutes")
        .expect("run node");
    assert!(output.status.success(), "the browser run failed:\n{}", String::from_utf8_lossy(&output.stderr));
    let seen: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));

    assert!(
        seen["authkitUrl"]
            .as_str()
            .expect("url")
            .starts_with(&format!("{}/user_management/authorize?", double.url))
    );
    assert_eq!(seen["callbackStatus"], 200, "{seen}");
    assert_eq!(seen["heading"], "You are signed in");
    let text = seen["text"].as_str().expect("text");
    assert!(text.contains("Ada Lovelace") && text.contains("ada@example.com"), "{text}");
    assert_eq!(seen["mcpUrl"], format!("{base}/api/mcp"));
    let session = seen["cookies"]
        .as_array()
        .expect("cookies")
        .iter()
        .find(|c| c["name"] == "__Host-atoms_session")
        .unwrap_or_else(|| panic!("Chromium kept the Secure session cookie on http://127.0.0.1: {seen}"));
    assert_eq!(
        (&session["secure"], &session["httpOnly"], &session["sameSite"]),
        (&Value::Bool(true), &Value::Bool(true), &Value::from("Lax"))
    );
    assert_eq!(seen["copyVisible"], true, "the hashed inline script ran");
    assert_eq!(seen["copyLabel"], "Copied");
    assert_eq!(seen["clipboard"], format!("{base}/api/mcp"));
    assert_eq!(seen["tokenStatus"], 200);
    assert!(seen["token"]["access_token"].as_str().is_some_and(|t| t.split('.').count() == 3));
    assert_eq!(seen["signOutStatus"], 200);
    assert_eq!(seen["signOutHeading"], "You are signed out");
    assert!(
        !seen["cookiesAfterSignOut"].as_array().expect("names").iter().any(|n| n == "__Host-atoms_session")
    );
    assert_eq!(seen["tokenAfterSignOut"], 401);
    assert_eq!(api.revoked().len(), 1, "WorkOS revoked the session");
    assert_eq!(seen["replayStatus"], 400);
    assert!(seen["replayText"].as_str().expect("text").contains("already used"));
    let csp_errors: Vec<&Value> = seen["consoleErrors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter(|e| e.as_str().is_some_and(|e| e.contains("Content Security Policy")))
        .collect();
    assert!(csp_errors.is_empty(), "CSP violations: {csp_errors:?}");
}
