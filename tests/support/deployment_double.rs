//! A deployment double for `atoms smoke` (and the scripts that run it): a minimal HTTP/1.1
//! server that answers the smoke checks the way a complete deployment will once the auth,
//! metrics and rate-limit work lands — a 401 challenge whose `resource_metadata` points at an
//! unusual path, the RFC 9728 document there, a refused `/metrics`, `RateLimit` headers — so
//! the passing path of every check runs today. One request per connection, answered by its
//! request line.

use std::io::{Read, Write};

/// A minimal HTTP/1.1 server answering each request by its request line (one per connection).
pub fn start() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let origin = format!("http://127.0.0.1:{port}");
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buffer = [0u8; 8192];
            let read = stream.read(&mut buffer).unwrap_or(0);
            let request = String::from_utf8_lossy(&buffer[..read]).into_owned();
            let line = request.lines().next().unwrap_or_default().to_owned();
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
            } else if line.starts_with("POST /api/mcp ") {
                (
                    "401 Unauthorized",
                    format!(
                        "www-authenticate: Bearer resource_metadata=\"{origin}/oauth/metadata/for/api/mcp\"\r\n\
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
    port
}
