//! JSON-RPC error responses on the MCP route: the wire format MCP clients parse, used wherever
//! the transport itself refuses a request (malformed JSON, batches, unknown sessions, …), and the
//! transport's successes of its own: the answer to a session-ending `DELETE`, and the envelope
//! of results the guard answers without rmcp ([`success`]).
//! Statuses follow the Streamable HTTP transport: 400 for bad requests, 404 for sessions that
//! are gone (clients re-initialize only on 404), 401/403 for identity and origin refusals.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// JSON-RPC error codes used at the transport level.
pub mod code {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Server-defined: the session is unknown, expired or deleted.
    pub const SESSION_NOT_FOUND: i64 = -32001;
    /// Server-defined: the request was refused (identity, origin, method).
    pub const REFUSED: i64 = -32000;
}

/// A JSON-RPC error body (`id: null`, the request could not be attributed) with `status`.
pub fn error(status: StatusCode, code: i64, message: &str) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `{"jsonrpc":"2.0","id":<id>,"result":<result>}` with `200` and `application/json`: `id` is the
/// request's id as JSON, `write_result` appends the result's JSON (about `size_hint` bytes).
pub fn success(
    id: &[u8],
    size_hint: usize,
    write_result: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>,
) -> serde_json::Result<Response> {
    let mut body = Vec::with_capacity(size_hint + id.len() + 32);
    body.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    body.extend_from_slice(id);
    body.extend_from_slice(b",\"result\":");
    write_result(&mut body)?;
    body.push(b'}');
    let mut response = Response::new(Body::from(body));
    // Room for what the boundary adds (security, CORS, request id): no rehashing on the way out.
    let headers = response.headers_mut();
    headers.reserve(16);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

pub fn parse_error() -> Response {
    error(StatusCode::BAD_REQUEST, code::PARSE_ERROR, "Parse error: the body is not valid JSON")
}

pub fn invalid_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, code::INVALID_REQUEST, message)
}

pub fn session_not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        code::SESSION_NOT_FOUND,
        "Session not found: it expired or was deleted; send initialize to start a new one",
    )
}

/// A legacy session ended by `DELETE`: 200 with an empty body, as the official SDKs' reference
/// servers answer (their Python client treats anything but 200/204/405 as a failed termination).
pub fn session_ended() -> Response {
    StatusCode::OK.into_response()
}

pub fn unauthorized(message: &str) -> Response {
    let mut response = error(StatusCode::UNAUTHORIZED, code::REFUSED, message);
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// A refusal with an RFC 6750 challenge (`WWW-Authenticate: Bearer …`): 401, 403 or 400. The
/// message is the RFC 6750 code and nothing more.
pub fn challenge(status: StatusCode, message: &str, challenge: &str) -> Response {
    let mut response = error(status, code::REFUSED, message);
    let value = HeaderValue::from_str(challenge).unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
    response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    response
}

/// 413 on the MCP route, whichever layer noticed (a `Content-Length` over the limit, or a
/// chunked body that grew past it).
pub fn payload_too_large(limit_bytes: usize) -> Response {
    let message = super::error::ApiError::payload_too_large(limit_bytes).message;
    error(StatusCode::PAYLOAD_TOO_LARGE, code::INVALID_REQUEST, &message)
}

/// The MCP route's shape for an error response some other layer produced (body limit, method
/// not allowed, panic guard): JSON-RPC like every other refusal on that route. A response that
/// already is JSON (rmcp's or the guard's) is kept.
pub(crate) fn from_error_response(response: Response, max_body_bytes: usize) -> Response {
    let status = response.status();
    let api_error = response.extensions().get::<super::ApiError>().cloned();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if api_error.is_none() && is_json {
        return response;
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return with_headers_of(response, payload_too_large(max_body_bytes));
    }
    let api_error = api_error.unwrap_or_else(|| super::error::envelope_for_status(status, max_body_bytes));
    with_headers_of(response, error(status, code_for_status(status), &api_error.message))
}

/// `body`'s status and body with the headers of `original` (e.g. `Allow`, CORS).
fn with_headers_of(original: Response, mut body: Response) -> Response {
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            body.headers_mut().insert(name, value.clone());
        }
    }
    body
}

pub fn unavailable(message: &str) -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, code::INTERNAL_ERROR, message)
}

/// The JSON-RPC code for a transport refusal that rmcp answered with plain text.
pub fn code_for_status(status: StatusCode) -> i64 {
    match status.as_u16() {
        404 => code::SESSION_NOT_FOUND,
        400 | 406 | 413 | 415 => code::INVALID_REQUEST,
        401 | 403 | 405 | 409 | 429 => code::REFUSED,
        _ => code::INTERNAL_ERROR,
    }
}
