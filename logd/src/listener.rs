//! The accept loop both front ends share: the forward listeners (`forward::server`) and
//! the HTTP listener (`http`) take their connections through [`accept`], so a transient
//! accept error or shutdown is handled the same way on every port.
//!
//! May import: nothing of this crate; it sits under both front ends and `server`.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The next connection on `listener` (the forward and HTTP listeners' accept loop), or
/// `None` once `shutdown` is cancelled. Connections aborted or reset before they were
/// accepted are skipped; other errors (e.g. out of file descriptors) are logged as
/// "`what` accept failed" and retried after 50 ms.
pub(crate) async fn accept(
    listener: &TcpListener,
    shutdown: &CancellationToken,
    what: &str,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return None,
            accepted = listener.accept() => match accepted {
                Ok(pair) => return Some(pair),
                Err(e) => {
                    if !matches!(e.kind(), std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset) {
                        tracing::warn!(error = %e, "{what} accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            },
        }
    }
}
