//! Live fan-out: a subscriber's view of one app, whatever the transport.
//!
//! Each app broadcasts batches of numbered lines (`Arc`s: never copied per subscriber) on a
//! bounded channel; each subscriber reads it at its own pace. Sending never waits: a
//! subscriber that falls more than the channel's capacity behind loses the oldest batches,
//! and notices it by the jump in sequence numbers, which it reports as `dropped N` before
//! carrying on. Ingest and the other subscribers never wait for it.
//!
//! A [`Subscription`] yields [`Item`]s: first a gap or reset marker if the requested resume
//! point is gone (from memory, and from disk when persistence is on: see
//! `Store::subscribe`), then the backlog (tail or resume), then live lines, `dropped`
//! markers and heartbeat ticks.
//!
//! May import: `line` only. The store feeds the hub (it numbers lines and sends them on
//! each app's channel) and the HTTP transports read it; a subscription carries what it
//! needs of its app (the name, as a shared `Arc<str>`), never the store's types.

use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use crate::line::{Line, SharedLine};

/// What an app broadcasts.
#[derive(Debug, Clone)]
pub enum Event {
    /// A batch of lines as the store kept them, in sequence order (shared, never copied
    /// per subscriber).
    Lines(Arc<[Line]>),
    /// A heartbeat tick: idle subscribers send a keep-alive.
    Heartbeat,
}

/// Where a subscription starts.
#[derive(Debug, Clone, Copy)]
pub struct Start {
    /// Without `after`: the last `tail` matching lines.
    pub tail: usize,
    /// Resume after this sequence number (`Last-Event-ID`, `since=`).
    pub after: Option<u64>,
}

/// Which lines a subscriber wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Exact sources; empty: all.
    pub sources: Vec<String>,
    /// Dynos: `web` matches `web`, `web.1`, `web.2`; `web.1` only itself. Empty: all.
    pub dynos: Vec<String>,
    /// Substring the message must contain.
    pub grep: Option<String>,
    /// Regular expression the message must match (linear time: the `regex` crate).
    pub regex: Option<regex::Regex>,
}

impl Filter {
    /// Whether every line passes.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty() && self.dynos.is_empty() && self.grep.is_none() && self.regex.is_none()
    }

    /// Whether `line` passes.
    pub fn matches(&self, line: &Line) -> bool {
        (self.sources.is_empty() || self.sources.iter().any(|s| s == line.source()))
            && (self.dynos.is_empty() || self.dynos.iter().any(|d| dyno_matches(d, line.dyno())))
            && self.grep.as_deref().is_none_or(|g| line.message().contains(g))
            && self.regex.as_ref().is_none_or(|r| r.is_match(line.message()))
    }
}

fn dyno_matches(wanted: &str, dyno: &str) -> bool {
    dyno == wanted || (dyno.len() > wanted.len() && dyno.starts_with(wanted) && dyno.as_bytes()[wanted.len()] == b'.')
}

/// One thing to send to a subscriber.
#[derive(Debug, Clone)]
pub enum Item {
    /// A line.
    Line(SharedLine),
    /// This many lines were skipped because the subscriber fell behind.
    Dropped(u64),
    /// Lines `from..=to` were requested but are no longer in history.
    Gap {
        /// First missing sequence number.
        from: u64,
        /// Last missing sequence number.
        to: u64,
    },
    /// The resume point is ahead of the app's history (logd lost it, e.g. restarted without
    /// persistence): sequence numbers start over.
    Reset,
    /// Nothing happened for a while.
    Heartbeat,
    /// The stream is over (no follow, or shutting down).
    End,
}

/// A subscriber's position in one app's stream.
#[derive(Debug)]
pub struct Subscription {
    /// The app's name (shared with its history: one `Arc` clone per subscription).
    app: Arc<str>,
    rx: Option<broadcast::Receiver<Event>>,
    backlog: std::vec::IntoIter<SharedLine>,
    marker: Option<Item>,
    batch: Option<(Arc<[Line]>, usize)>,
    held: Option<SharedLine>,
    last_seq: u64,
    filter: Filter,
    dropped: u64,
}

impl Subscription {
    pub(crate) fn new(
        app: Arc<str>,
        rx: Option<broadcast::Receiver<Event>>,
        backlog: Vec<SharedLine>,
        gap: Option<(u64, u64)>,
        reset: bool,
        last_seq: u64,
        filter: Filter,
    ) -> Subscription {
        let marker = match (gap, reset) {
            (Some((from, to)), _) => Some(Item::Gap { from, to }),
            (None, true) => Some(Item::Reset),
            (None, false) => None,
        };
        Subscription {
            app,
            rx,
            backlog: backlog.into_iter(),
            marker,
            batch: None,
            held: None,
            last_seq,
            filter,
            dropped: 0,
        }
    }

    /// The lines this subscriber asked for that memory no longer holds (`from`, `to`).
    pub fn gap(&self) -> Option<(u64, u64)> {
        match self.marker {
            Some(Item::Gap { from, to }) => Some((from, to)),
            _ => None,
        }
    }

    /// Fills the gap with `lines` read back from disk: the gap-free run that ends where
    /// memory starts (see [`Subscription::gap`]). They come first, through the filter;
    /// what the run does not reach back to stays a gap.
    pub fn fill_gap(&mut self, lines: Vec<Line>) {
        let (Some((from, to)), Some(first)) = (self.gap(), lines.first().map(Line::seq)) else { return };
        if lines.last().map(Line::seq) != Some(to) || first < from {
            return;
        }
        self.marker = (first > from).then_some(Item::Gap { from, to: first - 1 });
        let older = SharedLine::batch(lines).into_iter().filter(|l| self.filter.matches(l));
        let backlog: Vec<SharedLine> = older.chain(self.backlog.by_ref()).collect();
        self.backlog = backlog.into_iter();
    }

    /// The app's name.
    pub fn app(&self) -> &Arc<str> {
        &self.app
    }

    /// Lines dropped for this subscriber so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The next item, waiting for one.
    pub async fn next(&mut self) -> Item {
        loop {
            if let Some(item) = self.ready() {
                return item;
            }
            let Some(rx) = &mut self.rx else { return Item::End };
            match rx.recv().await {
                Ok(Event::Lines(lines)) => self.batch = Some((lines, 0)),
                Ok(Event::Heartbeat) => return Item::Heartbeat,
                // Fell behind: the next batch's sequence numbers tell how many lines.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return Item::End,
            }
        }
    }

    /// The next item if one is ready now (to batch several into one write).
    pub fn try_next(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.ready() {
                return Some(item);
            }
            let Some(rx) = &mut self.rx else { return Some(Item::End) };
            match rx.try_recv() {
                Ok(Event::Lines(lines)) => self.batch = Some((lines, 0)),
                Ok(Event::Heartbeat) => return Some(Item::Heartbeat),
                Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Closed) => return Some(Item::End),
            }
        }
    }

    /// What can be produced without receiving.
    fn ready(&mut self) -> Option<Item> {
        if let Some(marker) = self.marker.take() {
            return Some(marker);
        }
        if let Some(line) = self.backlog.next() {
            return Some(Item::Line(line));
        }
        loop {
            let line = match self.held.take() {
                Some(line) => line,
                None => {
                    let (lines, next) = self.batch.as_mut()?;
                    let Some(line) = SharedLine::new(lines, *next) else {
                        self.batch = None;
                        return None;
                    };
                    *next += 1;
                    line
                }
            };
            if line.seq <= self.last_seq {
                continue;
            }
            if line.seq > self.last_seq + 1 {
                let missed = line.seq - self.last_seq - 1;
                self.last_seq = line.seq - 1;
                self.held = Some(line);
                self.dropped += missed;
                return Some(Item::Dropped(missed));
            }
            self.last_seq = line.seq;
            if self.filter.matches(&line) {
                return Some(Item::Line(line));
            }
        }
    }
}

#[cfg(test)]
mod tests;
