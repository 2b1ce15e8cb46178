//! The accept loop: each connection served by hyper (HTTP/1.1) with the client's address
//! attached to its requests, until shutdown.
//!
//! It does what `axum::serve` does, plus a clock for hyper, so that a connection has at
//! most `header_read_timeout` to send each request's head, idle time between requests
//! included, after which hyper closes it. Without it, a client could hold connections
//! open for ever by sending nothing, or a byte at a time, until the process ran out of
//! file descriptors; the request timeout (408) only starts once a head has arrived.
//!
//! On shutdown it stops accepting, lets every connection finish the request in flight
//! (idle ones close at once), and returns when the last has closed, or after `drain_limit`
//! at most: a request in flight ends within the request timeout (408), so what is left
//! after it is a client that does not read its answer, or one still sending its head,
//! neither of which may keep the process from stopping.

use std::future::Future;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Serves `app` on `listener` until `shutdown` resolves, then drains the connections.
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    drain_limit: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    wait_after_accept_error(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers are small and written at once: no reason to let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        let service =
            app.clone()
                .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    req
                });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let conn =
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            if let Err(e) = watcher.watch(conn).await {
                // A client that went away, sent garbage or was too slow: its business.
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain_limit, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            seconds = drain_limit.as_secs_f64(),
            "connections still open after the drain limit are closed without waiting further"
        );
    }
}

/// After a failed accept: a connection that failed before it was accepted concerns that
/// client only; anything else (out of file descriptors, above all) is logged, and the
/// loop waits a moment rather than spin on it.
async fn wait_after_accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "cannot accept connections; trying again in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
