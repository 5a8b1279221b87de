use std::time::Duration;

use super::*;

fn budget(max: usize) -> Arc<Budget> {
    Arc::new(Budget::new(max, &Metrics::new()))
}

#[test]
fn reads_reserve_their_space_and_settle_to_what_they_read() {
    let b = budget(256 << 10);
    let mut share = Share::new(b.clone());
    assert!(share.try_reserve(BUSY_READ));
    assert_eq!(b.used(), BUSY_READ);
    share.settle(1000);
    assert_eq!(b.used(), 1000, "the unused part of the reservation is given back");
    share.release(600);
    assert_eq!(b.used(), 400);
    drop(share);
    assert_eq!(b.used(), 0, "a closed connection gives back everything it held");
    assert_eq!(b.gauge.get(), 0);
}

#[test]
fn a_read_that_does_not_fit_under_the_cap_is_refused() {
    let b = budget(2 * BUSY_READ);
    let (mut one, mut two, mut three) = (Share::new(b.clone()), Share::new(b.clone()), Share::new(b.clone()));
    assert!(one.try_reserve(BUSY_READ));
    assert!(two.try_reserve(BUSY_READ));
    assert!(!three.try_reserve(IDLE_READ));
    assert_eq!(b.used(), 2 * BUSY_READ);
    one.settle(0);
    assert!(three.try_reserve(IDLE_READ));
}

#[tokio::test]
async fn a_waiting_read_resumes_when_another_connection_drains() {
    let b = budget(2 * BUSY_READ);
    let mut full = Share::new(b.clone());
    assert!(full.try_reserve(2 * BUSY_READ));
    full.settle(2 * BUSY_READ);
    let waiter = {
        let b = b.clone();
        tokio::spawn(async move {
            let mut share = Share::new(b);
            share.reserve(IDLE_READ, false).await;
            share.settle(IDLE_READ);
            share
        })
    };
    wait_until(|| b.waiting.get() == 1).await;
    assert!(!waiter.is_finished());
    full.release(BUSY_READ);
    let share = tokio::time::timeout(Duration::from_secs(20), waiter).await.unwrap().unwrap();
    assert!(!share.has_lane());
    assert_eq!(b.used(), BUSY_READ + IDLE_READ);
    assert_eq!(b.waiting.get(), 0);
    assert_eq!(b.wait_seconds.get_sample_count(), 1);
}

#[tokio::test]
async fn one_connection_in_the_middle_of_a_frame_may_read_past_a_full_cap() {
    let b = budget(2 * BUSY_READ);
    let mut full = Share::new(b.clone());
    assert!(full.try_reserve(2 * BUSY_READ));
    full.settle(2 * BUSY_READ);
    // Between frames: waits. In a frame: takes the lane and goes on.
    let mut first = Share::new(b.clone());
    first.reserve(BUSY_READ, true).await;
    assert!(first.has_lane());
    first.settle(BUSY_READ);
    assert!(first.try_reserve(BUSY_READ), "the lane holder keeps reading past the cap");
    first.settle(BUSY_READ);
    assert_eq!(b.used(), 4 * BUSY_READ);
    // A second one waits for the lane.
    let second = {
        let b = b.clone();
        tokio::spawn(async move {
            let mut share = Share::new(b);
            share.reserve(BUSY_READ, true).await;
            share
        })
    };
    wait_until(|| b.waiting.get() == 1).await;
    first.frame_done();
    let second = tokio::time::timeout(Duration::from_secs(20), second).await.unwrap().unwrap();
    assert!(second.has_lane());
    drop(second);
    assert!(!b.lane.load(Ordering::SeqCst), "a closed connection gives the lane back");
}

/// Polls a condition another task makes true (no event to await from outside the budget).
async fn wait_until(check: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(std::time::Instant::now() < deadline, "condition not met in 20s");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
