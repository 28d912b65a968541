//! A plain HTTP/1.1 listener for `atoms serve`, the tests and builds without a platform.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

/// The address of the listener a request arrived on, attached to every request this module
/// serves. Platform hosts (Vercel, Lambda) attach none: their socket faces the platform's proxy.
/// The MCP identity hook grants the local identity only behind a loopback listener.
#[derive(Debug, Clone, Copy)]
pub struct Listener(pub SocketAddr);

impl Listener {
    pub fn is_loopback(&self) -> bool {
        self.0.ip().is_loopback()
    }
}

pub async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}

/// Serves until Ctrl-C or SIGTERM, then lets in-flight requests finish.
pub async fn serve(listener: TcpListener, router: Router) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    // Around the router, not `Router::layer`: that would box it around every route, and axum
    // clones those boxes on every request.
    let service = tower::Layer::layer(&axum::Extension(Listener(listener.local_addr()?)), router);
    // No Nagle: an event-stream answer (legacy sessions) is written in several pieces, and with
    // Nagle and the client's delayed ACK each request waited ~40 ms (`atoms bench limits`).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    // The peer address reaches handlers as `ConnectInfo` (the rate limiter's client address).
    let make_service = axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
        SocketAddr,
    >(service);
    axum::serve(listener, make_service).with_graceful_shutdown(shutdown_signal()).await
}

/// [`serve`], flushing `state`'s metrics every `METRICS_FLUSH_SECONDS` (and exported spans,
/// when on, every `OTEL_BSP_SCHEDULE_DELAY`) and once more after the last request (so a
/// stopped server loses nothing it counted).
pub async fn serve_with_metrics(
    listener: TcpListener,
    router: Router,
    state: crate::state::AppState,
) -> std::io::Result<()> {
    let timer = crate::metrics::flush::spawn_timer(state.clone());
    let traces = crate::otlp::spawn_timer();
    let served = serve(listener, router).await;
    timer.abort();
    let _ = crate::metrics::flush::flush(&state).await;
    traces.inspect(tokio::task::JoinHandle::abort);
    crate::otlp::flush().await;
    served
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
