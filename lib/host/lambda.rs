//! AWS Lambda through `lambda_http`, in **response streaming** mode: each event (a function URL's
//! payload, format 2.0) becomes an axum request, and the response goes back
//! through the Runtime API's streaming protocol (a JSON prelude with status and headers, then the
//! body as it is produced), so `text/event-stream` answers of the MCP route reach the client as
//! they are written.
//!
//! Every function streams, whatever its route: a function's response mode must match its
//! function URL's `InvokeMode`, and one host behaviour lets `deploy/lambda/template.yaml` say
//! `RESPONSE_STREAM` for every function URL without any per-function setting in the binary
//! (small JSON answers stream as one chunk). Front ends that cannot take a streamed response
//! (API Gateway HTTP APIs, ALB) are therefore not supported; function URLs are the front door.

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use tower::ServiceExt;

pub(super) async fn run(router: Router) -> Result<(), super::HostError> {
    let service = tower::service_fn(move |request: lambda_http::Request| {
        let router = router.clone();
        async move {
            let (parts, body) = request.into_parts();
            let request = axum::http::Request::from_parts(parts, Body::from(body.to_vec()));
            Ok::<_, Infallible>(router.oneshot(request).await.unwrap_or_else(|never| match never {}))
        }
    });
    lambda_http::run_with_streaming_response(service).await
}
