use super::*;

const LIMITS: Timeouts =
    Timeouts { idle: Duration::from_millis(200), frame: Duration::from_millis(100), min_rate: 1000 };

#[test]
fn a_frame_earns_a_second_per_min_rate_bytes_received() {
    let start = Instant::now();
    assert_eq!(LIMITS.frame_deadline(start, 0), start + Duration::from_millis(100));
    assert_eq!(LIMITS.frame_deadline(start, 500), start + Duration::from_millis(600));
    assert_eq!(LIMITS.frame_deadline(start, 3000), start + Duration::from_millis(3100));
    let strict = Timeouts { min_rate: 0, ..LIMITS };
    assert_eq!(strict.frame_deadline(start, 1 << 20), start + Duration::from_millis(100));
}

#[tokio::test]
async fn the_idle_timer_runs_only_while_reading_and_never_fires_early() {
    let mut timer = Timer::new(LIMITS);
    let since = Instant::now();
    assert_eq!(timer.expired(Some(since), None).await, Expired::Idle);
    assert!(Instant::now() >= since + LIMITS.idle);
    // Not reading and no frame: nothing to time out.
    let nothing = tokio::time::timeout(Duration::from_millis(450), timer.expired(None, None)).await;
    assert!(nothing.is_err());
}

#[tokio::test]
async fn the_frame_timer_fires_at_the_frame_deadline_even_after_a_long_idle_arming() {
    let mut timer = Timer::new(LIMITS);
    let started = Instant::now();
    // Reading for longer than the frame allows: the frame deadline comes first.
    assert_eq!(timer.expired(Some(started), Some((started, 50))).await, Expired::Frame);
    assert!(Instant::now() >= LIMITS.frame_deadline(started, 50));
}

#[tokio::test]
async fn when_both_deadlines_have_passed_the_earlier_one_is_reported() {
    // As after a wake-up that came late: the frame's deadline passed before the idle one.
    let now = Instant::now();
    let mut timer = Timer::new(LIMITS);
    let frame_started = now - Duration::from_secs(2);
    let reading_since = now - Duration::from_secs(1);
    assert_eq!(timer.expired(Some(reading_since), Some((frame_started, 0))).await, Expired::Frame);
    // And the other way round.
    let mut timer = Timer::new(LIMITS);
    let reading_since = now - Duration::from_secs(2);
    let frame_started = now - Duration::from_secs(1);
    assert_eq!(timer.expired(Some(reading_since), Some((frame_started, 0))).await, Expired::Idle);
}
