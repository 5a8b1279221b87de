//! Optional on-disk history: append-only segment files per app, written by one thread.
//!
//! - `format`: the file layout and record encoding, and reading a segment's records;
//! - `files`: every app's segment files as the writer tracks them;
//! - `recover`: reading every segment back at start, cutting torn or corrupt tails;
//! - `read`: range reads for a reader resuming past what memory holds ([`read_range`]);
//! - `writer`: the writer thread (appends, fsync policy, rolling, retention) and the
//!   [`Disk`] handle ingest queues lines on.
//!
//! Each imports only modules listed before it (and, from outside the store, `line`,
//! `msgpack`, `metrics`, `config`, `record` for the app-name rule, and `store::ring` for
//! the per-app bounds); this file only assembles them.

mod files;
mod format;
mod read;
mod recover;
mod writer;

pub use format::encode_record;
pub use read::read_range;
pub use recover::Recovered;
pub use writer::Disk;

#[cfg(test)]
mod tests;
