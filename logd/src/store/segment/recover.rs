//! Recovery at start: every app's segments are read in order. The first record that is
//! short, fails its CRC, does not decode or breaks the sequence order marks a torn or
//! corrupt tail: the file is truncated there (logged and counted) and start-up goes on.
//! What is read back fills memory (the newest lines that fit the per-app bounds) and the
//! writer's view of the files.
//!
//! May import: `format`, `files`, `store::ring` (the per-app bounds), `line`, `metrics`.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use super::files::{AppFiles, Files, Segment};
use super::format::{MAGIC, Records, segment_files};
use crate::line::Line;
use crate::metrics::Metrics;

/// What recovery found for one app.
#[derive(Debug)]
pub struct Recovered {
    /// The app.
    pub app: String,
    /// Its newest lines, oldest first (at most what memory keeps).
    pub lines: Vec<Line>,
    /// The last sequence number on disk.
    pub last_seq: u64,
}

/// Reads every app's segments, truncating torn tails, and keeps the newest lines that fit
/// `max_lines` and `max_bytes` per app.
pub(super) fn recover(
    dir: &Path,
    max_lines: usize,
    max_bytes: usize,
    metrics: &Metrics,
) -> io::Result<(Vec<Recovered>, Files)> {
    fs::create_dir_all(dir)?;
    let mut found = Vec::new();
    let mut files = HashMap::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type()?.is_dir() || !slipway_config::app_name::is_valid(&name) {
            continue;
        }
        let paths = segment_files(&entry.path())?;
        let mut app_files = AppFiles::default();
        let mut lines: VecDeque<Line> = VecDeque::new();
        let mut bytes = 0usize;
        let mut last_seq = 0u64;
        for (first, path) in paths {
            let mut data = Vec::new();
            File::open(&path)?.read_to_end(&mut data)?;
            if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
                tracing::warn!(app = %name, file = %path.display(), "segment has no valid header: removed");
                metrics.segment_truncations.inc();
                fs::remove_file(&path)?;
                continue;
            }
            let mut records = Records::new(&data, last_seq);
            for line in records.by_ref() {
                last_seq = line.seq;
                bytes += line.approx_bytes();
                lines.push_back(line);
                while crate::store::ring::over_limits(lines.len(), bytes, max_lines, max_bytes) {
                    if let Some(old) = lines.pop_front() {
                        bytes -= old.approx_bytes();
                    }
                }
            }
            let mut pos = records.pos;
            let cut = records.cut;
            if let Some((at, why)) = cut {
                tracing::warn!(app = %name, file = %path.display(), offset = at, reason = why, "segment tail truncated");
                metrics.segment_truncations.inc();
                OpenOptions::new().write(true).open(&path)?.set_len(at as u64)?;
                pos = at;
            }
            app_files.segments.insert(first, Segment { path, bytes: pos as u64 });
        }
        files.insert(Arc::from(name.as_str()), app_files);
        found.push(Recovered { app: name, lines: lines.into(), last_seq });
    }
    Ok((found, files))
}
