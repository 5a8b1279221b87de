use super::*;

#[test]
fn upgrade_needs_both_headers() {
    let mut h = HeaderMap::new();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    assert_eq!(requested(&h), None);
    h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
    assert_eq!(requested(&h), Some(&HeaderValue::from_static("websocket")));
}

#[test]
fn only_101_or_a_successful_connect_switches() {
    assert!(switches(false, StatusCode::SWITCHING_PROTOCOLS));
    assert!(!switches(false, StatusCode::OK));
    assert!(switches(true, StatusCode::OK));
    assert!(!switches(true, StatusCode::FORBIDDEN));
}
