//! The test helpers themselves: a test that fails (panics) leaves no process of the
//! platform it started running — not the programs, not the apps' processes, even when
//! the control plane that should have stopped them was killed first.

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;
use slipway_config::process_group::{group_is_ours, processes, running};
use slipway_tests::platform::{Slipway, Up};
use slipway_tests::process::recorded;

/// Runs `test` on a runtime of its own in another thread, where it panics on purpose
/// after sending what it started; returns what it sent, once the panic has unwound (and
/// dropped every helper the test held).
fn panicking<T, F>(test: impl FnOnce(mpsc::Sender<T>) -> F + Send + 'static) -> T
where
    T: Send + 'static,
    F: Future<Output = ()>,
{
    let (tx, rx) = mpsc::channel();
    let outcome = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(test(tx));
    })
    .join();
    assert!(outcome.is_err(), "the test was meant to panic");
    rx.recv().expect("the test sent what it started before it panicked")
}

/// Polls until `gone` holds; panics naming `what` after 20 s. A process that is not our
/// child says nothing when it exits: /proc is all there is.
fn soon_gone(what: &str, gone: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !gone() {
        assert!(Instant::now() < deadline, "still running: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_test_that_panics_leaves_no_process_of_its_slipway_up_running() {
    let (up, dynos) = panicking(|tx| async move {
        let dirs = Up::new();
        let mut up = dirs.start(&[]);
        up.wait_for_line("Ctrl-C stops everything.", Duration::from_secs(60)).await;
        let dynos = recorded(&dirs.data.join("processes"));
        tx.send((up.child.id().unwrap(), dynos)).unwrap();
        panic!("a failing assertion, on purpose");
    });
    assert!(!dynos.is_empty(), "the demo app was running");
    soon_gone("slipway up", || !running(up));
    for (group, started) in dynos {
        soon_gone(&format!("the demo app's process group {group}"), || !group_is_ours(group, started, &processes()));
    }
}

#[test]
fn a_test_that_panics_after_its_control_plane_was_killed_leaves_no_app_process_running() {
    let (programs, app) = panicking(|tx| async move {
        let s = Slipway::start().await;
        s.deploy_echo("orphan", json!({})).await;
        s.eventually("orphan is served", async || s.get("orphan", "/").await.status == 200).await;
        let app = u32::try_from(s.get("orphan", "/").await.json()["pid"].as_u64().unwrap()).unwrap();
        let programs = [&s.logd, &s.control, &s.router].map(|p| p.child.id().unwrap());
        // Killed, the control plane cannot stop the app: only its ledger says it runs.
        s.control.signal(9);
        tx.send((programs, app)).unwrap();
        panic!("a failing assertion, on purpose");
    });
    for pid in programs {
        soon_gone(&format!("program {pid}"), || !running(pid));
    }
    soon_gone("the app's process", || !running(app));
}
