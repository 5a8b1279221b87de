use std::time::Duration;

use super::*;

#[test]
fn request_start_is_t_equals_unix_milliseconds() {
    assert_eq!(format_start(0), "t=0");
    assert_eq!(format_start(1_767_225_600_123), "t=1767225600123");
    assert_eq!(format_start(u64::MAX), format!("t={}", u64::MAX));
    let at = UNIX_EPOCH + Duration::from_millis(1_767_225_600_123) + Duration::from_micros(900);
    assert_eq!(request_start(at), "t=1767225600123");
    assert_eq!(request_start(at + Duration::from_millis(1)), "t=1767225600124", "a new millisecond, a new value");
}
