//! Vercel function `api/mcp.rs`: the MCP endpoint (`/api/mcp`).

use atoms::{host, router};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), host::HostError> {
    host::run_function(router::mcp).await
}
