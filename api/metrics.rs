//! Vercel function `api/metrics.rs`: `/metrics` (fleet-wide Prometheus exposition) and `/status`.

use atoms::{host, router};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), host::HostError> {
    host::run_function(router::metrics).await
}
