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
//!
//! Lambda freezes the instance once the stream ends, so background work would not finish: the
//! metrics flush (when due, at most once per `METRICS_FLUSH_SECONDS`) runs before the response
//! is handed back, bounded by the KV timeout. Alerts are evaluated by `/api/metrics?evaluate`.

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use tower::ServiceExt;

pub(super) async fn run(router: Router, state: crate::state::AppState) -> Result<(), super::HostError> {
    let service = tower::service_fn(move |request: lambda_http::Request| {
        let router = router.clone();
        let state = state.clone();
        async move {
            let (parts, body) = request.into_parts();
            let request = axum::http::Request::from_parts(parts, Body::from(body.to_vec()));
            let response = router.oneshot(request).await.unwrap_or_else(|never| match never {});
            crate::metrics::flush::before_return(&state).await;
            crate::otlp::flush().await;
            Ok::<_, Infallible>(response)
        }
    });
    lambda_http::run_with_streaming_response(service).await
}
