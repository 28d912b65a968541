//! Vercel function `api/auth.rs`: the browser sign-in flow (`/auth/login`, `/auth/callback`,
//! `/auth/token`, `/auth/logout`, `/auth/webhooks/workos`).

use atoms::{host, router};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), host::HostError> {
    host::run_function(router::auth).await
}
