//! Bounded label values. Whatever a request says, a label takes one of a known, small set of
//! values: the router's own route patterns (interned once, at most [`MAX_ROUTES`]), fixed
//! tables of methods, statuses, MCP methods, outcomes, and the tool catalog; anything else is
//! `other`.

use std::sync::OnceLock;

use crate::tools::catalog::TOOLS;

/// The label of whatever falls outside a table.
pub const OTHER: &str = "other";

/// Distinct route patterns remembered; a router has far fewer.
pub const MAX_ROUTES: usize = 64;

/// The interned route pattern (the matched pattern, never a raw path: the router's own
/// patterns are few and fixed). Lock-free: a linear scan of set slots, and a `OnceLock::set`
/// the first time a pattern is seen.
pub fn route(pattern: &str) -> &'static str {
    static ROUTES: [OnceLock<Box<str>>; MAX_ROUTES] = [const { OnceLock::new() }; MAX_ROUTES];
    for slot in &ROUTES {
        match slot.get() {
            Some(known) if **known == *pattern => return known,
            Some(_) => {}
            None => {
                // Another thread may win this slot with another pattern: then keep scanning.
                let _ = slot.set(pattern.into());
                if let Some(known) = slot.get()
                    && **known == *pattern
                {
                    return known;
                }
            }
        }
    }
    OTHER
}

pub fn method(method: &axum::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "DELETE" => "DELETE",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => OTHER,
    }
}

/// The status code as a label: every code is one of at most 500 values, but only the ones
/// Atoms answers are spelled out; the rest collapse to their class (`4xx`).
pub fn status(code: u16) -> &'static str {
    const KNOWN: [(u16, &str); 24] = [
        (200, "200"),
        (201, "201"),
        (202, "202"),
        (204, "204"),
        (301, "301"),
        (302, "302"),
        (303, "303"),
        (304, "304"),
        (307, "307"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (405, "405"),
        (406, "406"),
        (409, "409"),
        (413, "413"),
        (415, "415"),
        (429, "429"),
        (500, "500"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
        (422, "422"),
    ];
    if let Some((_, label)) = KNOWN.iter().find(|(known, _)| *known == code) {
        return label;
    }
    match code / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// The tool and operation names from the catalog (`other` for anything it does not list).
pub fn tool(tool: &str, operation: &str) -> (&'static str, &'static str) {
    match TOOLS.iter().find(|spec| spec.name == tool) {
        None => (OTHER, OTHER),
        Some(spec) => {
            let operation =
                spec.operations.iter().find(|op| op.name == operation).map_or(OTHER, |op| op.name);
            (spec.name, operation)
        }
    }
}

/// A tool call's outcome: `ok` or one of the stable error codes of tool results.
pub fn outcome(outcome: &str) -> &'static str {
    const OUTCOMES: [&str; 10] = [
        "ok",
        "invalid_argument",
        "not_found",
        "permission_denied",
        "conflict",
        "failed_precondition",
        "unavailable",
        "internal",
        "unauthenticated",
        "rate_limited",
    ];
    OUTCOMES.iter().find(|known| **known == outcome).copied().unwrap_or(OTHER)
}

/// MCP methods of both protocol eras.
pub fn mcp_method(method: &str) -> &'static str {
    const METHODS: [&str; 22] = [
        "initialize",
        "notifications/initialized",
        "ping",
        "server/discover",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/read",
        "resources/templates/list",
        "resources/subscribe",
        "resources/unsubscribe",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
        "notifications/cancelled",
        "notifications/progress",
        "notifications/roots/list_changed",
        "elicitation/create",
        "sampling/createMessage",
        "roots/list",
        "tasks/get",
    ];
    METHODS.iter().find(|known| **known == method).copied().unwrap_or(OTHER)
}

/// The protocol era label of an `MCP-Protocol-Version` value (or the version a request named).
pub fn era(version: &str) -> &'static str {
    match version {
        "2026-07-28" => "2026-07-28",
        "2025-11-25" => "2025-11-25",
        "2025-06-18" => "2025-06-18",
        "2025-03-26" => "2025-03-26",
        "2024-11-05" => "2024-11-05",
        _ => OTHER,
    }
}

/// Why a credential was refused on the MCP route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header.
    Missing,
    /// Malformed, badly signed, expired, wrong issuer or audience.
    InvalidToken,
    /// Valid, but without a required scope.
    InsufficientScope,
    /// Its `sid` was revoked.
    Revoked,
    /// `?access_token=` in the query string.
    TokenInQuery,
    /// The issuer's keys could not be fetched (503, not the caller's fault).
    IssuerUnavailable,
    /// A request local mode does not serve (not loopback, not the local target), or a bad dev token.
    LocalOnly,
}

impl AuthFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::Revoked => "revoked",
            Self::TokenInQuery => "token_in_query",
            Self::IssuerUnavailable => "issuer_unavailable",
            Self::LocalOnly => "local_only",
        }
    }
}

/// Which cache a lookup went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// The read cache of slow tool reads in the KV (`crate::tools::cache`).
    Read,
    /// The stateless list cache in process memory (`crate::mcp`'s `tools/list`, `prompts/list`,
    /// `resources/templates/list`).
    List,
}

impl Cache {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::List => "list",
        }
    }
}

/// A cache lookup's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheResult {
    Hit,
    Miss,
    /// The request was not cacheable (or the cache is off): looked at, not looked up.
    Bypass,
}

impl CacheResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Bypass => "bypass",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(route("/api/mcp"), route("/api/mcp"));
        assert!(std::ptr::eq(route("/health"), route(&String::from("/health"))), "interned once");
        assert_eq!(status(200), "200");
        assert_eq!(status(418), "4xx");
        assert_eq!(status(599), "5xx");
        assert_eq!(tool("entity_tool", "read_entity"), ("entity_tool", "read_entity"));
        assert_eq!(tool("entity_tool", "drop_tables"), ("entity_tool", OTHER));
        assert_eq!(tool("evil", "x"), (OTHER, OTHER));
        assert_eq!(outcome("ok"), "ok");
        assert_eq!(outcome("user@example.com"), OTHER);
        assert_eq!(mcp_method("tools/call"), "tools/call");
        assert_eq!(mcp_method("../../etc"), OTHER);
        assert_eq!(era("1999-01-01"), OTHER);
    }
}
