//! The forward protocol's framing and frame decoding (Forward Protocol Specification v1).
//!
//! A connection carries a stream of msgpack arrays. [`Splitter`] finds where each one ends
//! as bytes arrive, without decoding or allocating anything: it walks value headers,
//! keeps its place between reads (so a frame split over many reads costs O(frame), not
//! O(frame²)), and rejects a frame as soon as its declared sizes cannot fit the limit,
//! before the bytes are there. [`parse`] then reads a complete frame in place:
//!
//! - Message:        `[tag, time, record, option?]`
//! - Forward:        `[tag, [[time, record], ...], option?]`
//! - PackedForward:  `[tag, bin|str of concatenated [time, record], option?]`
//! - CompressedPackedForward: the same with `option.compressed = "gzip"`; the bin holds one
//!   or more gzip members.
//!
//! Times are integers (seconds), floats, or EventTime (ext type 0: u32 seconds + u32
//! nanoseconds, big-endian). Fluent Bit 2.x may send `[time, metadata]` in the time slot;
//! the metadata is ignored.

use std::io::Read;

use rmp::Marker;

use crate::line::Timestamp;
use crate::msgpack::{self, Head, Pair, Reader, Shape, be, shape};

/// Per-frame limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest frame, and largest decompressed packed stream, in bytes.
    pub max_frame_bytes: usize,
    /// Most entries in one frame.
    pub max_entries: usize,
}

/// Why a connection's input was refused. Each closes that connection only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A frame (or its decompressed entries) is larger than allowed.
    #[error("frame larger than the limit of {limit} bytes")]
    Oversized {
        /// The limit.
        limit: usize,
    },
    /// Bytes that are not a well-formed msgpack value.
    #[error("malformed msgpack: {0}")]
    Malformed(&'static str),
    /// Well-formed msgpack of the wrong shape.
    #[error("wrong type: expected {0}")]
    WrongType(&'static str),
    /// More entries than allowed in one frame.
    #[error("more than {limit} entries in one frame")]
    TooManyEntries {
        /// The limit.
        limit: usize,
    },
    /// `compressed: "gzip"` data that does not inflate.
    #[error("bad gzip data: {0}")]
    BadGzip(String),
    /// An unknown `compressed` option.
    #[error("unsupported compression {0:?}")]
    Compression(String),
    /// The connection ended in the middle of a frame.
    #[error("connection closed in the middle of a frame ({0} bytes buffered)")]
    Truncated(usize),
}

impl DecodeError {
    /// A short, bounded label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Oversized { .. } => "oversized",
            DecodeError::Malformed(_) => "malformed",
            DecodeError::WrongType(_) => "wrong_type",
            DecodeError::TooManyEntries { .. } => "too_many_entries",
            DecodeError::BadGzip(_) => "bad_gzip",
            DecodeError::Compression(_) => "bad_compression",
            DecodeError::Truncated(_) => "truncated",
        }
    }
}

impl From<msgpack::Error> for DecodeError {
    fn from(e: msgpack::Error) -> Self {
        match e {
            // Inside a complete frame, running out of bytes means a lying length.
            msgpack::Error::Truncated => DecodeError::Malformed("a value runs past the end of its frame"),
            msgpack::Error::Type(what) => DecodeError::WrongType(what),
            msgpack::Error::TooDeep => DecodeError::Malformed("nesting too deep"),
            msgpack::Error::Reserved => DecodeError::Malformed("reserved marker 0xc1"),
        }
    }
}

/// Finds frame boundaries in a growing buffer; see the module docs.
#[derive(Debug, Clone)]
pub struct Splitter {
    /// Where the walk stopped: the start of the next value header to read.
    pos: usize,
    /// Values still to walk before the frame is complete.
    pending: u64,
}

impl Default for Splitter {
    fn default() -> Self {
        Splitter { pos: 0, pending: 1 }
    }
}

impl Splitter {
    /// The length of the complete frame at the start of `buf`, or `None` until more bytes
    /// arrive. Call again with the same buffer grown (its start unchanged) after a `None`,
    /// and with the remaining bytes after taking a frame.
    pub fn next_frame(&mut self, buf: &[u8], max: usize) -> Result<Option<usize>, DecodeError> {
        if self.pos == 0 && self.pending == 1 {
            match buf.first() {
                None => return Ok(None),
                Some(0x90..=0x9f | 0xdc | 0xdd) => {}
                Some(_) => return Err(DecodeError::Malformed("a frame must be a msgpack array")),
            }
        }
        self.next_value(buf, max)
    }

    /// The length of the complete msgpack value of any type at the start of `buf` (what a
    /// forward client reads: the server's HELO, PONG and acks are arrays and maps), or
    /// `None` until more bytes arrive; the same walk and limits as [`Splitter::next_frame`].
    #[inline]
    pub fn next_value(&mut self, buf: &[u8], max: usize) -> Result<Option<usize>, DecodeError> {
        let oversized = DecodeError::Oversized { limit: max };
        while self.pending > 0 {
            let Some(&b) = buf.get(self.pos) else { return Ok(None) };
            // Reserved 0xc1 maps to `Malformed("reserved marker 0xc1")`.
            let (end, items) = match shape(Marker::from_u8(b))? {
                Shape::Fixed { header, payload } => (self.pos + header + payload, 0),
                Shape::Items { header, items } => (self.pos + header, items),
                Shape::Sized { width, extra } => {
                    let Some(len) = buf.get(self.pos + 1..self.pos + 1 + width) else {
                        return if self.pos + 1 + width > max { Err(oversized) } else { Ok(None) };
                    };
                    let len = usize::try_from(be(len)).map_err(|_| oversized.clone())?;
                    (self.pos.saturating_add(1 + width + extra).saturating_add(len), 0)
                }
                Shape::Counted { width, per } => {
                    let Some(count) = buf.get(self.pos + 1..self.pos + 1 + width) else {
                        return if self.pos + 1 + width > max { Err(oversized) } else { Ok(None) };
                    };
                    (self.pos + 1 + width, be(count) * per)
                }
            };
            if end > max {
                return Err(oversized);
            }
            // Each value still to come needs at least one byte.
            let pending = self.pending - 1 + items;
            if pending > (max - end) as u64 {
                return Err(oversized);
            }
            if end > buf.len() {
                return Ok(None);
            }
            self.pos = end;
            self.pending = pending;
        }
        let len = self.pos;
        *self = Splitter::default();
        Ok(Some(len))
    }
}

/// A decoded frame, borrowing from the frame bytes.
#[derive(Debug)]
pub struct Frame<'a> {
    /// The tag.
    pub tag: &'a str,
    /// The entries, still encoded.
    pub entries: Entries<'a>,
    /// The `chunk` option's raw msgpack value: ack it with `{"ack": chunk}`.
    pub chunk: Option<&'a [u8]>,
    /// `compressed: "gzip"`.
    pub gzip: bool,
}

/// The entries of a frame, by mode.
#[derive(Debug)]
pub enum Entries<'a> {
    /// Message mode: one event.
    Message {
        /// The time value.
        time: Timestamp,
        /// The record (a msgpack map).
        record: &'a [u8],
    },
    /// Forward mode: `count` encoded `[time, record]` arrays.
    Forward {
        /// Number of entries.
        count: u32,
        /// The entries, one after the other.
        data: &'a [u8],
    },
    /// (Compressed)PackedForward: a stream of `[time, record]` arrays.
    Packed {
        /// The stream (gzip members when the frame says `compressed: "gzip"`).
        data: &'a [u8],
    },
}

/// Decodes a complete frame (as found by [`Splitter`]).
pub fn parse(frame: &[u8]) -> Result<Frame<'_>, DecodeError> {
    let mut r = Reader::new(frame);
    let n = r.array_len()?;
    if !(2..=4).contains(&n) {
        return Err(DecodeError::WrongType("a frame of 2 to 4 elements: [tag, entries, option]"));
    }
    let tag = r.str().map_err(|_| DecodeError::WrongType("a string tag"))?;
    let mut peek = r.clone();
    let (entries, rest) = match peek.head()? {
        Head::Array(count) => {
            r = peek;
            let data_start = r.pos();
            for _ in 0..count {
                r.skip()?;
            }
            (Entries::Forward { count, data: r.slice(data_start, r.pos()) }, n - 2)
        }
        Head::Bin(data) | Head::Str(data) => {
            r = peek;
            (Entries::Packed { data }, n - 2)
        }
        _ => {
            let time = read_time(&mut r)?;
            if n < 3 {
                return Err(DecodeError::WrongType("a record after the time (Message mode)"));
            }
            let record = r.value()?;
            if !is_map(record) {
                return Err(DecodeError::WrongType("a map record"));
            }
            (Entries::Message { time, record }, n - 3)
        }
    };
    let mut chunk = None;
    let mut gzip = false;
    if rest == 1 {
        match r.head()? {
            Head::Map(pairs) => {
                for _ in 0..pairs {
                    let key = r.bytes().unwrap_or_default();
                    let value = r.value()?;
                    match key {
                        b"chunk" => chunk = Some(value),
                        b"compressed" => match msgpack::as_str(value) {
                            Some("gzip") => gzip = true,
                            // Node's fluent-logger says "text" for uncompressed entries.
                            Some("text") => {}
                            _ if value == [0xc0] => {}
                            other => {
                                return Err(DecodeError::Compression(other.unwrap_or("(not a string)").to_owned()));
                            }
                        },
                        // `size` counts entries for Fluent Bit and bytes for Node's client:
                        // informational only. Unknown options are ignored.
                        _ => {}
                    }
                }
            }
            Head::Nil => {}
            _ => return Err(DecodeError::WrongType("an option map")),
        }
    } else if rest > 1 {
        return Err(DecodeError::WrongType("at most one option map"));
    }
    if gzip && !matches!(entries, Entries::Packed { .. }) {
        return Err(DecodeError::WrongType("compressed entries in a bin (CompressedPackedForward)"));
    }
    Ok(Frame { tag, entries, chunk, gzip })
}

fn is_map(value: &[u8]) -> bool {
    value.first().copied().is_some_and(is_map_marker)
}

fn is_map_marker(marker: u8) -> bool {
    matches!(marker, 0x80..=0x8f | 0xde | 0xdf)
}

const NOT_A_TIME: DecodeError = DecodeError::WrongType("a time (integer, float or EventTime)");

/// The time a value holds: non-negative integer seconds, float seconds or EventTime.
fn time_of(head: Head<'_>) -> Option<Timestamp> {
    match head {
        Head::Uint(secs) => Some(Timestamp::new(secs, 0)),
        Head::Float(f) => Some(Timestamp::from_f64(f)),
        _ => msgpack::event_time(&head).map(|(secs, nanos)| Timestamp::new(u64::from(secs), nanos)),
    }
}

/// Reads a time: integer seconds, float seconds, EventTime, or `[time, metadata]`. A
/// negative integer reads as the epoch, but only at the top level.
fn read_time(r: &mut Reader<'_>) -> Result<Timestamp, DecodeError> {
    let head = r.head()?;
    if let Some(time) = time_of(head) {
        return Ok(time);
    }
    match head {
        Head::Int(_) => Ok(Timestamp::default()),
        Head::Array(n) if n >= 1 => {
            let time = time_of(r.head()?).ok_or(NOT_A_TIME)?;
            for _ in 1..n {
                r.skip()?;
            }
            Ok(time)
        }
        _ => Err(NOT_A_TIME),
    }
}

/// Inflates the gzip member(s) of a CompressedPackedForward frame into `out`.
pub fn inflate(data: &[u8], max: usize, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    out.clear();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::MultiGzDecoder::new(data)
        .take(limit)
        .read_to_end(out)
        .map_err(|e| DecodeError::BadGzip(e.to_string()))?;
    if out.len() > max {
        return Err(DecodeError::Oversized { limit: max });
    }
    Ok(())
}

/// Walks the entries of a frame.
#[derive(Debug)]
pub struct EntryIter<'a> {
    r: Reader<'a>,
    single: Option<(Timestamp, &'a [u8])>,
    remaining: Option<u32>,
    seen: usize,
    max: usize,
}

impl<'a> EntryIter<'a> {
    /// Entries of a Message or Forward frame, or of packed `data` (inflated if it was gzip).
    pub fn new(entries: &Entries<'a>, packed: Option<&'a [u8]>, max_entries: usize) -> EntryIter<'a> {
        let (data, single, remaining): (&'a [u8], _, _) = match *entries {
            Entries::Message { time, record } => (&[], Some((time, record)), Some(0)),
            Entries::Forward { count, data } => (data, None, Some(count)),
            Entries::Packed { data } => (packed.unwrap_or(data), None, None),
        };
        EntryIter { r: Reader::new(data), single, remaining, seen: 0, max: max_entries }
    }

    /// The next `(time, record)`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<(Timestamp, &'a [u8])>, DecodeError> {
        self.next_listed(&mut Vec::new())
    }

    /// The next `(time, record)`, with the record's top-level pairs listed into `pairs` in
    /// the same walk that finds where the record ends (for [`crate::record::Rules::map_listed`]).
    pub fn next_listed(&mut self, pairs: &mut Vec<Pair<'a>>) -> Result<Option<(Timestamp, &'a [u8])>, DecodeError> {
        if let Some((time, record)) = self.single.take() {
            msgpack::list_map(&mut Reader::new(record), pairs)?;
            return Ok(Some((time, record)));
        }
        match &mut self.remaining {
            Some(0) => return Ok(None),
            Some(n) => *n -= 1,
            None if self.r.is_empty() => return Ok(None),
            None => {}
        }
        self.seen += 1;
        if self.seen > self.max {
            return Err(DecodeError::TooManyEntries { limit: self.max });
        }
        let n = self.r.array_len().map_err(|_| DecodeError::WrongType("an entry [time, record]"))?;
        if n < 2 {
            return Err(DecodeError::WrongType("an entry [time, record]"));
        }
        let time = read_time(&mut self.r)?;
        if !self.r.peek().is_some_and(is_map_marker) {
            return Err(DecodeError::WrongType("a map record"));
        }
        let record = msgpack::list_map(&mut self.r, pairs)?;
        for _ in 2..n {
            self.r.skip()?;
        }
        Ok(Some((time, record)))
    }
}

#[cfg(test)]
mod tests;
