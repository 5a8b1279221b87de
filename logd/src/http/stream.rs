//! The streaming body shared by SSE, NDJSON and text: waits for the subscription's next
//! item, then takes whatever else is ready without waiting, and sends it all as one chunk
//! (one write for many lines when the subscriber is busy).
//!
//! Coalescing: a stream that wrote less than `coalesce` ago waits until then before its
//! next write, so lines arriving one by one go out in batches. The first line after a
//! quiet spell goes out at once. `coalesce` grows with the number of open streams (see
//! `Guard::coalesce_until`): with few followers every line is written as it comes; with
//! thousands, each writes at most every few milliseconds, which keeps the number of
//! wake-ups and writes (the cost of fan-out) bounded and so keeps latency low.
//!
//! Each line's JSON is encoded once and shared by every subscriber (`Line::json`); what a
//! subscriber does per line is copy those bytes into its write batch, which costs less
//! than handing the socket many small shared buffers.

use std::convert::Infallible;
use std::io::Write;
use std::time::Instant;

use axum::body::Body;
use bytes::Bytes;

use super::Guard;
use crate::hub::{Item, Subscription};
use crate::line::Line;

/// Largest chunk built before it is handed to the connection.
const CHUNK: usize = 64 * 1024;

/// How a transport writes items.
pub(crate) trait Render: Send + 'static {
    /// Written first.
    fn start(&mut self, _out: &mut Vec<u8>) {}
    /// A line.
    fn line(&mut self, app: &str, line: &Line, out: &mut Vec<u8>);
    /// `n` lines skipped (the subscriber fell behind).
    fn dropped(&mut self, n: u64, out: &mut Vec<u8>);
    /// Lines `from..=to` are gone from history.
    fn gap(&mut self, from: u64, to: u64, out: &mut Vec<u8>);
    /// Sequence numbers started over.
    fn reset(&mut self, out: &mut Vec<u8>);
    /// Keep-alive on an idle stream.
    fn heartbeat(&mut self, out: &mut Vec<u8>);
}

/// Writes the JSON object of a marker item onto `out`, the same for every transport:
/// `{"event":"dropped","dropped":17}`, `{"event":"gap","from":3,"to":41}` or
/// `{"event":"reset"}`. Other items write nothing.
pub(crate) fn write_marker(out: &mut Vec<u8>, item: &Item) {
    match *item {
        // Writing to a Vec cannot fail.
        Item::Dropped(n) => {
            let _ = write!(out, "{{\"event\":\"dropped\",\"dropped\":{n}}}");
        }
        Item::Gap { from, to } => {
            let _ = write!(out, "{{\"event\":\"gap\",\"from\":{from},\"to\":{to}}}");
        }
        Item::Reset => out.extend_from_slice(b"{\"event\":\"reset\"}"),
        Item::Line(_) | Item::Heartbeat | Item::End => {}
    }
}

struct State<R> {
    sub: Subscription,
    render: R,
    guard: Guard,
    app: std::sync::Arc<str>,
    started: bool,
    wrote: bool,
    done: bool,
    last_write: Instant,
}

/// A body that streams `sub` through `render` until the subscription ends or the
/// connection is dropped (the client went away, or logd shuts down).
pub(crate) fn body<R: Render>(sub: Subscription, render: R, guard: Guard) -> Body {
    let app = sub.app().clone();
    let state =
        State { sub, render, guard, app, started: false, wrote: false, done: false, last_write: Instant::now() };
    Body::from_stream(futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let mut out = Vec::new();
        if !st.started {
            st.started = true;
            st.render.start(&mut out);
            // The backlog is ready now: send it with the start.
            st.drain(&mut out);
            return Some((Ok::<_, Infallible>(Bytes::from(out)), st));
        }
        while out.is_empty() && !st.done {
            // At shutdown the connection, and with it this body, is dropped.
            let item = st.sub.next().await;
            let line = matches!(item, Item::Line(_));
            st.put(item, &mut out);
            st.drain(&mut out);
            // Nothing more ready yet: wait a little for more lines to share this write.
            if line
                && out.len() < CHUNK / 2
                && let Some(until) = st.guard.coalesce_until(st.last_write)
            {
                tokio::time::sleep_until(until.into()).await;
                st.drain(&mut out);
            }
        }
        st.last_write = Instant::now();
        if out.is_empty() {
            return None;
        }
        Some((Ok(Bytes::from(out)), st))
    }))
}

impl<R: Render> State<R> {
    /// Adds every item ready now, up to a chunk.
    fn drain(&mut self, out: &mut Vec<u8>) {
        while out.len() < CHUNK && !self.done {
            let Some(item) = self.sub.try_next() else { break };
            self.put(item, out);
        }
    }

    fn put(&mut self, item: Item, out: &mut Vec<u8>) {
        match item {
            Item::Line(line) => {
                self.render.line(&self.app, &line, out);
                self.wrote = true;
            }
            Item::Dropped(n) => {
                self.guard.dropped(n);
                self.render.dropped(n, out);
                self.wrote = true;
            }
            Item::Gap { from, to } => self.render.gap(from, to, out),
            Item::Reset => self.render.reset(out),
            Item::Heartbeat => {
                if !self.wrote {
                    self.render.heartbeat(out);
                }
                self.wrote = false;
            }
            Item::End => self.done = true,
        }
    }
}
