//! OAuth discovery end to end with an official MCP SDK client: the Python SDK's
//! `OAuthClientProvider` against a real `atoms serve` in `authkit` mode, trusting the
//! AuthKit/WorkOS double. 401 → Protected Resource Metadata → authorization server metadata →
//! dynamic client registration → authorize (PKCE, resource indicator) → token → `tools/list`,
//! in both protocol eras. The token never reaches the server's logs.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use support::authkit::{AuthKitDouble, Family};

fn sign_in_and_list(mode: &str) {
    let double = AuthKitDouble::start();
    let port = support::free_port();
    let public = format!("http://127.0.0.1:{port}");
    let env = double.env(&public);
    let mut vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    vars.push(("LOG_LEVEL", "debug"));
    let mut server = support::atoms_serve_on(port, &[], &vars);

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/python/oauth_list_tools.py");
    let output = Command::new(support::sdk::python())
        .arg(script)
        .arg(format!("{public}/api/mcp"))
        .arg(mode)
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .expect("run the Python SDK client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let logs = server.logs();
    assert!(output.status.success(), "the client failed ({}):\n{stderr}\nserver:\n{logs}", output.status);
    let report: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("one JSON line expected ({e}):\n{stdout}\n{stderr}"));
    assert_eq!(
        report["tools"],
        serde_json::json!([
            "workspace_tool",
            "entity_tool",
            "relationship_tool",
            "workflow_tool",
            "query_tool"
        ]),
        "{report}"
    );
    assert_eq!(report["authorizations"], 1, "one sign-in: {report}");
    assert_eq!(report["resource"], format!("{public}/api/mcp"), "RFC 8707 resource indicator: {report}");
    assert_eq!(report["code_challenge_method"], "S256");
    assert_eq!(double.state.jwks_fetches(Family::Mcp), 1, "the server fetched AuthKit's keys once");
    let token = report["access_token"].as_str().expect("a token");
    assert!(token.len() > 100, "an RS256 JWT: {report}");
    assert!(!logs.contains(token), "the token is never logged");
    let signature = token.rsplit('.').next().expect("signature");
    assert!(!logs.contains(signature), "not even its signature");
    assert!(logs.contains("\"status\":401"), "the first request was challenged:\n{logs}");
}

#[test]
fn a_legacy_session_signs_in_through_oauth_discovery() {
    sign_in_and_list("legacy");
}

#[test]
fn a_stateless_client_signs_in_through_oauth_discovery() {
    sign_in_and_list("2026-07-28");
}
