//! The receiver's listener: at most so many connections at once (kept below the process's
//! open-file limit), each with a header and idle timeout and a whole-request timeout, so that
//! slow, idle or flooding clients can neither hold the service nor starve Sipuni's events.

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower_http::timeout::TimeoutLayer;

/// Files the process keeps for itself besides client connections: the database and its side
/// files, amoCRM connections, logs, the listener.
const RESERVED_FILES: u64 = 64;

/// How the receiver protects itself.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A client must send a request's headers within this long of starting it, or of the end
    /// of its previous request on a kept-alive connection (then it is an idle timeout).
    pub(crate) header_timeout: Duration,
    /// A whole request, body included, must be read and answered within this long (408).
    pub(crate) request_timeout: Duration,
    /// Client connections open at once; more wait in the kernel's accept queue.
    pub(crate) max_connections: usize,
}

impl Default for Limits {
    /// The command line's defaults.
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

/// The connection cap actually used: the one asked for, but never so close to the open-file
/// limit that the database or amoCRM could not get a file. Errors when even one connection
/// would not fit.
pub(crate) fn connection_cap(asked: usize) -> Result<usize, crate::server::error::ServeError> {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    let room = soft.saturating_sub(RESERVED_FILES);
    let cap = usize::try_from(room).unwrap_or(usize::MAX).min(asked);
    if cap == 0 {
        return Err(crate::server::error::ServeError::Options(format!(
            "the open-file limit ({soft}) leaves no room for client connections: raise it (ulimit -n) above {RESERVED_FILES}"
        )));
    }
    if cap < asked {
        tracing::warn!(
            asked,
            cap,
            open_file_limit = soft,
            "--max-connections lowered to fit the open-file limit"
        );
    }
    Ok(cap)
}

/// Serves `router` on `listener` until `stop` turns true, then waits for the connections in
/// hand to finish their requests (the caller bounds that wait).
/// Binds the service's address; a failure names it.
pub(crate) async fn bind(
    addr: std::net::SocketAddr,
) -> Result<TcpListener, crate::server::ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| crate::server::ServeError::Listen { addr, source })
}

pub(crate) async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let router = router.layer(TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        limits.request_timeout,
    ));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            () = stopped(&mut stop) => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of files or a connection reset before it was taken: keep going.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(
                TokioIo::new(stream),
                TowerToHyperService::new(router.clone()),
            );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "client connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_open_file_limit() {
        let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(u64::MAX);
        let cap = connection_cap(usize::MAX).unwrap();
        assert!(u64::try_from(cap).unwrap() <= soft.saturating_sub(RESERVED_FILES));
        assert_eq!(connection_cap(3).unwrap(), 3);
    }
}
