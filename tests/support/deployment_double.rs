//! A deployment double for `atoms smoke` (and the scripts that run it): a minimal HTTP/1.1
//! server that answers the smoke checks the way a complete deployment will once the auth,
//! metrics and rate-limit work lands — a 401 challenge whose `resource_metadata` points at an
//! unusual path, the RFC 9728 document there, a refused `/metrics`, `RateLimit` headers — so
//! the passing path of every check runs today. One request per connection, answered by its
//! request line.

//!
//! [`protected`] is the same deployment behind Vercel Deployment Protection: every request
//! without the right `x-vercel-protection-bypass` header gets Vercel's 401, and every request
//! head it receives is kept for the test to inspect.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

/// The one bearer token the double accepts on the MCP route (for `tools/list` and the tool call).
pub const TOKEN: &str = "double-token-for-smoke";

/// A running double: its port and the heads (request line and headers) of what it received.
pub struct Double {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl Double {
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The request heads received so far.
    pub fn received(&self) -> Vec<String> {
        self.requests.lock().expect("requests").clone()
    }
}

/// A minimal HTTP/1.1 server answering each request by its request line (one per connection).
pub fn start() -> u16 {
    serve(None, None).port
}

/// The double behind Deployment Protection that admits `bypass_secret`; its challenge's
/// `resource_metadata` points at `metadata_origin` when given (another host), else at itself.
pub fn protected(bypass_secret: &str, metadata_origin: Option<String>) -> Double {
    serve(Some(bypass_secret.to_owned()), metadata_origin)
}

/// An unprotected double that records what it receives (e.g. the host the metadata lives on).
pub fn recording() -> Double {
    serve(None, None)
}

fn serve(bypass_secret: Option<String>, metadata_origin: Option<String>) -> Double {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let origin = format!("http://127.0.0.1:{port}");
    let metadata_origin = metadata_origin.unwrap_or_else(|| origin.clone());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let received = Arc::clone(&requests);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buffer = [0u8; 8192];
            let read = stream.read(&mut buffer).unwrap_or(0);
            let request = String::from_utf8_lossy(&buffer[..read]).into_owned();
            let head = request.split("\r\n\r\n").next().unwrap_or_default().to_owned();
            received.lock().expect("requests").push(head.clone());
            let line = request.lines().next().unwrap_or_default().to_owned();
            let admitted = bypass_secret.as_ref().is_none_or(|secret| {
                head.lines().skip(1).any(|header| {
                    header.split_once(':').is_some_and(|(name, value)| {
                        name.trim().eq_ignore_ascii_case("x-vercel-protection-bypass")
                            && value.trim() == secret
                    })
                })
            });
            if !admitted {
                // Vercel's answer to a protected deployment's non-browser caller.
                let body = "Authentication Required";
                let response = format!(
                    "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes());
                continue;
            }
            let security = "strict-transport-security: max-age=63072000\r\nx-content-type-options: nosniff\r\n\
                            x-frame-options: DENY\r\nreferrer-policy: no-referrer\r\ncontent-security-policy: default-src 'none'\r\n";
            let (status, headers, body) = if line.starts_with("GET /health/live ") {
                ("200 OK", String::new(), r#"{"status":"alive"}"#.to_owned())
            } else if line.starts_with("GET /health/ready ") {
                ("200 OK", String::new(), r#"{"status":"ready"}"#.to_owned())
            } else if line.starts_with("GET /health ") {
                (
                    "200 OK",
                    String::new(),
                    r#"{"status":"healthy","checks":{"database":{"status":"ok"}}}"#.to_owned(),
                )
            } else if line.starts_with("OPTIONS /api/mcp ") {
                (
                    "204 No Content",
                    "access-control-allow-origin: *\r\naccess-control-allow-methods: GET,POST,DELETE,OPTIONS\r\n\
                     access-control-allow-headers: authorization,content-type,mcp-protocol-version\r\n"
                        .to_owned(),
                    String::new(),
                )
            } else if line.starts_with("POST /api/mcp ")
                && head.lines().any(|h| h.eq_ignore_ascii_case(&format!("authorization: Bearer {TOKEN}")))
            {
                let limits = "ratelimit-policy: \"user\";q=120;w=60\r\nratelimit: \"user\";r=118;t=1\r\n";
                let call = head.lines().any(|h| h.eq_ignore_ascii_case("mcp-method: tools/call"));
                let result = if call {
                    r#"{"content":[{"type":"text","text":"[]"}],"isError":false}"#
                } else {
                    r#"{"tools":[{"name":"workspace_tool"},{"name":"entity_tool"}]}"#
                };
                ("200 OK", limits.to_owned(), format!(r#"{{"jsonrpc":"2.0","id":1,"result":{result}}}"#))
            } else if line.starts_with("POST /api/mcp ") {
                (
                    "401 Unauthorized",
                    format!(
                        "www-authenticate: Bearer resource_metadata=\"{metadata_origin}/oauth/metadata/for/api/mcp\"\r\n\
                         ratelimit-policy: \"user\";q=120;w=60\r\nratelimit: \"user\";r=119;t=1\r\n"
                    ),
                    r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"authentication required"}}"#.to_owned(),
                )
            } else if line.starts_with("GET /oauth/metadata/for/api/mcp ") {
                (
                    "200 OK",
                    String::new(),
                    format!(
                        r#"{{"resource":"{origin}/api/mcp","authorization_servers":["https://acme.authkit.app"]}}"#
                    ),
                )
            } else if line.starts_with("GET /metrics ") {
                ("401 Unauthorized", String::new(), r#"{"error":{"code":"unauthenticated"}}"#.to_owned())
            } else {
                ("404 Not Found", String::new(), "{}".to_owned())
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{security}{headers}\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    Double { port, requests }
}
