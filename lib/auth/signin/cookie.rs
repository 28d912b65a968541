//! The sign-in flow's two cookies, both `__Host-` (Secure, `Path=/`, no `Domain`: only this
//! origin ever sees them), `HttpOnly` and `SameSite=Lax` (sent on the top-level redirect back
//! from AuthKit, never on a cross-site POST).
//!
//! Browsers accept `Secure` cookies from `http://localhost` and `http://127.0.0.1` (secure
//! contexts), so the same attributes work for `atoms serve` on loopback (tests/auth_browser.rs
//! checks it in Chromium).

use axum::http::{HeaderMap, HeaderValue, header};

/// The browser session: a random id naming a [`super::session::BrowserSession`].
pub(super) const SESSION: &str = "__Host-atoms_session";
/// The binding of a sign-in under way to the browser that started it (login CSRF defence).
pub(super) const LOGIN: &str = "__Host-atoms_login";

/// `Set-Cookie` for `name=value` living `max_age_secs`.
pub(super) fn set(name: &str, value: &str, max_age_secs: u64) -> HeaderValue {
    let cookie = format!("{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; Secure; SameSite=Lax");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| clear(name))
}

/// `Set-Cookie` that removes `name`.
pub(super) fn clear(name: &str) -> HeaderValue {
    let cookie = format!("{name}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The value of cookie `name` in the request's `Cookie` headers (the first one, if repeated).
pub(super) fn read<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; __Host-atoms_session=abc"));
        headers.append(header::COOKIE, HeaderValue::from_static("__Host-atoms_login=xyz"));
        assert_eq!(read(&headers, SESSION), Some("abc"));
        assert_eq!(read(&headers, LOGIN), Some("xyz"));
        assert_eq!(read(&headers, "atoms_session"), None);
    }

    #[test]
    fn cookies_are_host_only_http_only_secure_and_lax() {
        let cookie = set(SESSION, "v", 60);
        assert_eq!(cookie, "__Host-atoms_session=v; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Lax");
        assert!(clear(LOGIN).to_str().expect("ascii").contains("Max-Age=0"));
    }
}
