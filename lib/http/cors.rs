//! CORS for browser-based MCP clients (MCP Inspector, web agents).
//!
//! Any origin may call: requests authenticate with bearer tokens in headers, never cookies, so
//! credentials mode stays off. DNS-rebinding protection is a separate, server-side `Origin`/`Host`
//! check on the MCP route, not a CORS concern.
//!
//! What tower-http's `CorsLayer` answers for this policy, applied by the boundary: a preflight
//! (any `OPTIONS` request) is answered here, empty, and never reaches a route; every other
//! response gets `Access-Control-Allow-Origin: *`, the exposed headers, and `Vary` appended.
//! Written here because the layer built a header map, and its `Vary` value, anew for every
//! request; these headers are constants. The tests compare both, header for header.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

/// Request headers MCP clients send (Streamable HTTP, both protocol eras, OAuth).
static ALLOWED_HEADERS: HeaderValue = HeaderValue::from_static(
    "authorization,content-type,mcp-protocol-version,mcp-session-id,mcp-method,mcp-name,last-event-id,x-request-id",
);

/// Response headers a browser client must be able to read.
static EXPOSED_HEADERS: HeaderValue =
    HeaderValue::from_static("mcp-session-id,mcp-protocol-version,www-authenticate,x-request-id");

static ALLOWED_METHODS: HeaderValue = HeaderValue::from_static("GET,POST,DELETE,OPTIONS");
static ANY_ORIGIN: HeaderValue = HeaderValue::from_static("*");
/// A day: browsers cap it lower anyway.
static MAX_AGE: HeaderValue = HeaderValue::from_static("86400");
/// The request headers a CORS answer depends on.
static VARY: HeaderValue =
    HeaderValue::from_static("origin, access-control-request-method, access-control-request-headers");

/// True for a request CORS answers itself: every `OPTIONS` request.
pub(super) fn is_preflight(method: &axum::http::Method) -> bool {
    method == axum::http::Method::OPTIONS
}

/// The answer to a preflight: 200, empty, with what may be sent.
pub(super) fn preflight() -> Response {
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    headers.insert(header::VARY, VARY.clone());
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOWED_METHODS.clone());
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS.clone());
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE.clone());
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN.clone());
    response
}

/// The CORS headers of any other response (a handler's own `Vary` values are kept).
pub(super) fn apply(headers: &mut HeaderMap) {
    headers.append(header::VARY, VARY.clone());
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN.clone());
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED_HEADERS.clone());
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::time::Duration;

    use axum::http::{HeaderName, Method, Request};
    use tower::{Service, ServiceExt};
    use tower_http::cors::{AllowOrigin, CorsLayer};

    use super::*;

    /// The policy as tower-http's layer, configured as before this module wrote it (the lists
    /// read back from this module's own values).
    fn tower_http_layer() -> CorsLayer {
        let names = |list: &HeaderValue| {
            list.to_str()
                .expect("ASCII")
                .split(',')
                .map(|name| HeaderName::from_bytes(name.as_bytes()).expect("a name"))
                .collect::<Vec<_>>()
        };
        CorsLayer::new()
            .allow_origin(AllowOrigin::any())
            .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
            .allow_headers(names(&ALLOWED_HEADERS))
            .expose_headers(names(&EXPOSED_HEADERS))
            .max_age(Duration::from_secs(86_400))
    }

    /// Headers as a sorted list, so order does not matter and repeated values do.
    fn sorted(headers: &HeaderMap) -> Vec<(String, String)> {
        let mut list: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().expect("ASCII").to_owned()))
            .collect();
        list.sort();
        list
    }

    /// What tower-http's layer answers for `request` around a handler that sets `handler_headers`.
    async fn by_tower_http(request: Request<Body>, handler_headers: &HeaderMap) -> Response {
        let handler_headers = handler_headers.clone();
        let handler = tower::service_fn(move |_request: Request<Body>| {
            let mut response = Response::new(Body::empty());
            *response.headers_mut() = handler_headers.clone();
            async move { Ok::<_, Infallible>(response) }
        });
        let mut service = tower::Layer::layer(&tower_http_layer(), handler);
        service.ready().await.expect("ready").call(request).await.expect("infallible").map(Body::new)
    }

    #[tokio::test]
    async fn the_headers_are_what_tower_http_sets() {
        let mut handler_headers = HeaderMap::new();
        handler_headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        handler_headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("https://x"));
        handler_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for method in [Method::GET, Method::POST, Method::DELETE, Method::OPTIONS, Method::PUT] {
            for origin in [None, Some("http://localhost:6274")] {
                let mut request = Request::builder().method(method.clone()).uri("/api/mcp");
                if let Some(origin) = origin {
                    request = request
                        .header(header::ORIGIN, origin)
                        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization, mcp-session-id");
                }
                let request = request.body(Body::empty()).expect("request");
                let expected = by_tower_http(request, &handler_headers).await;
                let ours = if is_preflight(&method) {
                    preflight()
                } else {
                    let mut response = Response::new(Body::empty());
                    *response.headers_mut() = handler_headers.clone();
                    apply(response.headers_mut());
                    response
                };
                assert_eq!(ours.status(), expected.status(), "{method} {origin:?}");
                assert_eq!(sorted(ours.headers()), sorted(expected.headers()), "{method} {origin:?}");
            }
        }
    }
}
