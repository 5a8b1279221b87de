use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::format::{MAGIC, encode_record, segment_name};
use super::read::read_range;
use super::recover::recover;
use super::writer::{Batch, Disk, Pending, Writer};
use crate::config::{Fsync, Persistence};
use crate::line::{Line, SharedLine, Timestamp};
use crate::metrics::Metrics;

fn line(seq: u64, msg: &str) -> Line {
    let mut l = Line::new(Timestamp::new(100 + seq, 7), "app", "web.1", "stdout", msg, Box::new([]));
    l.seq = seq;
    l
}

fn write_segment(path: &Path, lines: &[Line]) {
    let mut data = MAGIC.to_vec();
    for l in lines {
        encode_record(l, &mut data);
    }
    fs::write(path, data).unwrap();
}

#[test]
fn records_round_trip_and_torn_tails_are_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let app_dir = dir.path().join("shop");
    fs::create_dir_all(&app_dir).unwrap();
    let path = app_dir.join(segment_name(1));
    write_segment(&path, &[line(1, "one"), line(2, "two"), line(3, "three")]);
    let good = fs::metadata(&path).unwrap().len();
    // A torn write: half a record header and some payload.
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&[40, 0, 0, 0, 1, 2, 3]).unwrap();
    drop(f);
    let metrics = Metrics::new();
    let (found, _) = recover(dir.path(), 100, usize::MAX, &metrics).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].app, "shop");
    assert_eq!(found[0].last_seq, 3);
    let messages: Vec<&str> = found[0].lines.iter().map(Line::message).collect();
    assert_eq!(messages, ["one", "two", "three"]);
    assert_eq!(fs::metadata(&path).unwrap().len(), good, "the torn tail is cut");
    assert_eq!(metrics.segment_truncations.get(), 1);
}

#[test]
fn a_corrupt_record_cuts_the_file_there() {
    let dir = tempfile::tempdir().unwrap();
    let app_dir = dir.path().join("shop");
    fs::create_dir_all(&app_dir).unwrap();
    let path = app_dir.join(segment_name(1));
    write_segment(&path, &[line(1, "one"), line(2, "two"), line(3, "three")]);
    let mut data = fs::read(&path).unwrap();
    let at = data.len() - 3;
    data[at] ^= 0xff; // flip a byte in the last payload
    fs::write(&path, &data).unwrap();
    let (found, _) = recover(dir.path(), 100, usize::MAX, &Metrics::new()).unwrap();
    assert_eq!(found[0].last_seq, 2);
    // Garbage instead of a header: the file is dropped, never a panic.
    fs::write(app_dir.join(segment_name(9)), b"garbage").unwrap();
    let (found, _) = recover(dir.path(), 100, usize::MAX, &Metrics::new()).unwrap();
    assert_eq!(found[0].last_seq, 2);
}

#[test]
fn recovery_keeps_only_what_memory_holds() {
    let dir = tempfile::tempdir().unwrap();
    let app_dir = dir.path().join("shop");
    fs::create_dir_all(&app_dir).unwrap();
    let lines: Vec<Line> = (1..=50).map(|i| line(i, "m")).collect();
    write_segment(&app_dir.join(segment_name(1)), &lines);
    let (found, _) = recover(dir.path(), 10, usize::MAX, &Metrics::new()).unwrap();
    assert_eq!(found[0].lines.len(), 10);
    assert_eq!(found[0].lines[0].seq(), 41);
    assert_eq!(found[0].last_seq, 50);
}

#[test]
fn the_writer_rolls_segments_and_applies_size_retention() {
    let dir = tempfile::tempdir().unwrap();
    let config = Persistence {
        dir: Some(dir.path().to_owned()),
        segment_bytes: 4096,
        retention_bytes_per_app: 3 * 4096,
        fsync: Fsync::Always,
        ..Persistence::default()
    };
    let metrics = Arc::new(Metrics::new());
    let (disk, _) = Disk::open(&config, dir.path(), 100, usize::MAX, metrics.clone()).unwrap();
    let app: Arc<str> = Arc::from("shop");
    let mut last = None;
    for i in 1..=200u64 {
        last = disk.queue(&app, SharedLine::batch(vec![line(i, &"x".repeat(200))]), true);
    }
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert!(rt.block_on(last.unwrap()).unwrap(), "written and fsynced");
    disk.close();
    let segments = fs::read_dir(dir.path().join("shop")).unwrap().count();
    let total: u64 = fs::read_dir(dir.path().join("shop")).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert!(segments >= 2, "rolled: {segments}");
    assert!(total <= 4 * 4096 + 1024, "retention keeps about 3 segments: {total} bytes");
    let (found, _) = recover(dir.path(), 1000, usize::MAX, &Metrics::new()).unwrap();
    assert_eq!(found[0].last_seq, 200);
}

#[test]
fn closed_segments_older_than_the_retention_age_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let app_dir = dir.path().join("shop");
    fs::create_dir_all(&app_dir).unwrap();
    let (old, new) = (app_dir.join(segment_name(1)), app_dir.join(segment_name(2)));
    write_segment(&old, &[line(1, "old")]);
    write_segment(&new, &[line(2, "new")]);
    let eight_days_ago = SystemTime::now() - Duration::from_secs(8 * 24 * 3600);
    File::options().write(true).open(&old).unwrap().set_modified(eight_days_ago).unwrap();
    let metrics = Arc::new(Metrics::new());
    let (_, files) = recover(dir.path(), 100, usize::MAX, &metrics).unwrap();
    let mut writer = Writer {
        dir: dir.path().to_owned(),
        config: Persistence::default(),
        files,
        metrics,
        pending: Arc::new(Pending::default()),
        last_sync: Instant::now(),
        last_retention: Instant::now(),
    };
    writer.retention(&Arc::from("shop"));
    assert!(!old.exists(), "the week-old closed segment is gone");
    assert!(new.exists(), "the segment being written is kept");
}

#[test]
fn after_a_failed_write_the_next_batch_goes_to_a_new_segment_and_every_kept_line_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let config = Persistence { dir: Some(dir.path().to_owned()), fsync: Fsync::Always, ..Persistence::default() };
    let metrics = Arc::new(Metrics::new());
    let (recovered, files) = recover(dir.path(), 1000, usize::MAX, &metrics).unwrap();
    assert!(recovered.is_empty());
    let mut writer = Writer {
        dir: dir.path().to_owned(),
        config,
        files,
        metrics,
        pending: Arc::new(Pending::default()),
        last_sync: Instant::now(),
        last_retention: Instant::now(),
    };
    let app: Arc<str> = Arc::from("shop");
    let batch = |seqs: std::ops::RangeInclusive<u64>| Batch {
        app: app.clone(),
        lines: SharedLine::batch(seqs.map(|i| line(i, "kept")).collect()),
        bytes: 0,
        done: None,
    };
    let mut buf = Vec::new();
    assert!(writer.write_batch(&batch(1..=3), &mut buf));

    // The next write fails halfway (disk full, I/O error): half a record is in the file
    // and the handle refuses more.
    let first = writer.files[&app].segments.values().next().unwrap().path.clone();
    let mut torn = Vec::new();
    encode_record(&line(4, "torn"), &mut torn);
    OpenOptions::new().append(true).open(&first).unwrap().write_all(&torn[..torn.len() / 2]).unwrap();
    writer.files.get_mut(&app).unwrap().active = Some(File::open(&first).unwrap());
    assert!(!writer.write_batch(&batch(4..=5), &mut buf), "a failed write is reported (no ack)");

    assert!(writer.write_batch(&batch(6..=8), &mut buf));
    writer.sync_dirty(true);
    assert_eq!(fs::read_dir(dir.path().join("shop")).unwrap().count(), 2, "a new segment was started");
    let (found, _) = recover(dir.path(), 1000, usize::MAX, &Metrics::new()).unwrap();
    let seqs: Vec<u64> = found[0].lines.iter().map(|l| l.seq()).collect();
    assert_eq!(seqs, [1, 2, 3, 6, 7, 8]);
}

#[test]
fn read_range_returns_the_gap_free_run_ending_at_to() {
    let dir = tempfile::tempdir().unwrap();
    let app_dir = dir.path().join("shop");
    fs::create_dir_all(&app_dir).unwrap();
    let lines = |seqs: std::ops::RangeInclusive<u64>| seqs.map(|i| line(i, "m")).collect::<Vec<_>>();
    write_segment(&app_dir.join(segment_name(1)), &lines(1..=20));
    // 21..29 were lost (a failed write): the run cannot reach back past 30.
    write_segment(&app_dir.join(segment_name(30)), &lines(30..=45));
    write_segment(&app_dir.join(segment_name(46)), &lines(46..=50));
    let seqs = |v: Vec<Line>| v.iter().map(Line::seq).collect::<Vec<u64>>();

    assert_eq!(seqs(read_range(dir.path(), "shop", 35, 50, 100)), (35..=50).collect::<Vec<_>>());
    assert_eq!(seqs(read_range(dir.path(), "shop", 5, 15, 100)), (5..=15).collect::<Vec<_>>());
    assert_eq!(seqs(read_range(dir.path(), "shop", 10, 50, 100)), (30..=50).collect::<Vec<_>>(), "stops at the hole");
    assert_eq!(seqs(read_range(dir.path(), "shop", 10, 50, 8)), (43..=50).collect::<Vec<_>>(), "the newest 8");
    assert!(read_range(dir.path(), "shop", 40, 55, 100).is_empty(), "55 is not on disk (yet)");
    assert!(read_range(dir.path(), "nope", 1, 5, 100).is_empty());
}
