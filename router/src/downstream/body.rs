//! The request body as the router sends it upstream ([`RequestBody`]): the client's body,
//! streamed, or the empty body of a request sent again. It watches the connection's
//! [`ConnState`], so that a body the framing check refused fails instead of ending.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::downstream::conn_state::ConnState;

/// The request body as sent upstream: the client's, failing instead of ending when the
/// connection's framing check refused it (framing.rs), so the app never receives a
/// request that looks complete.
#[derive(Debug)]
pub(crate) struct RequestBody {
    /// None for the empty body of a request the router sends again.
    inner: Option<Incoming>,
    conn: Arc<ConnState>,
}

impl RequestBody {
    pub(crate) fn new(inner: Incoming, conn: Arc<ConnState>) -> RequestBody {
        RequestBody { inner: Some(inner), conn }
    }

    /// An empty body (for resending a request that had none).
    pub(crate) fn empty(conn: Arc<ConnState>) -> RequestBody {
        RequestBody { inner: None, conn }
    }
}

/// The client's request body was refused mid-stream.
#[derive(Debug, thiserror::Error)]
#[error("the client's request body has malformed framing")]
pub(crate) struct MalformedBody;

impl Body for RequestBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.conn.is_poisoned() {
            return Poll::Ready(Some(Err(Box::new(MalformedBody))));
        }
        let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Pending => {
                self.conn.register_body_waker(cx.waker());
                if self.conn.is_poisoned() {
                    return Poll::Ready(Some(Err(Box::new(MalformedBody))));
                }
                Poll::Pending
            }
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Incoming::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map_or_else(|| SizeHint::with_exact(0), Incoming::size_hint)
    }
}
