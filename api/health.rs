//! Vercel function `api/health.rs`: `/health`, `/health/live`, `/health/ready`.

use atoms::{host, router};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), host::HostError> {
    host::run_function(router::health).await
}
