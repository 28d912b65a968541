//! Security headers on every response. Atoms serves JSON and event streams only, so the policy
//! can forbid everything a browser could render or embed.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

const HEADERS: [(&str, &str); 6] = [
    ("strict-transport-security", "max-age=63072000; includeSubDomains"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
];

/// Sets each header unless the handler chose its own value.
pub(super) fn apply(headers: &mut HeaderMap) {
    for (name, value) in HEADERS {
        headers.entry(HeaderName::from_static(name)).or_insert_with(|| HeaderValue::from_static(value));
    }
}
