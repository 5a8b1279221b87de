//! The segment files of every app as the writer tracks them: built by recovery at start,
//! then kept up to date by the writer thread (rolling, retention, failed writes).
//!
//! May import: nothing above the segment modules.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

/// A segment file on disk.
#[derive(Debug, Clone)]
pub(super) struct Segment {
    pub(super) path: PathBuf,
    pub(super) bytes: u64,
}

/// An app's files, as the writer tracks them.
#[derive(Debug, Default)]
pub(super) struct AppFiles {
    /// Segments by first sequence number; the last is the one written to.
    pub(super) segments: BTreeMap<u64, Segment>,
    pub(super) active: Option<File>,
    pub(super) dirty: bool,
    /// A write or fsync of the active segment failed: what it holds past `bytes` is
    /// unknown, so the next batch starts a new segment instead of appending after it.
    pub(super) must_roll: bool,
}

impl AppFiles {
    /// After a failed write or fsync: cut the active segment back to what was written
    /// whole (best effort: a torn tail is also cut at the next start), close it, and start
    /// a new segment with the next batch, so no record is ever appended after a torn one
    /// (recovery stops reading a segment at its first bad record).
    pub(super) fn abandon_active(&mut self) {
        if let Some(file) = self.active.take()
            && let Some((_, seg)) = self.segments.iter().next_back()
        {
            let _ = file.set_len(seg.bytes);
        }
        self.must_roll = true;
    }
}

/// The writer's view of every app's files.
pub(super) type Files = HashMap<Arc<str>, AppFiles>;
