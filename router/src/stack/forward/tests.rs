use super::*;

#[test]
fn hop_by_hop_headers_and_the_ones_connection_names_are_removed() {
    let mut h = HeaderMap::new();
    h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, X-Secret-Hop"));
    h.insert("x-secret-hop", HeaderValue::from_static("1"));
    h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
    h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    h.insert(header::TE, HeaderValue::from_static("trailers"));
    h.insert("x-app", HeaderValue::from_static("kept"));
    strip_hop_by_hop(&mut h);
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h["x-app"], "kept");
}

#[test]
fn only_allowed_upgrades_are_kept() {
    let clients = Clients::default();
    let mut h = HeaderMap::new();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade, HTTP2-Settings"));
    h.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
    assert_eq!(allowed_upgrade(&h, &clients, "app"), None);
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket, h2c"));
    assert_eq!(allowed_upgrade(&h, &clients, "app"), None, "every protocol listed must be allowed");
    h.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
    assert_eq!(allowed_upgrade(&h, &clients, "app"), Some(HeaderValue::from_static("WebSocket")));
}

#[test]
fn every_hop_by_hop_name_passes_the_length_filter() {
    for name in &HOP_BY_HOP {
        assert!(is_hop_by_hop(name), "{name} is skipped by is_hop_by_hop's length filter");
    }
    assert!(!is_hop_by_hop(&header::USER_AGENT), "same length as connection, not hop-by-hop");
}
