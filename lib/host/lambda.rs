//! AWS Lambda (API Gateway HTTP/REST APIs, ALB, function URLs) through `lambda_http`: each event
//! becomes an axum request; the response is buffered, as Lambda's buffered invoke mode requires,
//! and metrics are flushed (when due) before the invocation returns.

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
            let response = router.oneshot(request).await.unwrap_or_else(|never: Infallible| match never {});
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await?;
            // Lambda freezes the instance once the handler returns: flush (when due) first,
            // bounded by the KV timeout. Alerts are evaluated by `/api/metrics?evaluate`.
            crate::metrics::flush::before_return(&state).await;
            Ok::<_, lambda_http::Error>(lambda_http::Response::from_parts(
                parts,
                lambda_http::Body::from(bytes.to_vec()),
            ))
        }
    });
    lambda_http::run(service).await
}
