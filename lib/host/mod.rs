//! The hosts a router runs on: Vercel's Rust runtime (default), AWS Lambda (`--features
//! lambda`, which takes precedence when both are compiled in) and a plain local listener
//! ([`local`], used by `atoms serve` and tests).

#[cfg(feature = "lambda")]
mod lambda;
pub mod local;
#[cfg(all(feature = "vercel", not(feature = "lambda")))]
mod vercel;

use axum::Router;

use crate::config::Config;
use crate::state::AppState;
use crate::telemetry;

/// Errors that end a function process.
pub type HostError = Box<dyn std::error::Error + Send + Sync>;

/// The whole life of a function binary: read configuration (failing with every problem named),
/// start logging, build shared state once, then serve the function's router `slice`.
pub async fn run_function(slice: fn(AppState) -> Router) -> Result<(), HostError> {
    let config = Config::from_env().map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        format!("invalid configuration:\n  {}", lines.join("\n  "))
    })?;
    telemetry::init(&config.log, config.observability.traces.as_ref());
    let state = AppState::new(config)?;
    run(slice(state.clone()), state).await
}

/// Serves `router` on the platform this binary was built for, until the platform stops it.
/// `state`'s metrics are flushed after responses: in the background on Vercel (`wait_until`),
/// before the invocation returns on Lambda, on a timer (and at shutdown) elsewhere.
pub async fn run(router: Router, state: AppState) -> Result<(), HostError> {
    // Boxed as a trait object: lambda_http's streaming service nests futures deeply enough that
    // computing the layout of each binary's `main` future would pass rustc's recursion limit.
    #[cfg(feature = "lambda")]
    return {
        let serve: std::pin::Pin<Box<dyn Future<Output = Result<(), HostError>> + Send>> =
            Box::pin(lambda::run(router, state));
        serve.await
    };
    #[cfg(all(feature = "vercel", not(feature = "lambda")))]
    return vercel::run(router, state).await;
    #[cfg(not(any(feature = "vercel", feature = "lambda")))]
    {
        // No platform compiled in: serve on loopback so the binary is still useful locally.
        let port = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
        let listener = local::bind(std::net::SocketAddr::from(([127, 0, 0, 1], port))).await?;
        local::serve_with_metrics(listener, router, state).await.map_err(Into::into)
    }
}
