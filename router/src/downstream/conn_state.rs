//! What the connection task and the request path share about one client connection.
//!
//! hyper's own HTTP/1 header timeout also runs while a keep-alive connection waits for its
//! next request, which would make "idle" and "slow head" the same timer. We keep them
//! apart: [`ConnState`] notes when the first byte of a new request head arrived (from the
//! connection's I/O wrapper, `accept/conn.rs`) and when the last response ended (from
//! the response's completion), and [`ConnState::check`] tells the connection task when to
//! close:
//! - a connection whose request head is not complete `header_read` after its first byte
//!   (slowloris), immediately;
//! - a connection with no request in flight for `idle`, gracefully.
//!
//! It also carries the framing check's verdict on the request body in flight (poisoned:
//! the body sent upstream fails, see `downstream/body.rs`), whether the client is a
//! trusted proxy (decided once, when the connection opens), and the answer to an upgrade
//! request: the framing check holds back the bytes after one until the request stack
//! knows whether the connection switched protocols ([`ConnState::switch_decided`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use http::HeaderValue;

use crate::clock::now_ms;

/// What the connection task and the request path share about one client connection.
#[derive(Debug)]
pub(crate) struct ConnState {
    /// The client's address.
    pub(crate) client: SocketAddr,
    /// The client's IP as a header value (for X-Forwarded-For).
    pub(crate) client_ip: HeaderValue,
    /// The port the client connected to (for X-Forwarded-Port).
    pub(crate) local_port: HeaderValue,
    /// The client is a trusted proxy (`clients.trusted_proxies`): its forwarding headers
    /// are kept and extended rather than replaced.
    pub(crate) trusted: bool,
    /// The protocol the client connected with: the one place that says it (router lines'
    /// `protocol=`).
    pub(crate) protocol: Protocol,
    inflight: AtomicU32,
    /// When the first byte of a request head arrived with nothing in flight; 0 if none.
    head_started: AtomicU64,
    /// When the last response ended (or the connection opened).
    idle_since: AtomicU64,
    /// The request body in flight had malformed framing (framing.rs): fail it.
    poisoned: AtomicBool,
    /// Wakes the upstream side of a body waiting for bytes that will never come.
    body_waker: AtomicWaker,
    /// Where an upgrade request stands: [`NO_SWITCH`], [`SWITCH_PENDING`], [`SWITCHED`] or
    /// [`NOT_SWITCHED`].
    switch: AtomicU8,
    /// Wakes the connection's reader, waiting for an upgrade's answer.
    read_waker: AtomicWaker,
}

/// The protocol of a client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Plain HTTP (HTTP/1.1 or h2c).
    Http,
    /// HTTP over TLS (the HTTPS listener's connections).
    Https,
}

impl Protocol {
    /// As in `X-Forwarded-Proto` and the router lines.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
        }
    }
}

/// No upgrade request awaits its answer.
const NO_SWITCH: u8 = 0;
/// An upgrade request was passed to hyper; its answer is not known yet.
const SWITCH_PENDING: u8 = 1;
/// The answer switched protocols (101, or 2xx to CONNECT): the bytes are not HTTP now.
const SWITCHED: u8 = 2;
/// The answer did not switch: the connection goes on with HTTP.
const NOT_SWITCHED: u8 = 3;

/// Why the connection task should close the connection.
pub(crate) enum Expired {
    HeaderTimeout,
    Idle,
}

impl ConnState {
    /// `opened` is when the connection was accepted: the first request head is due
    /// `header_read` after that.
    /// `trusted`: the client is a trusted proxy; `protocol`: how it connected.
    pub(crate) fn new(
        client: SocketAddr,
        local_port: u16,
        http2: bool,
        opened: u64,
        trusted: bool,
        protocol: Protocol,
    ) -> ConnState {
        ConnState {
            client,
            client_ip: HeaderValue::from_str(&client.ip().to_string()).expect("an IP is a valid header value"),
            local_port: HeaderValue::from(local_port),
            trusted,
            protocol,
            inflight: AtomicU32::new(0),
            head_started: AtomicU64::new(if http2 { 0 } else { opened }),
            idle_since: AtomicU64::new(now_ms()),
            poisoned: AtomicBool::new(false),
            body_waker: AtomicWaker::new(),
            switch: AtomicU8::new(NO_SWITCH),
            read_waker: AtomicWaker::new(),
        }
    }

    /// The framing check passed an upgrade request to hyper and holds back what follows.
    pub(crate) fn await_switch(&self) {
        self.switch.store(SWITCH_PENDING, Ordering::Release);
    }

    /// Whether an upgrade request awaits its answer (one atomic load: asked per request).
    pub(crate) fn is_switch_pending(&self) -> bool {
        self.switch.load(Ordering::Acquire) == SWITCH_PENDING
    }

    /// The upgrade request's answer is known: it switched protocols or it did not.
    pub(crate) fn switch_decided(&self, switched: bool) {
        let _ = self.switch.compare_exchange(
            SWITCH_PENDING,
            if switched { SWITCHED } else { NOT_SWITCHED },
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.read_waker.wake();
    }

    /// The upgrade request's answer, once known (`true`: switched); then the state is
    /// cleared for the next one. Pending registers the reader to be woken.
    pub(crate) fn poll_switch(&self, cx: &mut Context<'_>) -> Poll<bool> {
        let decided = |state: u8| match state {
            SWITCHED => Some(true),
            NOT_SWITCHED => Some(false),
            _ => None,
        };
        let mut state = self.switch.load(Ordering::Acquire);
        if decided(state).is_none() {
            self.read_waker.register(cx.waker());
            state = self.switch.load(Ordering::Acquire);
        }
        match decided(state) {
            Some(switched) => {
                self.switch.store(NO_SWITCH, Ordering::Release);
                Poll::Ready(switched)
            }
            None => Poll::Pending,
        }
    }

    /// Whether the request body in flight was refused for malformed framing.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// Registers the task sending the request body upstream, to be woken on poisoning.
    pub(crate) fn register_body_waker(&self, waker: &std::task::Waker) {
        self.body_waker.register(waker);
    }

    /// Refuses the request body in flight. Called while the connection task polls its
    /// hyper connection (the framing check reads for hyper), so the task sees
    /// [`ConnState::is_poisoned`] right after that poll, with no wake-up of its own.
    pub(crate) fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
        self.body_waker.wake();
    }

    /// A request head was read and handed to the service.
    pub(crate) fn request_started(&self) {
        self.inflight.fetch_add(1, Ordering::Relaxed);
        self.head_started.store(0, Ordering::Relaxed);
    }

    /// A response ended.
    pub(crate) fn request_finished(&self) {
        if self.inflight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.idle_since.store(now_ms(), Ordering::Relaxed);
        }
    }

    /// Bytes of an HTTP/1 connection arrived from the client (HTTP/2 has no head timer
    /// of ours).
    pub(crate) fn on_read(&self) {
        if self.inflight.load(Ordering::Relaxed) == 0 && self.head_started.load(Ordering::Relaxed) == 0 {
            self.head_started.store(now_ms(), Ordering::Relaxed);
        }
    }

    /// When to look again, or why to close now.
    pub(crate) fn check(&self, header_read: Duration, idle: Duration) -> Result<u64, Expired> {
        let now = now_ms();
        if self.inflight.load(Ordering::Relaxed) > 0 {
            return Ok(now + idle.as_millis() as u64);
        }
        let head = self.head_started.load(Ordering::Relaxed);
        if head != 0 {
            let deadline = head + header_read.as_millis() as u64;
            return if now >= deadline { Err(Expired::HeaderTimeout) } else { Ok(deadline) };
        }
        let deadline = self.idle_since.load(Ordering::Relaxed) + idle.as_millis() as u64;
        if now >= deadline { Err(Expired::Idle) } else { Ok(deadline) }
    }
}
