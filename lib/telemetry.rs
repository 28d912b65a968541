//! Logging set-up: `tracing` to stderr as JSON lines (or text), one subscriber per process.
//!
//! What may be logged is decided at the call sites (see ARCHITECTURE.md, "Invariants"): request
//! lines carry method, path, status, latency and request id — never headers, query strings,
//! bodies, tokens, cookies or emails.

use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. Safe to call more than once (later calls are no-ops), which
/// keeps tests that build several servers in one process simple.
pub fn init(config: &LogConfig) {
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false);
    let filter = filter(config.level);
    let registry = tracing_subscriber::registry();
    let result = match (config.format, config.timestamps) {
        (LogFormat::Json, true) => {
            registry.with(layer.json().flatten_event(true).with_filter(filter)).try_init()
        }
        (LogFormat::Json, false) => {
            registry.with(layer.json().flatten_event(true).without_time().with_filter(filter)).try_init()
        }
        (LogFormat::Text, true) => registry.with(layer.with_ansi(false).with_filter(filter)).try_init(),
        (LogFormat::Text, false) => {
            registry.with(layer.with_ansi(false).without_time().with_filter(filter)).try_init()
        }
    };
    // An error only means a subscriber is already installed, which is what we want.
    if result.is_ok() {
        install_panic_hook();
    }
}

/// `level` for our own events. rmcp logs session ids (bearer-like capabilities of legacy
/// sessions) and client details at INFO, so its events pass only from WARN up unless debugging.
fn filter(level: LevelFilter) -> Targets {
    let rmcp = if level >= LevelFilter::DEBUG { level } else { level.min(LevelFilter::WARN) };
    Targets::new().with_default(level).with_target("rmcp", rmcp)
}

/// Logs panics as one JSON line with the location only. The payload is left out: a panic
/// message can quote whatever value was being handled (a token, a body).
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        tracing::error!(location, "panic (inside a request it is answered with a 500)");
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmcp_info_logs_are_held_back_unless_debugging() {
        let info = filter(LevelFilter::INFO);
        assert!(info.would_enable("atoms::http", &tracing::Level::INFO));
        assert!(!info.would_enable("rmcp::transport::streamable_http_server", &tracing::Level::INFO));
        assert!(info.would_enable("rmcp::service", &tracing::Level::WARN));
        let debug = filter(LevelFilter::DEBUG);
        assert!(debug.would_enable("rmcp::service", &tracing::Level::DEBUG));
        let error = filter(LevelFilter::ERROR);
        assert!(!error.would_enable("rmcp::service", &tracing::Level::WARN));
    }
}
