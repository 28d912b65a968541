//! Logging set-up: `tracing` to stderr as JSON lines (or text), one subscriber per process.
//!
//! What may be logged is decided at the call sites (see ARCHITECTURE.md, "Invariants"): request
//! lines carry method, path, status, latency and request id — never headers, query strings,
//! bodies, tokens, cookies or emails.

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. Safe to call more than once (later calls are no-ops), which
/// keeps tests that build several servers in one process simple.
pub fn init(config: &LogConfig) {
    let builder = tracing_subscriber::fmt()
        .with_max_level(config.level)
        .with_writer(std::io::stderr)
        .with_target(false);
    let result = match (config.format, config.timestamps) {
        (LogFormat::Json, true) => builder.json().flatten_event(true).try_init(),
        (LogFormat::Json, false) => builder.json().flatten_event(true).without_time().try_init(),
        (LogFormat::Text, true) => builder.with_ansi(false).try_init(),
        (LogFormat::Text, false) => builder.with_ansi(false).without_time().try_init(),
    };
    // An error only means a subscriber is already installed, which is what we want.
    if result.is_ok() {
        install_panic_hook();
    }
}

/// Logs panics as one JSON line with the location only. The payload is left out: a panic
/// message can quote whatever value was being handled (a token, a body).
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        tracing::error!(location, "panic (inside a request it is answered with a 500)");
    }));
}
