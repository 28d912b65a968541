//! The one JSON error envelope of Atoms' own HTTP routes, and its named constructors.
//!
//! Every non-2xx that is not an MCP or OAuth wire format has the body
//! `{"error":{"code","message","request_id"}}`. Handlers return an [`ApiError`]; responses made by
//! the framework or middleware (404 fallback, 405, 413 from the body limit, a caught panic) are
//! converted by the boundary with [`envelope_for_status`]. The request id is filled in by the
//! boundary, which is the only place that knows it.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error returned by one of Atoms' HTTP handlers.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, machine-readable (`payload_too_large`, `not_found`, …).
    pub code: &'static str,
    /// For a human: what went wrong and what to do next. Never contains secrets or bodies.
    pub message: Cow<'static, str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401 (the boundary adds `WWW-Authenticate: Bearer realm="atoms"`; the MCP route has its
    /// own OAuth challenges).
    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// An upstream service (WorkOS) failed or did not answer.
    pub fn bad_gateway(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "upstream_unavailable", message)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "No route matches this path.")
    }

    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("The request body exceeds the limit of {limit_bytes} bytes."),
        )
    }

    pub fn service_unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", message)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "An unexpected error occurred; retry, and report the request id if it persists.",
        )
    }
}

impl IntoResponse for ApiError {
    /// The body is rendered by the boundary (it adds the request id); the error travels in the
    /// response extensions until then.
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = axum::http::HeaderValue::from_static("Bearer realm=\"atoms\"");
            response.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, challenge);
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// The generic error for a status produced without an [`ApiError`] (framework or middleware).
pub fn envelope_for_status(status: StatusCode, max_body_bytes: usize) -> ApiError {
    let (code, message): (&'static str, &'static str) = match status.as_u16() {
        400 => ("bad_request", "The request is malformed."),
        401 => ("unauthorized", "Authentication is required."),
        403 => ("forbidden", "This request is not allowed."),
        404 => return ApiError::not_found(),
        405 => ("method_not_allowed", "This route does not accept this HTTP method."),
        406 => ("not_acceptable", "The Accept header names no representation this route serves."),
        408 => ("request_timeout", "The request took too long to arrive."),
        413 => return ApiError::payload_too_large(max_body_bytes),
        415 => ("unsupported_media_type", "The Content-Type is not accepted by this route."),
        429 => ("rate_limited", "Too many requests; retry after the delay in Retry-After."),
        500 => return ApiError::internal(),
        503 => ("service_unavailable", "A dependency is unavailable; retry shortly."),
        504 => ("gateway_timeout", "A dependency did not answer in time; retry shortly."),
        _ => ("error", "The request failed."),
    };
    ApiError::new(status, code, message)
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: EnvelopeBody<'a>,
}

#[derive(Serialize)]
struct EnvelopeBody<'a> {
    code: &'a str,
    message: &'a str,
    request_id: &'a str,
}

/// The envelope's JSON bytes.
pub(crate) fn envelope_json(error: &ApiError, request_id: &str) -> Vec<u8> {
    let envelope = Envelope { error: EnvelopeBody { code: error.code, message: &error.message, request_id } };
    serde_json::to_vec(&envelope).unwrap_or_else(|_| b"{\"error\":{\"code\":\"internal_error\"}}".to_vec())
}
