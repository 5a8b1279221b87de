//! On-disk history: survives a restart, acks mean written, torn tails are cut at start.
#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

mod common;

use common::{Fwd, Time, config, follow_sse, history, message, messages, metric, packed, record, sse_lines, start};

fn persistent(dir: &std::path::Path) -> slipway_logd::Config {
    let mut c = config();
    c.persistence.dir = Some(dir.to_owned());
    c
}

#[tokio::test]
async fn history_survives_a_restart_and_sequence_numbers_continue() {
    let dir = tempfile::tempdir().unwrap();
    let logd = start(persistent(dir.path())).await;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    for app in ["shop", "blog"] {
        let entries: Vec<(Time, Vec<u8>)> = (0..100)
            .map(|i| (Time::Event(1_795_428_000, i), record(app, &format!("{app} {i}"), &[("k", "v")])))
            .collect();
        fwd.send(&packed("t", &entries, &[("chunk", app)])).await;
        fwd.expect_ack(app).await;
    }
    let before = history(&logd, "shop", "").await;
    logd.stop().await;

    let logd = start(persistent(dir.path())).await;
    let after = history(&logd, "shop", "").await;
    assert_eq!(after, before, "same lines, same seq, same fields after the restart");
    assert_eq!(after[5].fields["k"], "v");
    assert_eq!(history(&logd, "blog", "").await.len(), 100);
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    fwd.send(&message("t", Time::Int(1), &record("shop", "after restart", &[]), &[("chunk", "n")])).await;
    fwd.expect_ack("n").await;
    let lines = history(&logd, "shop", "").await;
    assert_eq!(lines.last().unwrap().seq, 101, "numbering continues");
    logd.stop().await;
}

#[tokio::test]
async fn an_ack_means_the_line_is_in_the_segment_file() {
    let dir = tempfile::tempdir().unwrap();
    let logd = start(persistent(dir.path())).await;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    fwd.send(&message("t", Time::Int(1), &record("shop", "durable line", &[]), &[("chunk", "d")])).await;
    fwd.expect_ack("d").await;
    let segment = std::fs::read_dir(dir.path().join("shop")).unwrap().next().unwrap().unwrap().path();
    let bytes = std::fs::read(segment).unwrap();
    assert!(bytes.windows(12).any(|w| w == b"durable line"), "acked before it was written");
    assert!(metric(&logd, "slipway_logd_disk_written_bytes_total") > 0.0);
    logd.stop().await;
}

#[tokio::test]
async fn a_torn_segment_tail_is_truncated_at_start_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let logd = start(persistent(dir.path())).await;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    for i in 0..3 {
        let chunk = i.to_string();
        fwd.send(&message("t", Time::Int(1), &record("shop", &format!("kept {i}"), &[]), &[("chunk", &chunk)])).await;
        fwd.expect_ack(&chunk).await;
    }
    logd.stop().await;
    // A crash in the middle of a write: a record header promising more than is there.
    let segment = std::fs::read_dir(dir.path().join("shop")).unwrap().next().unwrap().unwrap().path();
    let mut data = std::fs::read(&segment).unwrap();
    let good = data.len();
    data.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3, 4, 0x98, 1]);
    std::fs::write(&segment, &data).unwrap();

    let logd = start(persistent(dir.path())).await;
    assert_eq!(messages(&history(&logd, "shop", "").await), ["kept 0", "kept 1", "kept 2"]);
    assert_eq!(std::fs::metadata(&segment).unwrap().len() as usize, good);
    assert_eq!(metric(&logd, "slipway_logd_segment_truncations_total"), 1.0);
    // And writing goes on after the cut.
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    fwd.send(&message("t", Time::Int(1), &record("shop", "kept 3", &[]), &[("chunk", "x")])).await;
    fwd.expect_ack("x").await;
    logd.stop().await;
    let logd = start(persistent(dir.path())).await;
    assert_eq!(history(&logd, "shop", "").await.len(), 4);
    assert_eq!(metric(&logd, "slipway_logd_segment_truncations_total"), 0.0);
    logd.stop().await;
}

/// A reader resuming past what memory keeps gets the older lines back from the segments,
/// without a gap; only what disk does not hand back (here: past the per-read cap of
/// `history.max_lines_per_app`) is reported as a gap.
#[tokio::test]
async fn resuming_past_memory_reads_the_older_lines_back_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = persistent(dir.path());
    c.history.max_lines_per_app = 10;
    c.persistence.segment_bytes = 4096; // the smallest allowed: the lines span several segments
    let logd = start(c).await;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    for batch in 0..6u32 {
        let entries: Vec<(Time, Vec<u8>)> = (batch * 10..batch * 10 + 10)
            .map(|i| {
                (Time::Event(1_795_428_000, i), record("shop", &format!("line {} {}", i + 1, "x".repeat(200)), &[]))
            })
            .collect();
        let chunk = format!("b{batch}");
        fwd.send(&packed("t", &entries, &[("chunk", &chunk)])).await;
        fwd.expect_ack(&chunk).await;
    }
    assert!(std::fs::read_dir(dir.path().join("shop")).unwrap().count() > 2, "several segments");
    assert_eq!(history(&logd, "shop", "").await.len(), 10, "memory keeps 10 lines (51..60)");

    // Lines 46..50 only on disk: resumed without a gap, then memory's 51..60.
    let mut s = follow_sse(&logd, "shop", "since=45").await;
    let lines = sse_lines(&mut s, 15).await;
    assert_eq!(lines.iter().map(|l| l.seq).collect::<Vec<_>>(), (46..=60).collect::<Vec<u64>>());
    assert!(messages(&lines)[0].starts_with("line 46 x"), "{}", messages(&lines)[0]);

    // Lines 36..50 on disk, but one read hands back at most 10 (41..50): 36..40 are a gap.
    let mut s = follow_sse(&logd, "shop", "since=35").await;
    let gap = s.next_data().await.unwrap();
    assert_eq!(
        (gap.event.as_str(), gap.json()["from"].as_u64(), gap.json()["to"].as_u64()),
        ("gap", Some(36), Some(40))
    );
    let lines = sse_lines(&mut s, 20).await;
    assert_eq!(lines.iter().map(|l| l.seq).collect::<Vec<_>>(), (41..=60).collect::<Vec<u64>>());

    // The same after a restart (memory refilled from disk with the newest 10).
    logd.stop().await;
    let mut c = persistent(dir.path());
    c.history.max_lines_per_app = 10;
    let logd = start(c).await;
    let mut s = follow_sse(&logd, "shop", "since=49").await;
    assert_eq!(sse_lines(&mut s, 11).await[0].seq, 50);
    logd.stop().await;
}
