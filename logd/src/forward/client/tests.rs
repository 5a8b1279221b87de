use super::*;
use crate::config::{Config, Forward};
use crate::forward::decode::{self, EntryIter};
use crate::forward::handshake::Security;
use crate::line::Timestamp;
use crate::msgpack::{as_str, map_get};

/// A frame as logd's own decoder reads it: the tag, each entry's time and `app`/`log`, and
/// the chunk.
fn decoded(frame: &[u8]) -> (String, Vec<(Timestamp, String, String)>, Option<String>) {
    let len = Splitter::default().next_frame(frame, usize::MAX).unwrap();
    assert_eq!(len, Some(frame.len()), "the splitter finds the whole frame");
    let parsed = decode::parse(frame).unwrap();
    let mut inflated = Vec::new();
    let packed = match (&parsed.entries, parsed.gzip) {
        (decode::Entries::Packed { data }, true) => {
            decode::inflate(data, usize::MAX, &mut inflated).unwrap();
            Some(&inflated[..])
        }
        _ => None,
    };
    let mut entries = EntryIter::new(&parsed.entries, packed, 1000);
    let mut out = Vec::new();
    while let Some((time, record)) = entries.next().unwrap() {
        let field = |key: &[u8]| map_get(record, key).and_then(as_str).unwrap_or_default().to_owned();
        out.push((time, field(b"app"), field(b"log")));
    }
    (parsed.tag.to_owned(), out, parsed.chunk.and_then(as_str).map(str::to_owned))
}

fn two_entries() -> Entries {
    let mut entries = Entries::default();
    entries.push(EventTime::Event(1_700_000_000, 5), &[("app", "shop"), ("log", "one")]);
    entries.push(EventTime::Secs(42), &[("app", "bank"), ("log", "two")]);
    entries
}

#[test]
fn frames_in_every_mode_are_read_back_by_logds_own_decoder() {
    let entries = two_entries();
    assert_eq!(entries.len(), 2);
    let expected = vec![
        (Timestamp::new(1_700_000_000, 5), "shop".to_owned(), "one".to_owned()),
        (Timestamp::new(42, 0), "bank".to_owned(), "two".to_owned()),
    ];

    let (tag, got, chunk) = decoded(&forward("t.forward", &entries, Some("c-1")));
    assert_eq!((tag.as_str(), chunk.as_deref()), ("t.forward", Some("c-1")));
    assert_eq!(got, expected);

    let (tag, got, chunk) = decoded(&packed_forward("t.packed", &entries, None));
    assert_eq!((tag.as_str(), chunk), ("t.packed", None));
    assert_eq!(got, expected);

    let frame = message("t.message", EventTime::Event(7, 8), &[("app", "shop"), ("log", "hi")], Some("c-2"));
    let (tag, got, chunk) = decoded(&frame);
    assert_eq!((tag.as_str(), chunk.as_deref()), ("t.message", Some("c-2")));
    assert_eq!(got, [(Timestamp::new(7, 8), "shop".to_owned(), "hi".to_owned())]);
}

#[test]
fn cleared_entries_encode_like_new_ones() {
    let mut entries = two_entries();
    entries.clear();
    assert!(entries.is_empty());
    entries.push(EventTime::Secs(1), &[("app", "a")]);
    let mut fresh = Entries::with_capacity(16);
    fresh.push(EventTime::Secs(1), &[("app", "a")]);
    assert_eq!(forward("t", &entries, None), forward("t", &fresh, None));
}

#[test]
fn a_last_value_written_in_place_reads_back_like_a_pushed_one_at_any_length() {
    // Empty, a fixstr's longest (31), past it, past a str 8 (255) and a str 16's reach.
    for len in [0, 31, 32, 300, 70_000] {
        let text = "x".repeat(len);
        let mut entries = Entries::default();
        entries.push_with(EventTime::Event(9, 1), &[("app", "shop")], "log", |w| {
            w.push_str(&text[..len / 2]);
            w.push_str(&text[len / 2..]);
        });
        // Keys and values of every width around the short-string form.
        let long_app = "a".repeat(32);
        entries.push_with(EventTime::Secs(3), &[("app", &long_app), ("source", "router")], "log", |w| w.push_str("é"));
        let (_, got, _) = decoded(&forward("t", &entries, None));
        assert_eq!(
            got,
            [(Timestamp::new(9, 1), "shop".to_owned(), text.clone()), (Timestamp::new(3, 0), long_app, "é".to_owned())],
            "a value of {len} bytes"
        );
    }
}

#[tokio::test]
async fn a_peer_that_stops_reading_fails_the_send_instead_of_holding_the_sender() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and keeps the connection open, never reading a byte.
    let held = tokio::spawn(async move { listener.accept().await.map(|(socket, _)| socket) });
    let mut client = Client::connect(addr, None, "client.test").await.unwrap();
    let _socket = held.await.unwrap().unwrap();
    // Far more than the two sockets' buffers hold.
    let mut entries = Entries::default();
    let line = "y".repeat(64 * 1024);
    for _ in 0..1024 {
        entries.push(EventTime::Secs(1), &[("app", "shop"), ("log", &line)]);
    }
    let sent = tokio::time::timeout(REPLY_TIMEOUT * 4, client.send_forward("t", &entries)).await;
    assert!(matches!(sent, Ok(Err(ClientError::Timeout))), "{sent:?}");
}

#[test]
fn server_messages_parse_only_when_complete() {
    let mut ack = Vec::new();
    rmp::encode::write_map_len(&mut ack, 1).unwrap();
    rmp::encode::write_str(&mut ack, "ack").unwrap();
    rmp::encode::write_str(&mut ack, "c-1").unwrap();
    ack.extend_from_slice(b"\x93"); // the start of the next message
    for cut in 0..ack.len() - 1 {
        let mut replies = Replies::default();
        replies.push(&ack[..cut]);
        assert!(matches!(replies.next_message(), Ok(None)), "cut at {cut}");
    }
    // Byte by byte into one reader: nothing until the ack is whole.
    let mut replies = Replies::default();
    for (i, b) in ack.iter().enumerate() {
        replies.push(&[*b]);
        let message = replies.next_message().unwrap();
        if i + 1 < ack.len() - 1 {
            assert!(message.is_none(), "after {} bytes", i + 1);
        } else if i + 1 == ack.len() - 1 {
            let message = message.unwrap();
            assert_eq!(message.len(), ack.len() - 1);
            assert_eq!(ack_of(&message), Some(&b"c-1"[..]));
        }
    }
    let mut bad = Replies::default();
    bad.push(b"\xc1");
    assert!(bad.next_message().is_err());
    let mut absurd = Replies::default();
    absurd.push(b"\xdf\xff\xff\xff\xff");
    assert!(absurd.next_message().is_err(), "absurd lengths are refused, not waited for");
}

#[test]
fn an_ack_is_matched_to_its_chunk_as_logd_sends_it() {
    // What logd's forward server writes: `{"ack": <the chunk option's raw value>}`.
    let frame = forward("t", &two_entries(), Some("abc-7"));
    let chunk = decode::parse(&frame).unwrap().chunk.unwrap();
    let mut ack = Vec::new();
    rmp::encode::write_map_len(&mut ack, 1).unwrap();
    rmp::encode::write_str(&mut ack, "ack").unwrap();
    ack.extend_from_slice(chunk);
    assert_eq!(ack_of(&ack), Some(&b"abc-7"[..]));
    let mut other = Vec::new();
    rmp::encode::write_map_len(&mut other, 1).unwrap();
    rmp::encode::write_str(&mut other, "nack").unwrap();
    rmp::encode::write_str(&mut other, "abc-7").unwrap();
    assert_eq!(ack_of(&other), None);
    assert_eq!(ack_of(b"\x93\x01\x02\x03"), None, "not a map");
}

fn security(key: &str, users: bool) -> Security {
    let mut forward = Forward { shared_key: Some(key.into()), hostname: "logd.test".into(), ..Forward::default() };
    if users {
        forward.users = vec![crate::config::User { username: "fb".into(), password: "pw".into() }];
    }
    Security::new(&forward).unwrap()
}

#[test]
fn ping_answers_a_helo_the_way_logds_handshake_checks_it() {
    let server = security("s3cret", false);
    let (session, helo) = server.helo();
    let read = Helo::read(&helo).unwrap();
    assert_eq!((read.nonce.len(), read.auth), (16, &b""[..]));
    let accepted = server.check_ping(&session, &ping(read.nonce, read.auth, "client.test", "s3cret", None)).unwrap();
    assert_eq!(accepted.client, "client.test");
    assert!(check_pong(&accepted.pong).is_ok());
    let refused = server.check_ping(&session, &ping(read.nonce, read.auth, "client.test", "guess", None)).unwrap_err();
    assert!(matches!(check_pong(&refused.pong), Err(ClientError::Refused(reason)) if reason == "shared_key mismatch"));

    let server = security("s3cret", true);
    let (session, helo) = server.helo();
    let read = Helo::read(&helo).unwrap();
    assert_eq!(read.auth.len(), 16, "users are configured: an auth salt is sent");
    let ping = ping(read.nonce, read.auth, "client.test", "s3cret", Some(("fb", "pw")));
    assert_eq!(server.check_ping(&session, &ping).unwrap().username.as_deref(), Some("fb"));
    assert!(matches!(Helo::read(b"\x92\xa4PONG\x80"), Err(ClientError::Protocol(_))));
}

#[tokio::test]
async fn a_client_with_the_shared_key_gets_each_batch_acked_by_logd_and_a_wrong_key_is_refused() {
    let mut config = Config::default();
    config.listen.forward = "127.0.0.1:0".parse().unwrap();
    config.listen.http = "127.0.0.1:0".parse().unwrap();
    config.forward.shared_key = Some("s3cret".into());
    let logd = crate::Logd::start(config).await.unwrap();

    let mut client = Client::connect(logd.forward_addr(), Some("s3cret"), "client.test").await.unwrap();
    client.send_forward("slipway", &two_entries()).await.unwrap();
    client.send_forward("slipway", &two_entries()).await.unwrap();
    assert_eq!(logd.store().get("shop").map(|app| app.stats().0), Some(2), "kept before the ack");

    let refused = Client::connect(logd.forward_addr(), Some("guess"), "client.test").await.unwrap_err();
    assert!(matches!(&refused, ClientError::Refused(reason) if reason == "shared_key mismatch"), "{refused}");
    logd.stop().await;
}
