//! Vercel's Rust runtime 2.x: it accepts the platform's requests on a local socket and hands
//! each to a tower service as `(AppState, Request<Incoming>)`. This adapter feeds them to the axum
//! router and streams the response body back (needed for `text/event-stream`); metrics are
//! flushed after the response through the runtime's `wait_until`.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use tower::ServiceExt;
use vercel_runtime::{Request, ResponseBody};

pub(super) async fn run(router: Router, state: crate::state::AppState) -> Result<(), super::HostError> {
    let service = tower::service_fn(move |(platform, request): (vercel_runtime::AppState, Request)| {
        let router = router.clone();
        let state = state.clone();
        async move {
            let request = request.map(Body::new);
            let response = router.oneshot(request).await.unwrap_or_else(|never: Infallible| match never {});
            // The metrics flush (and alert evaluation) runs after the response, kept alive by
            // the platform until it settles; never on the caller's path.
            if let Some(work) = crate::metrics::flush::after_response(&state) {
                platform.wait_until(work);
            }
            if let Some(export) = crate::otlp::after_response() {
                platform.wait_until(export);
            }
            Ok::<_, vercel_runtime::Error>(response.map(|body| {
                ResponseBody(SyncBody(sync_wrapper::SyncWrapper::new(body)).map_err(Into::into).boxed())
            }))
        }
    });
    vercel_runtime::run(service).await
}

/// Vercel's body type must be `Sync`; axum's is not. A body is only ever polled through
/// `&mut`, so wrapping it in `SyncWrapper` is sound and costs nothing (no task, no channel).
struct SyncBody(sync_wrapper::SyncWrapper<Body>);

impl http_body::Body for SyncBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(self.get_mut().0.get_mut()).poll_frame(cx)
    }
}
