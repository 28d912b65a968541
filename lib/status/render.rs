//! The status page's HTML: tables and [`svg`](super::svg) charts, no script, no stylesheet.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::StatusData;
use super::svg::{Line, chart, escape, number};
use crate::health::checks::CheckStatus;
use crate::metrics::series::{Hist, Metric};
use crate::metrics::snapshot::sum;

/// The whole document.
pub(super) fn page(data: &StatusData) -> String {
    let mut html = String::with_capacity(32 * 1024);
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Atoms status</title></head><body>\
         <h1>Atoms status</h1><p>Version {} (commit {}), region {}, target {} — fleet-wide, last {} minutes, \
         generated {} UTC.</p>",
        escape(data.version),
        escape(&data.commit),
        escape(&data.region),
        data.target,
        data.minutes.len(),
        clock(data.generated_at),
    );
    dependencies(&mut html, data);
    traffic(&mut html, data);
    routes(&mut html, data);
    tools(&mut html, data);
    alerts(&mut html, data);
    html.push_str("</body></html>");
    html
}

fn dependencies(html: &mut String, data: &StatusData) {
    html.push_str("<h2>Dependencies</h2><table border=\"1\" cellpadding=\"4\"><tr><th>dependency</th><th>status</th><th>latency</th><th>detail</th></tr>");
    for (name, check) in &data.checks {
        let (status, colour) = match check.status {
            CheckStatus::Ok => ("ok", "#1a7f37"),
            CheckStatus::Error => ("down", "#cf222e"),
            CheckStatus::NotConfigured => ("not configured", "#6e7781"),
        };
        let latency = check.latency_ms.map(|ms| format!("{} ms", number(ms))).unwrap_or_default();
        let _ = write!(
            html,
            "<tr><td>{name}</td><td><font color=\"{colour}\"><b>{status}</b></font></td><td>{latency}</td><td>{}</td></tr>",
            escape(check.error.as_deref().unwrap_or("")),
        );
    }
    let _ = write!(html, "</table><p>Legacy MCP sessions active: <b>{}</b></p>", data.sessions_active);
}

fn traffic(html: &mut String, data: &StatusData) {
    let per_minute: Vec<(f64, f64, f64)> = data
        .minutes
        .iter()
        .map(|(_, minute)| {
            let requests = minute.count(Metric::HttpRequests, |_| true) as f64;
            let errors = minute.count(Metric::HttpRequests, |s| s.label("status").starts_with('5')) as f64;
            let p95 = minute.hist(Metric::HttpDuration, |_| true).quantile(0.95).unwrap_or(0.0) * 1000.0;
            (requests, errors, p95)
        })
        .collect();
    let requests: Vec<f64> = per_minute.iter().map(|m| m.0).collect();
    let errors: Vec<f64> = per_minute.iter().map(|m| m.1).collect();
    let p95: Vec<f64> = per_minute.iter().map(|m| m.2).collect();
    let total: f64 = requests.iter().sum();
    let failed: f64 = errors.iter().sum();
    let rate = if total > 0.0 { failed / total * 100.0 } else { 0.0 };
    let _ = write!(
        html,
        "<h2>Requests</h2><p><b>{}</b> requests, <b>{}</b> answered 5xx (error rate <b>{:.2} %</b>).</p>{}{}",
        number(total),
        number(failed),
        rate,
        chart(
            "requests and 5xx errors per minute",
            "per minute",
            &[
                Line { label: "requests", colour: "#0969da", values: &requests },
                Line { label: "5xx", colour: "#cf222e", values: &errors },
            ],
        ),
        chart("p95 latency per minute", "ms", &[Line { label: "p95", colour: "#8250df", values: &p95 }]),
    );
}

/// Per-label rows of the hour: requests (or calls), errors, p95.
struct Row {
    count: u64,
    errors: u64,
    latency: Hist,
}

fn routes(html: &mut String, data: &StatusData) {
    let hour = sum(&data.minutes);
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for (series, count) in hour.counters.iter().filter(|(s, _)| s.metric == Metric::HttpRequests) {
        let row = rows.entry(series.label("route").to_owned()).or_insert_with(empty);
        row.count += count;
        if series.label("status").starts_with('5') {
            row.errors += count;
        }
    }
    for (series, hist) in hour.histograms.iter().filter(|(s, _)| s.metric == Metric::HttpDuration) {
        rows.entry(series.label("route").to_owned()).or_insert_with(empty).latency.add(hist);
    }
    table(html, "Routes", "route", "requests", &rows);
}

fn tools(html: &mut String, data: &StatusData) {
    let hour = sum(&data.minutes);
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for (series, count) in hour.counters.iter().filter(|(s, _)| s.metric == Metric::ToolCalls) {
        let row = rows.entry(series.label("tool").to_owned()).or_insert_with(empty);
        row.count += count;
        if series.label("outcome") != "ok" {
            row.errors += count;
        }
    }
    for (series, hist) in hour.histograms.iter().filter(|(s, _)| s.metric == Metric::ToolDuration) {
        rows.entry(series.label("tool").to_owned()).or_insert_with(empty).latency.add(hist);
    }
    table(html, "Tools", "tool", "calls", &rows);
}

fn empty() -> Row {
    Row { count: 0, errors: 0, latency: Hist::default() }
}

fn table(html: &mut String, title: &str, key: &str, counted: &str, rows: &BTreeMap<String, Row>) {
    let _ = write!(html, "<h2>{title} (last hour)</h2>");
    if rows.is_empty() {
        let _ = write!(html, "<p>No {counted} in the last hour.</p>");
        return;
    }
    let _ = write!(
        html,
        "<table border=\"1\" cellpadding=\"4\"><tr><th>{key}</th><th>{counted}</th><th>errors</th><th>p95</th></tr>"
    );
    for (name, row) in rows {
        let p95 =
            row.latency.quantile(0.95).map(|s| format!("{} ms", number(s * 1000.0))).unwrap_or_default();
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{p95}</td></tr>",
            escape(name),
            row.count,
            row.errors
        );
    }
    html.push_str("</table>");
}

fn alerts(html: &mut String, data: &StatusData) {
    html.push_str("<h2>Recent alerts (24 h)</h2>");
    if data.alerts.is_empty() {
        html.push_str("<p>No alerts.</p>");
        return;
    }
    html.push_str("<table border=\"1\" cellpadding=\"4\"><tr><th>at (UTC)</th><th>rule</th><th>state</th><th>summary</th></tr>");
    for alert in &data.alerts {
        let text = |field: &str| escape(alert[field].as_str().unwrap_or(""));
        let colour = if alert["status"] == "firing" { "#cf222e" } else { "#1a7f37" };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td><font color=\"{colour}\">{}</font></td><td>{}</td></tr>",
            clock(alert["at"].as_u64().unwrap_or(0)),
            text("rule"),
            text("status"),
            text("summary"),
        );
    }
    html.push_str("</table>");
}

/// `HH:MM:SS` of a Unix time (the page says the day is today's, UTC).
fn clock(unix: u64) -> String {
    let day = unix % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}
