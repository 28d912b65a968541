//! The official Python MCP SDK client (PyPI `mcp`, pinned in `tests/support/python/requirements.txt`,
//! installed by `scripts/test` into a venv under `target/test-tools/python`) against a real
//! `atoms serve`: interop warts a raw-HTTP test cannot see (such as a status the SDK does not
//! accept) fail here instead of surfacing as a user's bug report.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};

#[test]
fn a_legacy_session_lists_tools_and_ends_cleanly() {
    let python = support::sdk::python();
    let server = support::atoms_serve(&[], &[("LOG_LEVEL", "warn")]);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/python/list_tools_legacy.py");
    let output = Command::new(python)
        .arg(script)
        .arg(format!("http://127.0.0.1:{}/api/mcp", server.port))
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .expect("run the Python SDK client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the client failed ({}):\n{stderr}", output.status);
    assert!(
        !stderr.to_lowercase().contains("termination failed"),
        "the SDK did not accept how the session ended:\n{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("one JSON line expected ({e}):\n{stdout}\n{stderr}"));
    assert_eq!(report["protocol_version"], "2025-11-25", "legacy mode: {report}");
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
}

/// Runs `tests/support/python/<script>` with `args`; its one JSON line.
async fn run_script(script: &str, args: Vec<String>) -> serde_json::Value {
    let python = support::sdk::python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/python").join(script);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python).arg(script).args(args).env_clear().stdin(Stdio::null()).output()
    })
    .await
    .expect("join")
    .expect("run the Python SDK client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the client failed ({}):\n{stderr}", output.status);
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("one JSON line expected ({e}):\n{stdout}\n{stderr}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sdk_confirms_deletes_in_both_eras_and_hears_progress() {
    let url = support::postgres::fresh_database().await;
    let base = support::spawn_app(support::config(&[("DATABASE_URL", url.expose())])).await;
    for (mode, version) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let report = run_script("interactions.py", vec![format!("{base}/api/mcp"), mode.to_owned()]).await;
        for answer in ["decline", "accept"] {
            let outcome = &report[answer];
            assert_eq!(outcome["protocol_version"], version, "{mode}: {report}");
            let asked = outcome["asked"][0].as_str().unwrap_or_default();
            assert!(
                asked.contains(&format!("Doomed {answer}")) && asked.contains("1 entity"),
                "{mode} asked: {report}"
            );
            assert_eq!(outcome["is_error"], false, "{mode} {answer}: {report}");
            let accepted = answer == "accept";
            assert_eq!(outcome["deleted"], accepted, "{mode} {answer}: {report}");
            assert_eq!(outcome["still_readable"], !accepted, "{mode} {answer}: {report}");
        }
        if mode == "legacy" {
            // A session streams notifications: start and end of the run.
            assert_eq!(
                report["progress"],
                serde_json::json!(["0.0/1.0 execute_workflow: started", "1.0/1.0 execute_workflow: done"]),
                "{report}"
            );
        }
    }
}
