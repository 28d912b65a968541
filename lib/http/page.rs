//! HTML pages, for the routes a person opens in a browser (the sign-in flow).
//!
//! One document shell: an inline stylesheet, and on pages that need it one inline script, each
//! admitted by its SHA-256 in a strict CSP (`default-src 'none'`, no external asset, forms only
//! to our own origin), `Cache-Control: no-store` (the pages show who is signed in).
//! Errors on those routes are pages too: a handler returns [`PageError`], and the boundary —
//! which alone knows the request id — renders it as HTML instead of the JSON envelope.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::ApiError;

/// A page: its title and body (HTML the caller built with [`escape`]d values).
pub struct Document {
    pub title: String,
    pub body: String,
    /// Include the page script (copy buttons).
    pub script: bool,
}

/// A 200 HTML page.
pub fn html(document: &Document) -> Response {
    let mut response = render(document).into_response();
    set_page_headers(&mut response, document.script);
    response
}

/// `302 Found` to `location` (a browser route's redirect, as OAuth specifications write it).
pub fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (axum::http::StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => ApiError::internal().into_response(),
    }
}

/// An error answered with an HTML page instead of the JSON envelope, with an optional link
/// (text, href) to what the person can do next.
pub struct PageError {
    pub error: ApiError,
    pub link: Option<(&'static str, &'static str)>,
}

impl PageError {
    pub fn new(error: ApiError) -> Self {
        Self { error, link: None }
    }

    pub fn with_link(mut self, text: &'static str, href: &'static str) -> Self {
        self.link = Some((text, href));
        self
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        Self::new(error)
    }
}

/// Travels in the response extensions to the boundary.
#[derive(Clone)]
pub(super) struct AsPage {
    link: Option<(&'static str, &'static str)>,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut response = self.error.into_response();
        response.extensions_mut().insert(AsPage { link: self.link });
        response
    }
}

/// The error page the boundary sends for a [`PageError`].
pub(super) fn error_page(error: &ApiError, marker: &AsPage, request_id: &str) -> (String, HeaderValue) {
    let heading = if error.status.is_server_error() {
        "Sign-in is unavailable right now"
    } else {
        "Sign-in could not be completed"
    };
    let link = marker
        .link
        .map(|(text, href)| {
            format!(r#"<p><a class="button" href="{}">{}</a></p>"#, escape(href), escape(text))
        })
        .unwrap_or_default();
    let body = format!(
        r#"<h1>{heading}</h1><p>{}</p>{link}<p class="muted">Error <code>{}</code> · request id <code>{}</code></p>"#,
        escape(&error.message),
        escape(error.code),
        escape(request_id),
    );
    let document = Document { title: heading.to_owned(), body, script: false };
    (render(&document), csp(false))
}

/// Sets the page headers on `response` (content type, CSP, no caching).
pub(super) fn set_page_headers(response: &mut Response, script: bool) {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CONTENT_SECURITY_POLICY, csp(script));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn render(document: &Document) -> String {
    let script = if document.script { format!("<script>{SCRIPT}</script>") } else { String::new() };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>{} · Atoms</title><style>{STYLE}</style></head>\
         <body><main><p class=\"brand\">Atoms</p>{}</main>{script}</body></html>",
        escape(&document.title),
        document.body,
    )
}

fn csp(script: bool) -> HeaderValue {
    static WITH_SCRIPT: LazyLock<HeaderValue> = LazyLock::new(|| policy(true));
    static WITHOUT: LazyLock<HeaderValue> = LazyLock::new(|| policy(false));
    if script { WITH_SCRIPT.clone() } else { WITHOUT.clone() }
}

fn policy(script: bool) -> HeaderValue {
    let hash = |text: &str| base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()));
    let scripts = if script { format!("'sha256-{}'", hash(SCRIPT)) } else { "'none'".to_owned() };
    let value = format!(
        "default-src 'none'; style-src 'sha256-{}'; script-src {scripts}; img-src 'none'; \
         form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        hash(STYLE)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
}

const STYLE: &str = "\
:root{color-scheme:light dark;--fg:#1b1d22;--muted:#5d6470;--bg:#f6f7f9;--card:#fff;--line:#dde1e7;--accent:#3b5bdb}\
@media (prefers-color-scheme:dark){:root{--fg:#e8eaee;--muted:#a2a9b5;--bg:#14161a;--card:#1d2026;--line:#333842;--accent:#8ea6ff}}\
*{box-sizing:border-box}\
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}\
main{max-width:46rem;margin:3rem auto;padding:2rem;background:var(--card);border:1px solid var(--line);border-radius:12px}\
.brand{margin:0 0 1rem;font-weight:700;letter-spacing:.04em;color:var(--accent)}\
h1{font-size:1.5rem;margin:0 0 .5rem}h2{font-size:1.1rem;margin:2rem 0 .5rem}\
p{margin:.5rem 0}.muted{color:var(--muted);font-size:.875rem}\
code,pre{font:14px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}\
.box{position:relative;margin:.5rem 0 1rem}\
pre{margin:0;padding:.75rem 5.5rem .75rem .75rem;background:var(--bg);border:1px solid var(--line);border-radius:8px;overflow-x:auto;white-space:pre}\
button,.button{font:inherit;font-size:.875rem;cursor:pointer;padding:.35rem .8rem;border-radius:6px;border:1px solid var(--line);background:var(--card);color:var(--fg);text-decoration:none;display:inline-block}\
.box button{position:absolute;top:.45rem;right:.45rem}\
.button,button.primary{background:var(--accent);border-color:var(--accent);color:#fff}\
details{border-top:1px solid var(--line);padding:.5rem 0}summary{cursor:pointer;font-weight:600}\
form{margin:2rem 0 0}[hidden]{display:none!important}";

const SCRIPT: &str = "\
for (const button of document.querySelectorAll('button[data-copy]')) {\
 button.hidden = false;\
 button.addEventListener('click', () => {\
  const text = document.getElementById(button.dataset.copy).textContent;\
  navigator.clipboard.writeText(text).then(() => {\
   button.textContent = 'Copied';\
   setTimeout(() => { button.textContent = 'Copy'; }, 1500);\
  }, () => { button.textContent = 'Select and copy'; });\
 });\
}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn the_policy_admits_exactly_the_inline_style_and_script() {
        let with = policy(true);
        let with = with.to_str().expect("ascii");
        assert!(with.starts_with("default-src 'none'; style-src 'sha256-"));
        assert!(with.contains("script-src 'sha256-") && !with.contains("unsafe-inline"));
        assert!(policy(false).to_str().expect("ascii").contains("script-src 'none'"));
    }
}
