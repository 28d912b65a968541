//! The HTTP boundary applied to every route of every host, and the only module that knows
//! status codes and error bodies.
//!
//! Layers, outermost first:
//! 1. [`boundary`]: request id (in, out as `x-request-id`, and on every log line of the request
//!    through a `request` span), the one log line per request, its metrics, the
//!    JSON error envelope for every non-2xx that is not already a JSON wire format (on the MCP
//!    route: a JSON-RPC error body instead, one shape per route), security headers;
//!    and CORS for browser-based MCP clients ([`cors`]: a preflight is answered there);
//! 2. the panic guard (a panicking handler becomes a logged 500; the instance lives on);
//! 3. the request body limit (`ATOMS_MAX_BODY_BYTES`, 413).

mod cors;
pub mod error;
pub mod jsonrpc;
pub mod page;
pub mod request_id;
mod security_headers;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tower::Service;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

pub use error::ApiError;
pub use request_id::RequestId;

use crate::config::HttpConfig;

/// Wraps `router` in the boundary layers.
pub fn with_boundary(router: Router, config: &HttpConfig) -> Router {
    let boundary =
        BoundaryLayer { max_body_bytes: config.max_body_bytes, mcp_path: config.mcp_path.as_str().into() };
    // One layer made of the three: axum boxes each `Router::layer` around every route and clones
    // the boxes on every request, so one box instead of three.
    router.layer(
        tower::ServiceBuilder::new()
            .layer(boundary)
            .layer(CatchPanicLayer::custom(|_panic| ApiError::internal().into_response()))
            .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
            .layer(DefaultBodyLimit::disable()),
    )
}

/// Layer 1 as a tower layer: [`boundary`] around the rest. A plain service rather than axum's
/// `middleware::from_fn`, which boxes the inner service and its future once more per request.
#[derive(Clone)]
struct BoundaryLayer {
    max_body_bytes: usize,
    mcp_path: Arc<str>,
}

impl<S> tower::Layer<S> for BoundaryLayer {
    type Service = Boundary<S>;

    fn layer(&self, inner: S) -> Boundary<S> {
        Boundary { inner, max_body_bytes: self.max_body_bytes, mcp_path: self.mcp_path.clone() }
    }
}

#[derive(Clone)]
struct Boundary<S> {
    inner: S,
    max_body_bytes: usize,
    mcp_path: Arc<str>,
}

impl<S, B> Service<Request> for Boundary<S>
where
    S: Service<Request, Response = axum::http::Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The service polled ready serves this request; its clone waits for the next one.
        let waiting = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, waiting);
        let (max_body_bytes, mcp_path) = (self.max_body_bytes, self.mcp_path.clone());
        Box::pin(async move { Ok(boundary(request, ready, max_body_bytes, mcp_path).await) })
    }
}

/// Request id, log line, error envelope and security headers for one request.
async fn boundary<S, B>(
    mut request: Request,
    mut inner: S,
    max_body_bytes: usize,
    mcp_path: Arc<str>,
) -> Response
where
    S: Service<Request, Response = axum::http::Response<B>, Error = Infallible>,
    B: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let started = Instant::now();
    let request_id = RequestId::from_headers(request.headers());
    request.extensions_mut().insert(request_id.clone());
    let method = request.method().clone();
    // The matched route pattern, never the raw path: ids and codes in paths stay out of the
    // logs (an unmatched path is logged as a fixed placeholder), and so does the query string.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or(UNMATCHED, MatchedPath::as_str);

    // Only kept for the sessions gauge (fingerprinted there, never logged).
    let session = request
        .headers()
        .get(&crate::mcp::header_names::SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Every event logged while the request is handled carries its id (the JSON lines' `span`).
    let span = tracing::info_span!("request", request_id = %request_id.0);
    // With trace export on: continue the caller's `traceparent`, name the route (no-op when off).
    crate::otlp::start_request(&span, request.headers(), &method, route);
    let mut response = if cors::is_preflight(&method) {
        cors::preflight()
    } else {
        let handled = tracing::Instrument::instrument(inner.call(request), span.clone()).await;
        let mut response = match handled {
            Ok(response) => response.map(Body::new),
            Err(never) => match never {},
        };
        cors::apply(response.headers_mut());
        response
    };
    if response.status().is_client_error() || response.status().is_server_error() {
        response = if route == &*mcp_path {
            jsonrpc::from_error_response(response, max_body_bytes)
        } else {
            with_envelope(response, &request_id.0, max_body_bytes)
        };
    }
    security_headers::apply(response.headers_mut());
    if let Ok(value) = HeaderValue::from_str(&request_id.0) {
        response.headers_mut().insert(&request_id::REQUEST_ID, value);
    }

    let status = response.status().as_u16();
    crate::otlp::end_request(&span, status);
    drop(span);
    let elapsed = started.elapsed();
    crate::metrics::record_http(route, &method, status, elapsed);
    if route == &*mcp_path {
        record_session_use(session.as_deref(), &method, &response);
    }
    let latency_ms = (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0;
    if status >= 500 {
        tracing::warn!(request_id = %request_id.0, method = %method, route, status, latency_ms, "request");
    } else {
        tracing::info!(request_id = %request_id.0, method = %method, route, status, latency_ms, "request");
    }
    response
}

/// The `request` span of the request, for work that runs in another task (rmcp's handlers; the
/// MCP guard attaches it before handing a request to rmcp): its spans nest under it, so their
/// log lines carry the request id too.
#[derive(Clone, Debug)]
pub struct RequestSpan(pub tracing::Span);

/// Feeds the fleet-wide count of live legacy sessions: a session answered with 2xx is live
/// (a new one comes back in the response header), a successful `DELETE` ended it.
fn record_session_use(requested: Option<&str>, method: &axum::http::Method, response: &Response) {
    if !response.status().is_success() {
        return;
    }
    let created = response.headers().get(&crate::mcp::header_names::SESSION_ID).and_then(|v| v.to_str().ok());
    if let Some(session) = created.or(requested) {
        crate::metrics::record_session(session, method != axum::http::Method::DELETE);
    }
}

/// What the log line says for a request no route matched.
const UNMATCHED: &str = "(unmatched)";

/// Replaces the body of an error response with the JSON envelope, unless the response already
/// is a JSON wire format (MCP JSON-RPC, OAuth errors, health reports) or an event stream; an
/// error of a browser route ([`page::PageError`]) becomes an HTML page instead.
fn with_envelope(response: Response, request_id: &str, max_body_bytes: usize) -> Response {
    let error = response.extensions().get::<ApiError>().cloned();
    if let (Some(error), Some(marker)) = (&error, response.extensions().get::<page::AsPage>().cloned()) {
        // A browser route's error: an HTML page, never the JSON envelope.
        let (html, csp) = page::error_page(error, &marker, request_id);
        let (parts, _) = response.into_parts();
        let mut response = Response::from_parts(parts, Body::from(html));
        response.headers_mut().remove(header::CONTENT_LENGTH);
        page::set_page_headers(&mut response, false);
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
        return response;
    }
    let content_type =
        response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let is_wire_format =
        content_type.starts_with("application/json") || content_type.starts_with("text/event-stream");
    if error.is_none() && is_wire_format {
        return response;
    }
    let error = error.unwrap_or_else(|| error::envelope_for_status(response.status(), max_body_bytes));
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(error::envelope_json(&error, request_id)))
}
