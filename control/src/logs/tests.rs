use std::time::{Duration, UNIX_EPOCH};

use slipway_logd::forward::client;
use slipway_logd::forward::decode::{self, EntryIter, Splitter};
use slipway_logd::msgpack::{as_str, map_get};

use super::*;

#[test]
fn forward_messages_carry_event_times_and_the_record_keys() {
    let record = Record {
        app: "shop".into(),
        dyno: "web.1".into(),
        source: "app",
        stream: "stdout",
        message: "GET / 200".into(),
        time: UNIX_EPOCH + Duration::new(1_700_000_000, 5),
    };
    let mut entries = Entries::default();
    encode(&[record], &mut entries);
    let frame = client::forward(TAG, &entries, Some("abc"));
    // Read back with logd's own decoder.
    assert_eq!(Splitter::default().next_frame(&frame, usize::MAX).unwrap(), Some(frame.len()));
    let parsed = decode::parse(&frame).unwrap();
    assert_eq!(parsed.tag, "slipway");
    let (_, record) = EntryIter::new(&parsed.entries, None, 10).next().unwrap().unwrap();
    assert_eq!(map_get(record, b"log").and_then(as_str), Some("GET / 200"));
    assert_eq!(map_get(record, b"dyno").and_then(as_str), Some("web.1"));
    assert_eq!(parsed.chunk.and_then(as_str), Some("abc"));
    // EventTime: fixext8 (0xd7), type 0, seconds and nanoseconds big-endian.
    let at = frame.iter().position(|&b| b == 0xd7).unwrap();
    assert_eq!(&frame[at..at + 10], &[0xd7, 0, 0x65, 0x53, 0xf1, 0x00, 0, 0, 0, 5]);
}
