//! On-disk history: survives a restart, acks mean written, torn tails are cut at start.
#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

mod common;

use common::{Fwd, Time, config, history, message, messages, metric, packed, record, start};

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
