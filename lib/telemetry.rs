//! Logging set-up: `tracing` to stderr as JSON lines (or text), one subscriber per process.
//!
//! What may be logged is decided at the call sites (see ARCHITECTURE.md, "Invariants"): request
//! lines carry method, path, status, latency and request id — never headers, query strings,
//! bodies, tokens, cookies or emails.

use std::fmt::Write as _;

use tracing::Level;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::Context;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogConfig, LogFormat, TraceExportConfig};

/// Installs the global subscriber, with the trace exporter ([`crate::otlp`]) when `traces` is
/// configured. Safe to call more than once (later calls are no-ops), which keeps tests that
/// build several servers in one process simple.
pub fn init(config: &LogConfig, traces: Option<&TraceExportConfig>) {
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false);
    let filter = filter(config.level);
    let writer = match (config.format, config.timestamps) {
        (LogFormat::Json, true) => layer.json().flatten_event(true).with_filter(filter).boxed(),
        (LogFormat::Json, false) => {
            layer.json().flatten_event(true).without_time().with_filter(filter).boxed()
        }
        (LogFormat::Text, true) => layer.with_ansi(false).with_filter(filter).boxed(),
        (LogFormat::Text, false) => layer.with_ansi(false).without_time().with_filter(filter).boxed(),
    };
    // The relay comes after the writer: it emits a new event from inside `on_event`, and
    // per-layer filter state is only reliable for layers that already saw the outer event.
    let relay = RmcpRelay.with_filter(relay_filter(config.level));
    let subscriber = tracing_subscriber::registry().with(writer).with(relay);
    // Without export no layer is added at all: an absent `Option` layer would still answer
    // `Interest::always`, turning callsites the writer never wants into per-event checks.
    let result = match crate::otlp::layer(traces) {
        Some(otlp) => subscriber.with(otlp).try_init(),
        None => subscriber.try_init(),
    };
    // An error only means a subscriber is already installed, which is what we want.
    if result.is_ok() {
        install_panic_hook();
    }
}

/// `level` for our own events. rmcp logs session ids (bearer-like capabilities of legacy
/// sessions) at every level — at INFO as routine, at WARN/ERROR when the session store fails —
/// so its events are written as they are only when debugging; otherwise [`RmcpRelay`] rewrites
/// its warnings and errors.
fn filter(level: LevelFilter) -> Targets {
    let rmcp = if level >= LevelFilter::DEBUG { level } else { LevelFilter::OFF };
    Targets::new().with_default(level).with_target("rmcp", rmcp)
}

/// Which rmcp events [`RmcpRelay`] sees: WARN and ERROR (within `level`), unless debugging.
fn relay_filter(level: LevelFilter) -> Targets {
    let relayed = if level >= LevelFilter::DEBUG { LevelFilter::OFF } else { level.min(LevelFilter::WARN) };
    Targets::new().with_target("rmcp", relayed)
}

/// Re-emits rmcp's warnings and errors under the target `atoms::rmcp` with session ids removed:
/// `session_id` fields and every run of 16+ hex digits (rmcp's ids are UUIDs) become
/// `[redacted]`.
struct RmcpRelay;

impl<S: tracing::Subscriber> Layer<S> for RmcpRelay {
    fn on_event(&self, event: &tracing::Event<'_>, _context: Context<'_, S>) {
        let mut text = RedactedFields(String::new());
        event.record(&mut text);
        let source = event.metadata().target();
        let text = text.0;
        match *event.metadata().level() {
            Level::ERROR => tracing::error!(target: "atoms::rmcp", source, "{text}"),
            Level::WARN => tracing::warn!(target: "atoms::rmcp", source, "{text}"),
            _ => {}
        }
    }
}

/// An event's fields as one line, session ids redacted.
struct RedactedFields(String);

impl Visit for RedactedFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record(field, &format!("{value:?}"));
    }
}

impl RedactedFields {
    fn record(&mut self, field: &Field, value: &str) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        match field.name() {
            "message" => {}
            name => {
                let _ = write!(self.0, "{name}=");
            }
        }
        if field.name() == "session_id" {
            self.0.push_str("[redacted]");
        } else {
            self.0.push_str(&redact_ids(value));
        }
    }
}

/// `text` with every run of hex digits and dashes that holds 16+ hex digits replaced.
fn redact_ids(text: &str) -> String {
    fn flush(out: &mut String, run: &mut String) {
        if run.chars().filter(char::is_ascii_hexdigit).count() >= 16 {
            out.push_str("[redacted]");
        } else {
            out.push_str(run);
        }
        run.clear();
    }
    let (mut out, mut run) = (String::with_capacity(text.len()), String::new());
    for c in text.chars() {
        if c.is_ascii_hexdigit() || c == '-' {
            run.push(c);
        } else {
            flush(&mut out, &mut run);
            out.push(c);
        }
    }
    flush(&mut out, &mut run);
    out
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
    fn rmcp_logs_are_relayed_unless_debugging() {
        let info = filter(LevelFilter::INFO);
        assert!(info.would_enable("atoms::http", &tracing::Level::INFO));
        assert!(info.would_enable("atoms::rmcp", &tracing::Level::WARN));
        assert!(!info.would_enable("rmcp::transport::streamable_http_server", &tracing::Level::INFO));
        assert!(!info.would_enable("rmcp::service", &tracing::Level::ERROR), "only through the relay");
        let relay = relay_filter(LevelFilter::INFO);
        assert!(relay.would_enable("rmcp::service", &tracing::Level::WARN));
        assert!(!relay.would_enable("rmcp::service", &tracing::Level::INFO));
        assert!(!relay.would_enable("atoms::rmcp", &tracing::Level::WARN), "never its own events");
        let debug = filter(LevelFilter::DEBUG);
        assert!(debug.would_enable("rmcp::service", &tracing::Level::DEBUG));
        assert!(!relay_filter(LevelFilter::DEBUG).would_enable("rmcp::service", &tracing::Level::WARN));
        assert!(!relay_filter(LevelFilter::ERROR).would_enable("rmcp::service", &tracing::Level::WARN));
    }

    #[test]
    fn session_ids_are_redacted() {
        assert_eq!(
            redact_ids("Failed to persist session 0b6f9f0e-33a5-4c8e-9d59-2f5a3c1d7e42 to store: timeout"),
            "Failed to persist session [redacted] to store: timeout"
        );
        assert_eq!(redact_ids("session-id deadbeef cafe-12"), "session-id deadbeef cafe-12");
    }
}
