//! Fleet-wide rate limits: GCRA buckets in the KV, exact across instances because every check
//! is one atomic script (`kv::Command::Gcra`) that the MCP guard sends in the same round trip as
//! its session and revocation lookups.
//!
//! Buckets are keyed per authenticated subject (`rl:mcp:<sub>`), else per client address
//! ([`client_address`]). Every MCP request counts against the general bucket
//! (`RATE_LIMIT_REQUESTS_PER_MINUTE` sustained, `RATE_LIMIT_BURST_SIZE` at once); tool calls of a
//! limited class (writes, searches, exports) count against that class's bucket too, and pass
//! only if both have room. Answers carry the IETF `RateLimit-Policy` / `RateLimit` fields
//! (draft-ietf-httpapi-ratelimit-headers) of the general bucket.

pub mod address_limit;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};

use crate::config::{Config, Rate, RateLimitConfig};
use crate::kv::Reply;

/// Operation classes with their own limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Write,
    Search,
    Export,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Write => "write",
            Self::Search => "search",
            Self::Export => "export",
        }
    }

    /// The class of a tool operation; reads that are neither search nor export have none.
    pub fn of_operation(operation: &str) -> Option<Self> {
        match operation {
            "export_results" => Some(Self::Export),
            "search_entities" | "advanced_search" | "query_entities" => Some(Self::Search),
            read if ["list_", "read_", "get_"].iter().any(|p| read.starts_with(p)) => None,
            _ => Some(Self::Write),
        }
    }
}

/// One rate as a GCRA bucket: one request per `interval`, `burst` at once.
fn bucket(key: String, rate: Rate) -> (String, Duration, u32) {
    let interval = Duration::from_micros(60_000_000 / u64::from(rate.per_minute.max(1)));
    (key, interval.max(Duration::from_millis(1)), rate.burst.max(1))
}

/// The buckets a request of `caller` (a subject or an address key) in `class` counts against,
/// the general one first.
pub fn buckets(config: &RateLimitConfig, caller: &str, class: Option<Class>) -> Vec<(String, Duration, u32)> {
    let general = Rate { per_minute: config.requests_per_minute, burst: config.burst_size };
    let mut buckets = vec![bucket(format!("rl:mcp:{caller}"), general)];
    let class_rate = match class {
        Some(Class::Write) => config.write,
        Some(Class::Search) => config.search,
        Some(Class::Export) => config.export,
        None => None,
    };
    if let (Some(class), Some(rate)) = (class, class_rate) {
        buckets.push(bucket(format!("rl:{}:{caller}", class.as_str()), rate));
    }
    buckets
}

/// The `/auth/*` bucket of a client address.
pub fn auth_bucket(config: &RateLimitConfig, address: &str) -> (String, Duration, u32) {
    bucket(format!("rl:auth:{address}"), config.auth)
}

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// How long to wait before retrying (zero when allowed).
    pub retry_after: Duration,
    /// Requests left in the general bucket right now.
    pub remaining: u64,
    /// Until the general bucket is full again.
    pub reset: Duration,
}

impl Decision {
    /// Reads the `Gcra` command's reply.
    pub fn from_reply(reply: &Reply) -> Option<Self> {
        let Reply::List(items) = reply else { return None };
        let int = |i: usize| match items.get(i) {
            Some(Reply::Int(n)) => Some(*n),
            _ => None,
        };
        let millis = |n: i64| Duration::from_millis(n.max(0) as u64);
        Some(Self {
            allowed: int(0)? == 1,
            retry_after: millis(int(1)?),
            remaining: int(2)?.max(0) as u64,
            reset: millis(int(3)?),
        })
    }

    /// Whole seconds to wait, at least 1 (what `Retry-After` and tool results say).
    pub fn retry_after_seconds(&self) -> u64 {
        self.retry_after.as_millis().div_ceil(1000).max(1) as u64
    }

    /// Sets `RateLimit-Policy` and `RateLimit` of the MCP bucket (and `Retry-After` when refused).
    pub fn apply(&self, config: &RateLimitConfig, headers: &mut HeaderMap) {
        let rate = Rate { per_minute: config.requests_per_minute, burst: config.burst_size };
        self.apply_with(rate, "mcp", headers);
    }

    /// Sets `RateLimit-Policy` and `RateLimit` of the bucket `name` with `rate` (and
    /// `Retry-After` when refused).
    pub fn apply_with(&self, rate: Rate, name: &str, headers: &mut HeaderMap) {
        let window = 60 * u64::from(rate.burst) / u64::from(rate.per_minute.max(1));
        let policy = format!("\"{name}\";q={};w={}", rate.burst, window.max(1));
        let current = format!("\"{name}\";r={};t={}", self.remaining, self.reset.as_millis().div_ceil(1000));
        if let (Ok(policy), Ok(current)) = (HeaderValue::from_str(&policy), HeaderValue::from_str(&current)) {
            headers.insert("ratelimit-policy", policy);
            headers.insert("ratelimit", current);
        }
        if !self.allowed {
            headers.insert(axum::http::header::RETRY_AFTER, HeaderValue::from(self.retry_after_seconds()));
        }
    }
}

/// The client's address, from what the platform vouches for (never from a header a client can
/// set freely there): the TCP peer on `atoms serve`; on Vercel `x-real-ip` (set by Vercel's
/// edge, which overwrites what clients send); on AWS Lambda the last `x-forwarded-for` entry
/// (the one AWS appended).
pub fn client_address(config: &Config, parts: &Parts) -> String {
    if let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        return peer.ip().to_string();
    }
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let address = if config.platform.vercel {
        header("x-real-ip").or_else(|| header("x-forwarded-for").and_then(|v| v.split(',').next()))
    } else {
        header("x-forwarded-for").and_then(|v| v.rsplit(',').next())
    };
    address
        .map(str::trim)
        .filter(|a| a.parse::<std::net::IpAddr>().is_ok())
        .map_or_else(|| "unknown".to_owned(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_fall_into_classes() {
        assert_eq!(Class::of_operation("export_results"), Some(Class::Export));
        assert_eq!(Class::of_operation("search_entities"), Some(Class::Search));
        assert_eq!(Class::of_operation("create_entity"), Some(Class::Write));
        assert_eq!(Class::of_operation("set_member"), Some(Class::Write));
        assert_eq!(Class::of_operation("execute_workflow"), Some(Class::Write));
        assert_eq!(Class::of_operation("read_entity"), None);
        assert_eq!(Class::of_operation("get_relationship_graph"), None);
        assert_eq!(Class::of_operation("list_workspaces"), None);
    }

    #[test]
    fn headers_follow_the_draft() {
        let config = crate::config::Config::embedded().rate_limit;
        let decision = Decision {
            allowed: false,
            retry_after: Duration::from_millis(1200),
            remaining: 0,
            reset: Duration::from_millis(1200),
        };
        let mut headers = HeaderMap::new();
        decision.apply(&config, &mut headers);
        assert_eq!(headers["ratelimit-policy"], "\"mcp\";q=100;w=100");
        assert_eq!(headers["ratelimit"], "\"mcp\";r=0;t=2");
        assert_eq!(headers["retry-after"], "2");
    }
}
