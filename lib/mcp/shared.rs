//! rmcp's Streamable HTTP service as the guard calls it: behind an `Arc`, and behind one trait
//! ([`Rmcp`]) so the guard is the same code for every handler type.
//!
//! The guard used to be an axum `middleware::from_fn` around a cloneable rmcp service: axum
//! clones a route's service on every request, and `from_fn` boxes its inner service once more
//! (`Next`) per request. Held once in the guard's state instead, rmcp's service is reached by
//! a reference and called through its own `handle`, which is what rmcp's `Service::call` does
//! after cloning itself.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use rmcp::transport::streamable_http_server::StreamableHttpService;
use rmcp::transport::streamable_http_server::session::SessionManager;

/// rmcp's service, type-erased: answers one request.
pub(super) trait Rmcp: Send + Sync {
    fn handle(&self, request: Request) -> Pin<Box<dyn Future<Output = Response> + Send + 'static>>;
}

/// A [`StreamableHttpService`] shared by every request of the route.
pub(super) struct Shared<S, M>(Arc<StreamableHttpService<S, M>>);

impl<S, M> Shared<S, M> {
    pub(super) fn new(service: StreamableHttpService<S, M>) -> Self {
        Self(Arc::new(service))
    }
}

impl<S, M> Rmcp for Shared<S, M>
where
    S: rmcp::ServerHandler + Send + 'static,
    M: SessionManager,
{
    fn handle(&self, request: Request) -> Pin<Box<dyn Future<Output = Response> + Send + 'static>> {
        let service = Arc::clone(&self.0);
        Box::pin(async move { service.handle(request).await.map(Body::new) })
    }
}
