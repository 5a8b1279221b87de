//! The segment file format, and reading a segment's records back.
//!
//! Layout: `<dir>/<app>/<first-seq, 20 digits>.seg`. A segment starts with the 8-byte magic
//! `SLWSEG1\n`, then records: `u32 LE payload length | u32 LE CRC-32 of payload | payload`,
//! where the payload is a msgpack array `[seq, secs, nanos, source, dyno, stream, message,
//! fields]` (`fields` a bin holding the msgpack map, empty when none).
//!
//! May import: `line` and `msgpack`; the other segment modules build on this one.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::line::{Line, Timestamp};
use crate::msgpack::{Head, Reader};

/// The first bytes of every segment file.
pub(super) const MAGIC: &[u8; 8] = b"SLWSEG1\n";
/// Largest record accepted when reading back (a line is at most one frame).
const MAX_RECORD: usize = 1 << 30;

/// Encodes a numbered line as a segment record (header and payload) onto `out`.
pub fn encode_record(line: &Line, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    let _ = rmp::encode::write_array_len(out, 8);
    let _ = rmp::encode::write_uint(out, line.seq());
    let _ = rmp::encode::write_uint(out, line.time().secs);
    let _ = rmp::encode::write_uint(out, u64::from(line.time().nanos));
    let _ = rmp::encode::write_str(out, line.source());
    let _ = rmp::encode::write_str(out, line.dyno());
    let _ = rmp::encode::write_str(out, line.stream());
    let _ = rmp::encode::write_str(out, line.message());
    let _ = rmp::encode::write_bin(out, line.fields_msgpack());
    let payload = &out[start + 8..];
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let crc = crc32fast::hash(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn decode_payload(payload: &[u8]) -> Option<Line> {
    let mut r = Reader::new(payload);
    if r.array_len().ok()? != 8 {
        return None;
    }
    let uint = |r: &mut Reader<'_>| match r.head() {
        Ok(Head::Uint(n)) => Some(n),
        _ => None,
    };
    let seq = uint(&mut r)?;
    let secs = uint(&mut r)?;
    let nanos = u32::try_from(uint(&mut r)?).ok()?;
    let source = r.str().ok()?;
    let dyno = r.str().ok()?;
    let stream = r.str().ok()?;
    let message = r.str().ok()?;
    let fields = r.bytes().ok()?;
    let mut line = Line::new(Timestamp::new(secs, nanos), source, dyno, stream, message, fields.into());
    line.seq = seq;
    Some(line)
}

/// The file name of the segment whose first line is `first_seq`.
pub(super) fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.seg")
}

/// An app directory's segment files with their first sequence numbers, oldest first.
pub(super) fn segment_files(app_dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut files: Vec<(u64, PathBuf)> = fs::read_dir(app_dir)?
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().to_str()?.strip_suffix(".seg")?.parse::<u64>().ok()?, e.path())))
        .collect();
    files.sort_unstable();
    Ok(files)
}

/// The records of a segment's bytes (after the magic), in order; stops at the first that
/// is short, fails its CRC, does not decode or does not follow the previous sequence
/// number, and says where and why in `cut`.
pub(super) struct Records<'a> {
    data: &'a [u8],
    /// Where the next record starts (after the loop: the end of the last good one).
    pub(super) pos: usize,
    last_seq: u64,
    pub(super) cut: Option<(usize, &'static str)>,
}

impl<'a> Records<'a> {
    /// `data` is a whole segment, magic included; `after` is the last sequence number
    /// read before it.
    pub(super) fn new(data: &'a [u8], after: u64) -> Records<'a> {
        Records { data, pos: MAGIC.len(), last_seq: after, cut: None }
    }
}

impl Iterator for Records<'_> {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        if self.cut.is_some() || self.pos >= self.data.len() {
            return None;
        }
        match self.read() {
            Ok((line, len)) => {
                self.last_seq = line.seq;
                self.pos += len;
                Some(line)
            }
            Err(why) => {
                self.cut = Some((self.pos, why));
                None
            }
        }
    }
}

impl Records<'_> {
    /// The record at `pos` and its length, or why it is bad.
    fn read(&self) -> Result<(Line, usize), &'static str> {
        let (data, pos) = (self.data, self.pos);
        let header = data.get(pos..pos + 8).ok_or("torn record header")?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let payload = data.get(pos + 8..pos + 8 + len).filter(|_| len <= MAX_RECORD).ok_or("torn record")?;
        if crc32fast::hash(payload) != crc {
            return Err("checksum mismatch");
        }
        let line = decode_payload(payload).ok_or("undecodable record")?;
        if line.seq <= self.last_seq {
            return Err("sequence number out of order");
        }
        Ok((line, 8 + len))
    }
}
