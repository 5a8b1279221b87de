//! Range reads: a reader resuming past what memory holds gets the older lines from the
//! segments ([`read_range`]), read off the async threads while the writer goes on.
//!
//! May import: `format`, `line`.

use std::fs;
use std::path::Path;

use super::format::{MAGIC, Records, segment_files};
use crate::line::Line;

/// Reads lines `from..=to` of `app` back from its segments under `dir`, for a reader
/// resuming past what memory holds: the newest gap-free run of them that ends at `to`,
/// at most `max_lines` long (what is older stays a gap for the reader). Empty when `to`
/// is not on disk (the writer lags, or retention deleted it).
///
/// Blocking. Reads segments newest first and stops once the run reaches `from` or
/// `max_lines`: O(bytes of the segments that hold the run). Safe while the writer
/// appends (a record being written reads as a torn tail and ends that segment's run) and
/// while retention deletes (a vanished segment ends the run).
pub fn read_range(dir: &Path, app: &str, from: u64, to: u64, max_lines: usize) -> Vec<Line> {
    let Ok(segments) = segment_files(&dir.join(app)) else { return Vec::new() };
    let segments = segments.into_iter().rev().filter(|(first, _)| *first <= to);
    // Runs of each segment, newest segment first; each run is ascending.
    let mut runs: Vec<Vec<Line>> = Vec::new();
    let mut want = to; // the sequence number the run must end at next
    let mut total = 0usize;
    for (_, path) in segments {
        let Ok(data) = fs::read(&path) else { break };
        if data.get(..MAGIC.len()) != Some(&MAGIC[..]) {
            break;
        }
        let run: Vec<Line> =
            Records::new(&data, 0).skip_while(|l| l.seq < from).take_while(|l| l.seq <= want).collect();
        let gap_free = run.last().is_some_and(|l| l.seq == want)
            && run.first().is_some_and(|l| l.seq + run.len() as u64 - 1 == want);
        if !gap_free {
            break;
        }
        want = run[0].seq - 1;
        total += run.len();
        runs.push(run);
        if want < from || total >= max_lines {
            break;
        }
    }
    let mut lines: Vec<Line> = runs.into_iter().rev().flatten().collect();
    if lines.len() > max_lines {
        lines.drain(..lines.len() - max_lines);
    }
    lines
}
