use super::*;

const RESPONSE: Duration = Duration::from_secs(5);
const PAUSE: Duration = Duration::from_secs(2);

#[test]
fn the_response_timeout_runs_from_when_the_body_was_sent() {
    let sent = Progress::Sent { at_ms: 10_000 };
    assert_eq!(next_wait(sent, 10_000, RESPONSE, PAUSE), Ok(RESPONSE));
    assert_eq!(next_wait(sent, 14_000, RESPONSE, PAUSE), Ok(Duration::from_secs(1)));
    assert_eq!(next_wait(sent, 15_000, RESPONSE, PAUSE), Err(Late::App));
}

#[test]
fn while_sending_only_a_pause_is_bounded_and_its_cause_named() {
    let moving = Progress::Sending { last_ms: 100_000, client_stalled: false };
    assert_eq!(next_wait(moving, 101_000, RESPONSE, PAUSE), Ok(Duration::from_secs(1)));
    assert_eq!(next_wait(moving, 102_000, RESPONSE, PAUSE), Err(Late::App));
    let stalled = Progress::Sending { last_ms: 100_000, client_stalled: true };
    assert_eq!(next_wait(stalled, 102_000, RESPONSE, PAUSE), Err(Late::Client));
}

#[test]
fn while_sending_the_next_look_is_never_later_than_a_response_timeout_away() {
    let long_pause = Duration::from_secs(60);
    let moving = Progress::Sending { last_ms: 100_000, client_stalled: false };
    // Were the body sent just after this look, its response deadline would be 5 s away.
    assert_eq!(next_wait(moving, 100_000, RESPONSE, long_pause), Ok(RESPONSE));
    assert_eq!(next_wait(moving, 159_000, RESPONSE, long_pause), Ok(Duration::from_secs(1)));
}
