//! AWS Lambda (API Gateway HTTP/REST APIs, ALB, function URLs) through `lambda_http`: each event
//! becomes an axum request; the response is buffered, as Lambda's buffered invoke mode requires.

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
            let response = router.oneshot(request).await.unwrap_or_else(|never: Infallible| match never {});
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await?;
            Ok::<_, lambda_http::Error>(lambda_http::Response::from_parts(
                parts,
                lambda_http::Body::from(bytes.to_vec()),
            ))
        }
    });
    lambda_http::run(service).await
}
