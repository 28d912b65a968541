//! The official Python MCP SDK client (PyPI `mcp`, pinned in `tests/support/python/requirements.txt`,
//! installed by `scripts/test` into a venv under `target/test-tools/python`) as a test helper.
//!
//! [`SdkClient`] runs `tests/support/python/drive_tools.py` as a child process that stays
//! connected and makes one `call_tool` per JSON line: the scenario is written in Rust, a test can
//! act between calls (stop the database), and every call still goes through the real SDK — its
//! transport, era negotiation, result parsing and `outputSchema` validation.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

use super::TempDir;

/// The venv's interpreter; fails with how to install it when absent.
pub fn python() -> PathBuf {
    let venv = super::test_tools_dir().join("python");
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "the Python MCP SDK venv is not installed at {}: run scripts/test (it creates the venv with \
         `python3 -m venv` and installs tests/support/python/requirements.txt into it)",
        venv.display()
    );
    python
}

/// Runs `tests/support/python/<script>` on the venv's interpreter with `input` on stdin and
/// returns its output (the caller judges the status).
pub fn run_script(script: &str, input: &[u8]) -> std::process::Output {
    use std::io::Write as _;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/python").join(script);
    let mut child = Command::new(python())
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {script}: {e}"));
    child.stdin.take().expect("stdin").write_all(input).expect("write the script's input");
    child.wait_with_output().expect("the script's output")
}

/// How the SDK connects.
#[derive(Debug, Clone, Copy)]
pub enum Era {
    /// `mode="legacy"`: the 2025-11-25 initialize handshake and an `Mcp-Session-Id` session.
    Legacy,
    /// `mode="auto"`: the SDK probes `server/discover` and adopts 2026-07-28 (stateless).
    Stateless,
}

impl Era {
    fn mode(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::Stateless => "auto",
        }
    }

    /// The protocol version the SDK must end up with.
    pub fn protocol_version(self) -> &'static str {
        match self {
            Self::Legacy => "2025-11-25",
            Self::Stateless => "2026-07-28",
        }
    }
}

/// A connected SDK client; the process is killed if the handle drops before [`SdkClient::close`].
pub struct SdkClient {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    dir: TempDir,
    /// What the SDK negotiated.
    pub protocol_version: String,
    /// The tool names `list_tools` returned.
    pub tools: Vec<String>,
    /// Each listed tool's `inputSchema`, by name.
    pub input_schemas: Value,
}

impl SdkClient {
    /// Connects to the MCP endpoint `url` in `era`, as `token`'s user (none: the local user).
    pub fn connect(url: &str, era: Era, token: Option<&str>) -> Self {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/python/drive_tools.py");
        let dir = TempDir::new("sdk");
        let mut child = Command::new(python())
            .arg(script)
            .args([url, era.mode()])
            .args(token)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.0.join("stderr")).expect("stderr file"))
            .spawn()
            .expect("start the Python SDK client");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut client = Self {
            child,
            stdin,
            stdout,
            dir,
            protocol_version: String::new(),
            tools: Vec::new(),
            input_schemas: Value::Null,
        };
        let hello = client.read_line("connect");
        client.protocol_version = hello["protocol_version"].as_str().unwrap_or_default().to_owned();
        client.tools = serde_json::from_value(hello["tools"].clone()).unwrap_or_default();
        client.input_schemas = hello["input_schemas"].clone();
        client
    }

    /// One `call_tool` through the SDK: `{"result": <CallToolResult, wire form>, "resources":
    /// [<embedded resources parsed by MIME type>]}`, or `{"exception", "code", "message"}` when
    /// the SDK raised.
    pub fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let request = json!({"tool": tool, "arguments": arguments}).to_string();
        let stdin = self.stdin.as_mut().expect("the client is open");
        writeln!(stdin, "{request}").and_then(|()| stdin.flush()).expect("write to the SDK client");
        self.read_line(&request)
    }

    /// A call that must succeed: its `structuredContent`, checked against the text block (the
    /// same JSON) and the echoed operation.
    pub fn ok(&mut self, tool: &str, arguments: Value) -> Value {
        let report = self.call(tool, arguments.clone());
        let result = &report["result"];
        assert_eq!(result["isError"], false, "{tool} {arguments} failed: {report}");
        let structured = result["structuredContent"].clone();
        let text = result["content"][0]["text"].as_str().unwrap_or_else(|| panic!("a text block: {report}"));
        assert_eq!(serde_json::from_str::<Value>(text).ok(), Some(structured.clone()), "{report}");
        assert_eq!(structured["operation"], arguments["operation"], "{report}");
        structured
    }

    /// [`SdkClient::ok`]'s `data`.
    pub fn data(&mut self, tool: &str, arguments: Value) -> Value {
        self.ok(tool, arguments)["data"].clone()
    }

    /// A call that must fail as a tool result (`isError`): its `{code, message}`.
    pub fn err(&mut self, tool: &str, arguments: Value) -> Value {
        let report = self.call(tool, arguments.clone());
        let result = &report["result"];
        assert_eq!(result["isError"], true, "{tool} {arguments} should fail: {report}");
        result["structuredContent"]["error"].clone()
    }

    /// Ends the connection (legacy: the SDK sends `DELETE`); asserts the client exited cleanly
    /// and returns what the SDK logged.
    pub fn close(mut self) -> String {
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait for the SDK client");
        let stderr = self.stderr();
        assert!(status.success(), "the SDK client failed ({status}):\n{stderr}");
        stderr
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("stderr")).unwrap_or_default()
    }

    fn read_line(&mut self, what: &str) -> Value {
        let mut line = String::new();
        let read = self.stdout.read_line(&mut line).expect("read from the SDK client");
        if read == 0 {
            let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
            panic!("the SDK client exited ({status}) during {what}:\n{}", self.stderr());
        }
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("one JSON line expected ({e}): {line}"))
    }
}

impl Drop for SdkClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `id` of an item of a tool's `data`.
pub fn id(item: &Value) -> String {
    item["id"].as_str().unwrap_or_else(|| panic!("an id: {item}")).to_owned()
}

/// The ids of a list of items, in order.
pub fn ids(items: &Value) -> Vec<String> {
    items.as_array().unwrap_or_else(|| panic!("an array: {items}")).iter().map(id).collect()
}

/// The `name`s of a list of items (entities, export rows), in order.
pub fn names(items: &Value) -> Vec<String> {
    let items = items.as_array().unwrap_or_else(|| panic!("an array: {items}"));
    items.iter().map(|i| i["name"].as_str().unwrap_or_else(|| panic!("a name: {i}")).to_owned()).collect()
}
