//! Zero-copy reading of msgpack values out of a frame buffer, on top of `rmp`'s marker
//! decoding, and msgpack → JSON conversion for the fields of log lines.
//!
//! Nothing here allocates from a length the input declares: a header is only believed once
//! the bytes it announces are in the buffer (`take` checks before slicing).

use std::io::Write;

use base64::Engine;
use rmp::Marker;

/// Deepest nesting accepted when converting or walking values (protects the stack).
pub const MAX_DEPTH: usize = 64;

/// Why a value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The value runs past the end of the buffer.
    Truncated,
    /// A value of another type was found; names what was expected.
    Type(&'static str),
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A reserved marker (0xc1).
    Reserved,
}

/// The head of one value: scalars with their payload, containers with their length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Head<'a> {
    /// nil
    Nil,
    /// true / false
    Bool(bool),
    /// A non-negative integer.
    Uint(u64),
    /// A negative integer.
    Int(i64),
    /// A float (f32 widened).
    Float(f64),
    /// A str (bytes as sent; not yet checked as UTF-8).
    Str(&'a [u8]),
    /// A bin.
    Bin(&'a [u8]),
    /// An array of this many values.
    Array(u32),
    /// A map of this many key/value pairs.
    Map(u32),
    /// An ext value: type and data.
    Ext(i8, &'a [u8]),
}

/// How long a value's header is and what follows it, as its marker says: the one marker
/// table behind both walks that skip values without decoding them ([`Reader::skip`] and
/// the forward framing's splitter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `payload` bytes follow a header of `header` bytes (marker included).
    Fixed { header: usize, payload: usize },
    /// The payload length is a big-endian integer of `width` bytes after the marker
    /// (`extra` more header bytes after it: the ext type).
    Sized { width: usize, extra: usize },
    /// A container of `items` values after a header of `header` bytes.
    Items { header: usize, items: u64 },
    /// A container whose count is a `width`-byte integer after the marker; `per` values
    /// per count.
    Counted { width: usize, per: u64 },
}

/// The [`Shape`] of a value with this marker; [`Error::Reserved`] for 0xc1.
pub(crate) fn shape(marker: Marker) -> Result<Shape, Error> {
    use Shape::{Counted, Fixed, Items, Sized};
    Ok(match marker {
        Marker::Null | Marker::True | Marker::False | Marker::FixPos(_) | Marker::FixNeg(_) => {
            Fixed { header: 1, payload: 0 }
        }
        Marker::FixMap(n) => Items { header: 1, items: 2 * u64::from(n) },
        Marker::FixArray(n) => Items { header: 1, items: u64::from(n) },
        Marker::FixStr(n) => Fixed { header: 1, payload: usize::from(n) },
        Marker::Reserved => return Err(Error::Reserved),
        Marker::Bin8 | Marker::Str8 => Sized { width: 1, extra: 0 },
        Marker::Bin16 | Marker::Str16 => Sized { width: 2, extra: 0 },
        Marker::Bin32 | Marker::Str32 => Sized { width: 4, extra: 0 },
        Marker::Ext8 => Sized { width: 1, extra: 1 },
        Marker::Ext16 => Sized { width: 2, extra: 1 },
        Marker::Ext32 => Sized { width: 4, extra: 1 },
        Marker::F32 => Fixed { header: 1, payload: 4 },
        Marker::F64 => Fixed { header: 1, payload: 8 },
        Marker::U8 | Marker::I8 => Fixed { header: 1, payload: 1 },
        Marker::U16 | Marker::I16 => Fixed { header: 1, payload: 2 },
        Marker::U32 | Marker::I32 => Fixed { header: 1, payload: 4 },
        Marker::U64 | Marker::I64 => Fixed { header: 1, payload: 8 },
        Marker::FixExt1 => Fixed { header: 2, payload: 1 },
        Marker::FixExt2 => Fixed { header: 2, payload: 2 },
        Marker::FixExt4 => Fixed { header: 2, payload: 4 },
        Marker::FixExt8 => Fixed { header: 2, payload: 8 },
        Marker::FixExt16 => Fixed { header: 2, payload: 16 },
        Marker::Array16 => Counted { width: 2, per: 1 },
        Marker::Array32 => Counted { width: 4, per: 1 },
        Marker::Map16 => Counted { width: 2, per: 2 },
        Marker::Map32 => Counted { width: 4, per: 2 },
    })
}

/// A big-endian unsigned integer of up to 8 bytes.
pub(crate) fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

/// The seconds and nanoseconds of an EventTime (ext type 0 of 8 bytes: two big-endian
/// u32s), if `head` is one.
pub fn event_time(head: &Head<'_>) -> Option<(u32, u32)> {
    match *head {
        Head::Ext(0, &[s0, s1, s2, s3, n0, n1, n2, n3]) => {
            Some((u32::from_be_bytes([s0, s1, s2, s3]), u32::from_be_bytes([n0, n1, n2, n3])))
        }
        _ => None,
    }
}

/// A cursor over a buffer.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads `buf` from its start.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// The next byte (a value's marker), without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Bytes consumed so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Whether every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The bytes between two positions of this reader.
    pub fn slice(&self, from: usize, to: usize) -> &'a [u8] {
        &self.buf[from..to]
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).ok_or(Error::Truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or(Error::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn len8(&mut self) -> Result<usize, Error> {
        Ok(usize::from(self.u8()?))
    }

    fn len16(&mut self) -> Result<usize, Error> {
        Ok(usize::from(u16::from_be_bytes(self.be()?)))
    }

    fn len32(&mut self) -> Result<usize, Error> {
        usize::try_from(u32::from_be_bytes(self.be()?)).map_err(|_| Error::Truncated)
    }

    /// Reads the head of the next value (and the payload of scalars).
    pub fn head(&mut self) -> Result<Head<'a>, Error> {
        let b = self.u8()?;
        // The markers of nearly every value in a record first: short strings, small maps
        // and arrays, small integers.
        match b {
            0xa0..=0xbf => return Ok(Head::Str(self.take(usize::from(b & 0x1f))?)),
            0x80..=0x8f => return Ok(Head::Map(u32::from(b & 0x0f))),
            0x90..=0x9f => return Ok(Head::Array(u32::from(b & 0x0f))),
            0x00..=0x7f => return Ok(Head::Uint(u64::from(b))),
            _ => {}
        }
        let marker = Marker::from_u8(b);
        Ok(match marker {
            Marker::Null => Head::Nil,
            Marker::True => Head::Bool(true),
            Marker::False => Head::Bool(false),
            Marker::FixPos(n) => Head::Uint(u64::from(n)),
            Marker::FixNeg(n) => Head::Int(i64::from(n)),
            Marker::U8 => Head::Uint(u64::from(self.u8()?)),
            Marker::U16 => Head::Uint(u64::from(u16::from_be_bytes(self.be()?))),
            Marker::U32 => Head::Uint(u64::from(u32::from_be_bytes(self.be()?))),
            Marker::U64 => Head::Uint(u64::from_be_bytes(self.be()?)),
            Marker::I8 => int(i64::from(i8::from_be_bytes(self.be()?))),
            Marker::I16 => int(i64::from(i16::from_be_bytes(self.be()?))),
            Marker::I32 => int(i64::from(i32::from_be_bytes(self.be()?))),
            Marker::I64 => int(i64::from_be_bytes(self.be()?)),
            Marker::F32 => Head::Float(f64::from(f32::from_be_bytes(self.be()?))),
            Marker::F64 => Head::Float(f64::from_be_bytes(self.be()?)),
            Marker::FixStr(n) => Head::Str(self.take(usize::from(n))?),
            Marker::Str8 => {
                let n = self.len8()?;
                Head::Str(self.take(n)?)
            }
            Marker::Str16 => {
                let n = self.len16()?;
                Head::Str(self.take(n)?)
            }
            Marker::Str32 => {
                let n = self.len32()?;
                Head::Str(self.take(n)?)
            }
            Marker::Bin8 => {
                let n = self.len8()?;
                Head::Bin(self.take(n)?)
            }
            Marker::Bin16 => {
                let n = self.len16()?;
                Head::Bin(self.take(n)?)
            }
            Marker::Bin32 => {
                let n = self.len32()?;
                Head::Bin(self.take(n)?)
            }
            Marker::FixArray(n) => Head::Array(u32::from(n)),
            Marker::Array16 => Head::Array(u32::from(u16::from_be_bytes(self.be()?))),
            Marker::Array32 => Head::Array(u32::from_be_bytes(self.be()?)),
            Marker::FixMap(n) => Head::Map(u32::from(n)),
            Marker::Map16 => Head::Map(u32::from(u16::from_be_bytes(self.be()?))),
            Marker::Map32 => Head::Map(u32::from_be_bytes(self.be()?)),
            Marker::FixExt1 => self.ext(1)?,
            Marker::FixExt2 => self.ext(2)?,
            Marker::FixExt4 => self.ext(4)?,
            Marker::FixExt8 => self.ext(8)?,
            Marker::FixExt16 => self.ext(16)?,
            Marker::Ext8 => {
                let n = self.len8()?;
                self.ext(n)?
            }
            Marker::Ext16 => {
                let n = self.len16()?;
                self.ext(n)?
            }
            Marker::Ext32 => {
                let n = self.len32()?;
                self.ext(n)?
            }
            Marker::Reserved => return Err(Error::Reserved),
        })
    }

    fn ext(&mut self, len: usize) -> Result<Head<'a>, Error> {
        let ty = i8::from_be_bytes(self.be()?);
        Ok(Head::Ext(ty, self.take(len)?))
    }

    /// Skips one whole value, iteratively (no recursion, however deep), by its headers
    /// alone (scalars are stepped over, not decoded).
    pub fn skip(&mut self) -> Result<(), Error> {
        // The usual record value first: a short string, or a one-byte scalar.
        match self.peek() {
            Some(b @ 0xa0..=0xbf) => {
                self.pos += 1;
                self.take(usize::from(b & 0x1f))?;
                return Ok(());
            }
            Some(0x00..=0x7f | 0xc0 | 0xc2 | 0xc3 | 0xe0..=0xff) => {
                self.pos += 1;
                return Ok(());
            }
            _ => {}
        }
        let mut pending: u64 = 1;
        while pending > 0 {
            pending -= 1;
            match shape(Marker::from_u8(self.u8()?))? {
                Shape::Fixed { header, payload } => {
                    self.take(header - 1 + payload)?;
                }
                Shape::Sized { width, extra } => {
                    let len = usize::try_from(be(self.take(width)?)).map_err(|_| Error::Truncated)?;
                    self.take(len.saturating_add(extra))?;
                }
                Shape::Items { header, items } => {
                    self.take(header - 1)?;
                    pending += items;
                }
                Shape::Counted { width, per } => pending += be(self.take(width)?) * per,
            }
            // Every pending value needs at least one byte: fail early on absurd counts.
            if pending > (self.buf.len() - self.pos) as u64 {
                return Err(Error::Truncated);
            }
        }
        Ok(())
    }

    /// Skips one value and returns its bytes.
    pub fn value(&mut self) -> Result<&'a [u8], Error> {
        let start = self.pos;
        self.skip()?;
        Ok(&self.buf[start..self.pos])
    }

    /// Reads an array header.
    pub fn array_len(&mut self) -> Result<u32, Error> {
        match self.head()? {
            Head::Array(n) => Ok(n),
            _ => Err(Error::Type("an array")),
        }
    }

    /// Reads a map header.
    pub fn map_len(&mut self) -> Result<u32, Error> {
        match self.head()? {
            Head::Map(n) => Ok(n),
            _ => Err(Error::Type("a map")),
        }
    }

    /// Reads a str or bin value's bytes.
    pub fn bytes(&mut self) -> Result<&'a [u8], Error> {
        match self.head()? {
            Head::Str(b) | Head::Bin(b) => Ok(b),
            _ => Err(Error::Type("a string")),
        }
    }

    /// Reads a str (or bin) value as UTF-8 text.
    pub fn str(&mut self) -> Result<&'a str, Error> {
        std::str::from_utf8(self.bytes()?).map_err(|_| Error::Type("a UTF-8 string"))
    }
}

/// One top-level pair of a map: its key (empty when not a str or bin), its value's bytes,
/// and where the whole pair sits, as offsets from the start of the map.
#[derive(Debug, Clone, Copy)]
pub struct Pair<'a> {
    /// The key's bytes (a str or bin key; empty for any other key type).
    pub key: &'a [u8],
    /// The value, still encoded.
    pub value: &'a [u8],
    /// Offset of the pair's first byte from the start of the map.
    pub start: usize,
    /// Offset just past the pair's last byte from the start of the map.
    pub end: usize,
}

/// Reads the map at `r`'s position in one walk: lists its top-level pairs into `pairs`
/// (cleared first) and returns the whole map's bytes. O(bytes of the map).
pub fn list_map<'a>(r: &mut Reader<'a>, pairs: &mut Vec<Pair<'a>>) -> Result<&'a [u8], Error> {
    pairs.clear();
    let map_start = r.pos;
    let n = r.map_len()?;
    for _ in 0..n {
        let start = r.pos - map_start;
        let key = match r.peek() {
            // The usual key, a short string, without the general decoding.
            Some(b @ 0xa0..=0xbf) => {
                r.pos += 1;
                r.take(usize::from(b & 0x1f))?
            }
            _ => match r.head()? {
                Head::Str(k) | Head::Bin(k) => k,
                // A non-string key: containers are skipped whole; it never matches a name.
                Head::Array(_) | Head::Map(_) => {
                    r.pos = map_start + start;
                    r.skip()?;
                    &[]
                }
                _ => &[],
            },
        };
        let value = r.value()?;
        pairs.push(Pair { key, value, start, end: r.pos - map_start });
    }
    Ok(&r.buf[map_start..r.pos])
}

fn int(v: i64) -> Head<'static> {
    if v >= 0 { Head::Uint(v.unsigned_abs()) } else { Head::Int(v) }
}

/// The value of key `key` in the map that `value` holds, if `value` is a map that has it.
pub fn map_get<'a>(value: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut r = Reader::new(value);
    let n = r.map_len().ok()?;
    for _ in 0..n {
        let matches = matches!(r.head().ok()?, Head::Str(k) | Head::Bin(k) if k == key);
        let v = r.value().ok()?;
        if matches {
            return Some(v);
        }
    }
    None
}

/// The text of a str or bin `value`, if it is valid UTF-8.
pub fn as_str(value: &[u8]) -> Option<&str> {
    let mut r = Reader::new(value);
    r.bytes().ok().and_then(|b| std::str::from_utf8(b).ok())
}

/// Writes `value` as JSON into `out`. Bin is written as (lossy) text, EventTime as a float
/// of seconds, other ext values and non-finite floats as `null`.
pub fn write_json(r: &mut Reader<'_>, out: &mut Vec<u8>, depth: usize) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(Error::TooDeep);
    }
    let head = r.head()?;
    match head {
        Head::Nil => out.extend_from_slice(b"null"),
        Head::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Head::Uint(n) => {
            let _ = write!(out, "{n}");
        }
        Head::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Head::Float(f) if f.is_finite() => {
            let _ = write!(out, "{f}");
        }
        Head::Float(_) => out.extend_from_slice(b"null"),
        Head::Str(b) => write_json_str(out, &String::from_utf8_lossy(b)),
        Head::Bin(b) => match std::str::from_utf8(b) {
            Ok(s) => write_json_str(out, s),
            Err(_) => write_json_str(out, &base64::engine::general_purpose::STANDARD.encode(b)),
        },
        Head::Ext(..) => match event_time(&head) {
            Some((secs, nanos)) => {
                let _ = write!(out, "{secs}.{nanos:09}");
            }
            None => out.extend_from_slice(b"null"),
        },
        Head::Array(n) => {
            out.push(b'[');
            for i in 0..n {
                if i > 0 {
                    out.push(b',');
                }
                write_json(r, out, depth + 1)?;
            }
            out.push(b']');
        }
        Head::Map(n) => {
            out.push(b'{');
            for i in 0..n {
                if i > 0 {
                    out.push(b',');
                }
                write_json_key(r, out, depth + 1)?;
                out.push(b':');
                write_json(r, out, depth + 1)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// A map key as a JSON string: strings as they are, anything else as its JSON text.
fn write_json_key(r: &mut Reader<'_>, out: &mut Vec<u8>, depth: usize) -> Result<(), Error> {
    let start = r.pos();
    if let Head::Str(b) | Head::Bin(b) = r.head()? {
        write_json_str(out, &String::from_utf8_lossy(b));
        return Ok(());
    }
    r.pos = start;
    let mut key = Vec::new();
    write_json(r, &mut key, depth)?;
    write_json_str(out, &String::from_utf8_lossy(&key));
    Ok(())
}

/// Writes `s` as a JSON string literal.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // serde_json's escaping; writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests;
