//! Vercel function `api/health.rs`: `/health`, `/health/live`, `/health/ready`.

use atoms::{config::Config, host, router, state::AppState, telemetry};

#[tokio::main]
async fn main() -> Result<(), host::HostError> {
    let config = Config::from_env().map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        format!("invalid configuration:\n  {}", lines.join("\n  "))
    })?;
    telemetry::init(&config.log);
    let state = AppState::new(config)?;
    host::run(router::health(state)).await
}
