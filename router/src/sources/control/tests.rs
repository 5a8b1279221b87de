use super::*;

#[test]
fn server_sent_events_are_split_and_joined() {
    let mut buffer = BytesMut::from(
        &b": heartbeat\n\nid: 3\nevent: upsert\ndata: {\"a\":\ndata: 1}\n\nid: 4\r\ndata: x\r\n\r\npartial"[..],
    );
    assert_eq!(next_event(&mut buffer), Some(None));
    assert_eq!(next_event(&mut buffer), Some(Some("{\"a\":\n1}".to_owned())));
    assert_eq!(next_event(&mut buffer), Some(Some("x".to_owned())));
    assert_eq!(next_event(&mut buffer), None);
    assert_eq!(&buffer[..], b"partial");
}
