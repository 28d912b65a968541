//! rmcp's Streamable HTTP service behind an `Arc`.
//!
//! axum clones a route's service, and each middleware's copy of it, on every request: with
//! rmcp's service that meant deep-copying its configuration (the allowed hosts and origins, as
//! `Vec<String>`s) about ten times per request — ~9,000 instructions of a `read_entity` call
//! that rmcp does not even answer (callgrind). [`Shared`] is cloned by a reference count and
//! calls rmcp's own `handle`, which is what rmcp's `Service::call` does after cloning itself.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::Request;
use rmcp::transport::streamable_http_server::StreamableHttpService;
use rmcp::transport::streamable_http_server::session::SessionManager;

/// A cheaply cloned [`StreamableHttpService`].
pub(super) struct Shared<S, M>(Arc<StreamableHttpService<S, M>>);

impl<S, M> Shared<S, M> {
    pub(super) fn new(service: StreamableHttpService<S, M>) -> Self {
        Self(Arc::new(service))
    }
}

impl<S, M> Clone for Shared<S, M> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

/// What rmcp's service answers.
type RmcpResponse = axum::http::Response<http_body_util::combinators::BoxBody<axum::body::Bytes, Infallible>>;

impl<S, M> tower::Service<Request<axum::body::Body>> for Shared<S, M>
where
    S: rmcp::ServerHandler + Send + 'static,
    M: SessionManager,
{
    type Response = RmcpResponse;
    type Error = Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<RmcpResponse, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<axum::body::Body>) -> Self::Future {
        let service = Arc::clone(&self.0);
        Box::pin(async move { Ok(service.handle(request).await) })
    }
}
