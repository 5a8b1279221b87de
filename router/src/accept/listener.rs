//! Each worker's accept loop.
//!
//! Every worker thread has its own listening socket on the shared HTTP port, and one on the
//! HTTPS port when it is on (opened by `accept/bind.rs`), and a single-threaded runtime
//! that accepts on them and serves each connection (`accept/conn.rs`). On shutdown it stops accepting, lets its
//! connections and tunnels finish, and drops what is left after `timeouts.drain`.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::accept::worker::Worker;

/// A worker: accept loop, then drain.
pub(crate) fn run_worker(
    index: usize,
    listener: std::net::TcpListener,
    tls_listener: Option<std::net::TcpListener>,
    worker: Arc<Worker>,
    shutdown: CancellationToken,
) {
    crate::upstream::pool::set_worker_index(index);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(worker = index, error = %e, "cannot start worker runtime");
            return;
        }
    };
    let drain = worker.shared.config.timeouts.drain;
    runtime.block_on(async move {
        let listener = match TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(worker = index, error = %e, "cannot register listener");
                return;
            }
        };
        let tls_listener = match tls_listener.map(TcpListener::from_std).transpose() {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(worker = index, error = %e, "cannot register the HTTPS listener");
                return;
            }
        };
        let connections = TaskTracker::new();
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, client)) => {
                        connections.spawn(crate::accept::conn::serve(worker.clone(), stream, client, shutdown.clone()));
                    }
                    Err(e) => pause_after(index, &e).await,
                },
                accepted = accept_on(tls_listener.as_ref()), if tls_listener.is_some() => match accepted {
                    Ok((stream, client)) => {
                        connections.spawn(crate::accept::conn::serve_tls(worker.clone(), stream, client, shutdown.clone()));
                    }
                    Err(e) => pause_after(index, &e).await,
                },
            }
        }
        drop(listener);
        drop(tls_listener);
        connections.close();
        worker.tunnels.close();
        let drained = tokio::time::timeout(drain, async {
            connections.wait().await;
            worker.tunnels.wait().await;
        })
        .await;
        if drained.is_err() {
            tracing::warn!(worker = index, open = connections.len() + worker.tunnels.len(), "drain timeout: closing what is left");
        }
    });
}

/// Accepts on `listener` (the branch is disabled when there is none).
async fn accept_on(listener: Option<&TcpListener>) -> std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// After a failed accept: per-connection errors (reset before accept) are not worth a
/// pause; running out of file descriptors is, or the loop would spin.
async fn pause_after(index: usize, e: &std::io::Error) {
    if !matches!(e.kind(), std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset) {
        tracing::warn!(worker = index, error = %e, "accept failed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
