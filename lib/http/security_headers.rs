//! Security headers on every response. Atoms serves JSON and event streams only, so the policy
//! can forbid everything a browser could render or embed.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// Parsed once (a name or value given as `&str` is validated again on every use).
static HEADERS: [(HeaderName, HeaderValue); 6] = [
    header("strict-transport-security", "max-age=63072000; includeSubDomains"),
    header("x-content-type-options", "nosniff"),
    header("x-frame-options", "DENY"),
    header("referrer-policy", "no-referrer"),
    header("content-security-policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
    header("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
];

/// Sets each header unless the handler chose its own value.
pub(super) fn apply(headers: &mut HeaderMap) {
    for (name, value) in &HEADERS {
        headers.entry(name).or_insert_with(|| value.clone());
    }
}

const fn header(name: &'static str, value: &'static str) -> (HeaderName, HeaderValue) {
    (HeaderName::from_static(name), HeaderValue::from_static(value))
}
