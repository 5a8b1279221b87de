//! The request body as the router sends it upstream ([`RequestBody`]): the client's body,
//! streamed, or the empty body of a request sent again. It watches the connection's
//! [`ConnState`], so that a body the framing check refused fails instead of ending, and
//! notes its progress in an [`Upload`], which the response deadline reads
//! (`stack/deadline.rs`).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::clock::now_ms;
use crate::downstream::conn_state::ConnState;

/// The request body as sent upstream: the client's, failing instead of ending when the
/// connection's framing check refused it (framing.rs), so the app never receives a
/// request that looks complete.
#[derive(Debug)]
pub(crate) struct RequestBody {
    /// None for the empty body of a request the router sends again.
    inner: Option<Incoming>,
    conn: Arc<ConnState>,
    /// The body's progress; only for a body that is not empty from the start.
    upload: Option<Arc<Upload>>,
}

impl RequestBody {
    /// The client's body. One allocation (its [`Upload`]) when it is not empty; none for
    /// the bodiless requests that make most traffic.
    pub(crate) fn new(inner: Incoming, conn: Arc<ConnState>) -> RequestBody {
        let upload = (!inner.is_end_stream()).then(|| Arc::new(Upload::new()));
        RequestBody { inner: Some(inner), conn, upload }
    }

    /// An empty body (for resending a request that had none).
    pub(crate) fn empty(conn: Arc<ConnState>) -> RequestBody {
        RequestBody { inner: None, conn, upload: None }
    }

    /// The body's progress, if it has one to make.
    pub(crate) fn upload(&self) -> Option<Arc<Upload>> {
        self.upload.clone()
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
        let this = &mut *self;
        if this.conn.is_poisoned() {
            return Poll::Ready(Some(Err(Box::new(MalformedBody))));
        }
        let Some(inner) = this.inner.as_mut() else { return Poll::Ready(None) };
        match Pin::new(&mut *inner).poll_frame(cx) {
            Poll::Pending => {
                this.conn.register_body_waker(cx.waker());
                if this.conn.is_poisoned() {
                    return Poll::Ready(Some(Err(Box::new(MalformedBody))));
                }
                if let Some(upload) = &this.upload {
                    upload.waiting_for_client();
                }
                Poll::Pending
            }
            Poll::Ready(frame) => {
                if let Some(upload) = &this.upload
                    && !matches!(frame, Some(Err(_)))
                {
                    upload.moved(frame.is_none() || inner.is_end_stream());
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Incoming::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map_or_else(|| SizeHint::with_exact(0), Incoming::size_hint)
    }
}

/// How far a request body has got: written by the body as hyper sends it upstream, read
/// by the response deadline when its timer fires.
#[derive(Debug)]
pub(crate) struct Upload {
    /// When a piece of the body last moved (`clock::now_ms`), or when the last one did.
    last_ms: AtomicU64,
    /// [`MOVING`], [`CLIENT_STALLED`] or [`SENT`].
    phase: AtomicU8,
}

/// Pieces are moving, or the upstream side stopped asking for more.
const MOVING: u8 = 0;
/// The upstream side asked for more and the client has not sent it yet.
const CLIENT_STALLED: u8 = 1;
/// The whole body was handed to the upstream connection.
const SENT: u8 = 2;

/// Where a request body stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Still being sent; a piece last moved at `last_ms`. `client_stalled`: the client is
    /// the one not sending.
    Sending { last_ms: u64, client_stalled: bool },
    /// Sent whole at `at_ms`.
    Sent { at_ms: u64 },
}

impl Upload {
    fn new() -> Upload {
        Upload { last_ms: AtomicU64::new(now_ms()), phase: AtomicU8::new(MOVING) }
    }

    /// A piece of the body (the last one, if `done`) was handed on.
    fn moved(&self, done: bool) {
        if self.phase.load(Ordering::Relaxed) == SENT {
            return;
        }
        self.last_ms.store(now_ms(), Ordering::Relaxed);
        self.phase.store(if done { SENT } else { MOVING }, Ordering::Release);
    }

    fn waiting_for_client(&self) {
        let _ = self.phase.compare_exchange(MOVING, CLIENT_STALLED, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// Where the body stands now.
    pub(crate) fn progress(&self) -> Progress {
        let phase = self.phase.load(Ordering::Acquire);
        let last_ms = self.last_ms.load(Ordering::Relaxed);
        match phase {
            SENT => Progress::Sent { at_ms: last_ms },
            _ => Progress::Sending { last_ms, client_stalled: phase == CLIENT_STALLED },
        }
    }
}
