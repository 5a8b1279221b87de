use super::*;

#[test]
fn formats() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_795_431_600_123), "2026-11-23T11:00:00Z");
    assert_eq!(human(Duration::from_secs(5400)), "1h 30m");
    assert_eq!(human(Duration::from_millis(1500)), "1s");
}
