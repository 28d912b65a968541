//! The alert rules of the production checklist, judged on the fleet-wide minute aggregates
//! (and, for dependencies, on fresh health probes). Thresholds come from `ALERT_*`.

use crate::config::AlertConfig;
use crate::metrics::series::Metric;
use crate::metrics::snapshot::{Aggregate, sum};

/// The rules, by stable name (their KV state and webhook bodies use it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    ErrorRate,
    LatencyP95,
    DependencyDown,
    AuthFailures,
    RateLimited,
}

impl Rule {
    pub const ALL: [Rule; 5] =
        [Self::ErrorRate, Self::LatencyP95, Self::DependencyDown, Self::AuthFailures, Self::RateLimited];

    pub fn name(self) -> &'static str {
        match self {
            Self::ErrorRate => "error_rate",
            Self::LatencyP95 => "latency_p95",
            Self::DependencyDown => "dependency_down",
            Self::AuthFailures => "auth_failures",
            Self::RateLimited => "rate_limited",
        }
    }

    /// The longest window any rule reads, in minutes.
    pub fn longest_window(config: &AlertConfig) -> u32 {
        config.error_rate_window.max(config.p95_window).max(config.spike_window)
    }
}

/// One rule's judgement now.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub rule: Rule,
    pub firing: bool,
    /// What was measured (a share, seconds, a count; 1/0 for dependencies).
    pub value: f64,
    pub threshold: f64,
    pub window_minutes: u32,
    /// One line for a person: what is wrong (or was), with the numbers.
    pub summary: String,
}

/// Judges every rule. `minutes` are the per-minute aggregates, oldest first, ending with the
/// current minute; `down` names the configured dependencies whose probe just failed.
pub fn judge(config: &AlertConfig, minutes: &[(u64, Aggregate)], down: &[&str]) -> Vec<Verdict> {
    let window = |n: u32| sum(&minutes[minutes.len().saturating_sub(n as usize)..]);
    let mut verdicts = Vec::with_capacity(Rule::ALL.len());

    let errors_window = window(config.error_rate_window);
    let requests = errors_window.count(Metric::HttpRequests, |_| true);
    let errors = errors_window.count(Metric::HttpRequests, |s| s.label("status").starts_with('5'));
    let rate = if requests == 0 { 0.0 } else { errors as f64 / requests as f64 };
    verdicts.push(Verdict {
        rule: Rule::ErrorRate,
        firing: requests >= config.min_requests && rate > config.error_rate,
        value: rate,
        threshold: config.error_rate,
        window_minutes: config.error_rate_window,
        summary: format!(
            "error rate {:.1} % ({errors} of {requests} requests answered 5xx) over {} min; threshold {:.1} %",
            rate * 100.0,
            config.error_rate_window,
            config.error_rate * 100.0
        ),
    });

    let latency = window(config.p95_window).hist(Metric::HttpDuration, |_| true);
    let p95 = latency.quantile(0.95).unwrap_or(0.0);
    verdicts.push(Verdict {
        rule: Rule::LatencyP95,
        firing: latency.count() >= config.min_requests && p95 > config.p95,
        value: p95,
        threshold: config.p95,
        window_minutes: config.p95_window,
        summary: format!(
            "p95 latency {:.0} ms over {} min ({} requests); threshold {:.0} ms",
            p95 * 1000.0,
            config.p95_window,
            latency.count(),
            config.p95 * 1000.0
        ),
    });

    verdicts.push(Verdict {
        rule: Rule::DependencyDown,
        firing: !down.is_empty(),
        value: down.len() as f64,
        threshold: 0.0,
        window_minutes: 0,
        summary: if down.is_empty() {
            "every configured dependency answers its health probe".to_owned()
        } else {
            format!("dependency down: {} (health probe failed)", down.join(", "))
        },
    });

    let spikes = window(config.spike_window);
    for (rule, metric, threshold, what) in [
        (Rule::AuthFailures, Metric::AuthFailures, config.auth_failures, "refused credentials"),
        (Rule::RateLimited, Metric::RateLimited, config.rate_limited, "rate-limited requests"),
    ] {
        // A request without any credential is the first step of OAuth discovery, not a spike.
        let count = spikes.count(metric, |s| s.label("reason") != "missing");
        verdicts.push(Verdict {
            rule,
            firing: count >= threshold,
            value: count as f64,
            threshold: threshold as f64,
            window_minutes: config.spike_window,
            summary: format!("{count} {what} over {} min; threshold {threshold}", config.spike_window),
        });
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::kv::Reply;

    fn config() -> AlertConfig {
        let config = crate::config::Config::embedded();
        config.observability.alerts
    }

    /// A minute holding `fields` (KV field → value), as HGETALL would return it.
    fn minute(fields: &[(&str, u64)]) -> Aggregate {
        let items = fields
            .iter()
            .flat_map(|(field, value)| [Reply::Text((*field).to_owned()), Reply::Text(value.to_string())])
            .collect();
        Aggregate::from_reply(&Reply::List(items))
    }

    fn verdict(verdicts: &[Verdict], rule: Rule) -> &Verdict {
        verdicts.iter().find(|v| v.rule == rule).expect("judged")
    }

    #[test]
    fn error_rate_needs_enough_requests_and_a_high_share() {
        let config = config();
        let calm = [(1, minute(&[("http|/api/mcp|POST|200", 990), ("http|/api/mcp|POST|503", 5)]))];
        assert!(!verdict(&judge(&config, &calm, &[]), Rule::ErrorRate).firing);
        let bad = [(1, minute(&[("http|/api/mcp|POST|200", 90), ("http|/api/mcp|POST|500", 10)]))];
        let judged = judge(&config, &bad, &[]);
        let error_rate = verdict(&judged, Rule::ErrorRate);
        assert!(error_rate.firing, "{error_rate:?}");
        assert!(error_rate.summary.contains("10 of 100"), "{}", error_rate.summary);
        let tiny = [(1, minute(&[("http|/x|GET|500", 3)]))];
        assert!(!verdict(&judge(&config, &tiny, &[]), Rule::ErrorRate).firing, "3 requests are no incident");
        let old = [(1, minute(&[("http|/x|GET|500", 100)]))];
        let mut minutes = old.to_vec();
        minutes.extend((2..=6).map(|m| (m, minute(&[("http|/x|GET|200", 100)]))));
        assert!(!verdict(&judge(&config, &minutes, &[]), Rule::ErrorRate).firing, "outside the 5 minutes");
    }

    #[test]
    fn slow_requests_fire_the_latency_rule() {
        let config = config();
        let mut slow = crate::metrics::series::Hist::default();
        for _ in 0..50 {
            slow.observe(Duration::from_millis(2_000));
        }
        let fields: Vec<(String, u64)> =
            slow.buckets.iter().enumerate().map(|(i, n)| (format!("http_s|/api/mcp|b{i}"), *n)).collect();
        let fields: Vec<(&str, u64)> = fields.iter().map(|(f, n)| (f.as_str(), *n)).collect();
        let judged = judge(&config, &[(1, minute(&fields))], &[]);
        assert!(verdict(&judged, Rule::LatencyP95).firing);
    }

    #[test]
    fn dependencies_and_spikes() {
        let config = config();
        let judged = judge(&config, &[(1, minute(&[("auth|invalid_token", 60), ("rl", 10)]))], &["database"]);
        assert!(verdict(&judged, Rule::DependencyDown).firing);
        assert!(verdict(&judged, Rule::DependencyDown).summary.contains("database"));
        assert!(verdict(&judged, Rule::AuthFailures).firing);
        assert!(!verdict(&judged, Rule::RateLimited).firing);
    }
}
