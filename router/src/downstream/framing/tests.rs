use super::*;

const HEAD_LIMIT: usize = 8192;

/// Feeds `input` split at `splits` (byte offsets), as reads would deliver it, and returns
/// the bytes hyper would see plus the final verdict.
fn run(input: &[u8], splits: &[usize]) -> (Vec<u8>, Option<Rejection>, bool) {
    let mut framing = Framing::new(HEAD_LIMIT, 100);
    let mut seen = Vec::new();
    let mut cuts = splits.to_vec();
    cuts.push(input.len());
    let mut start = 0;
    for end in cuts {
        let piece = &input[start..end];
        start = end;
        if framing.is_rejected() {
            break;
        }
        let (verdict, passed) = if framing.is_holding() {
            let (v, bytes) = framing.feed_held(piece);
            (v, bytes.to_vec())
        } else {
            let v = framing.feed(piece);
            let n = match v {
                Feed::Pass(n) | Feed::RejectHead(n, _) | Feed::RejectBody(n) => n,
            };
            (v, piece[..n].to_vec())
        };
        seen.extend_from_slice(&passed);
        match verdict {
            Feed::Pass(_) => {}
            Feed::RejectHead(_, why) => return (seen, Some(why), false),
            Feed::RejectBody(_) => return (seen, Some(Rejection::BadChunk), true),
        }
    }
    (seen, None, framing.is_holding())
}

/// Every way of splitting `input` in two and three pieces gives the same result.
fn all_splits(input: &[u8]) -> Vec<(Vec<u8>, Option<Rejection>, bool)> {
    let mut results = vec![run(input, &[])];
    for i in 1..input.len() {
        results.push(run(input, &[i]));
        for j in (i + 1..input.len()).step_by(7) {
            results.push(run(input, &[i, j]));
        }
    }
    results
}

const VALID: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"POST /x HTTP/1.1\r\nHost: a\r\ntransfer-encoding:  Chunked \r\n\r\nA;ext=1\r\n0123456789\r\n0 \r\nTrailer: x\r\n\r\n",
    b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\t;a\r\nabc\r\n0\r\n\r\n",
];

#[test]
fn valid_streams_pass_unchanged_however_they_are_split() {
    for message in VALID {
        // Three pipelined messages: the message, a GET, the message again.
        let mut stream = message.to_vec();
        stream.extend_from_slice(b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
        stream.extend_from_slice(message);
        for (seen, verdict, holding) in all_splits(&stream) {
            assert_eq!(verdict, None, "{}", String::from_utf8_lossy(message));
            assert!(!holding);
            assert_eq!(seen, stream, "{}", String::from_utf8_lossy(message));
        }
    }
}

#[test]
fn a_partial_head_is_held_back_until_complete() {
    let mut framing = Framing::new(HEAD_LIMIT, 100);
    assert_eq!(framing.feed(b"GET / HTTP/1.1\r\nHo"), Feed::Pass(0));
    assert!(framing.is_holding());
    let (verdict, bytes) = framing.feed_held(b"st: a\r\n\r\nGET");
    assert_eq!(verdict, Feed::Pass(27));
    assert_eq!(&bytes[..], b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(framing.is_holding(), "the start of the next head is held");
}

#[test]
fn length_and_chunked_together_are_refused_before_any_byte_passes() {
    let attack = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\
        Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n";
    for (seen, verdict, _) in all_splits(attack) {
        assert_eq!(verdict, Some(Rejection::LengthAndChunked));
        assert_eq!(seen, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "only the first request passes");
    }
    // Order of the two headers does not matter.
    let reversed = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n";
    assert_eq!(run(reversed, &[]).1, Some(Rejection::LengthAndChunked));
}

#[test]
fn bad_transfer_encodings_and_lengths_are_refused() {
    let cases: &[(&[u8], Rejection)] = &[
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n", Rejection::BadTransferEncoding),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", Rejection::BadTransferEncoding),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", Rejection::BadTransferEncoding),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            Rejection::BadTransferEncoding,
        ),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Rejection::BadTransferEncoding),
        (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", Rejection::BadContentLength),
        (b"POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", Rejection::BadContentLength),
        (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", Rejection::BadContentLength),
        (b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", Rejection::BadContentLength),
        (b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", Rejection::BadContentLength),
    ];
    for (head, why) in cases {
        let (seen, verdict, _) = run(head, &[]);
        assert_eq!(verdict, Some(*why), "{}", String::from_utf8_lossy(head));
        assert!(seen.is_empty());
    }
}

#[test]
fn malformed_chunks_stop_the_stream_at_the_bad_byte() {
    let head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for body in [
        &b"zz\r\nGET /smuggled HTTP/1.1\r\n\r\n"[..],
        b"5\r\nhelloXX0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"5;ext\nhello\r\n",
        b"5 5\r\nhello\r\n",
        b"\r\n",
        b"ffffffffffffffffff\r\n",
        b"0\r\n\r\r",
    ] {
        let mut stream = head.clone();
        stream.extend_from_slice(body);
        for (seen, verdict, poisoned) in all_splits(&stream) {
            assert_eq!(verdict, Some(Rejection::BadChunk), "{}", String::from_utf8_lossy(body));
            assert!(poisoned);
            assert!(!seen.windows(9).any(|w| w == b"/smuggled"));
            assert!(seen.len() < stream.len());
        }
    }
}

/// Feeds `input` in one read and returns what passed and whether the rest is held back
/// waiting for an upgrade's answer.
fn feed_upgrade(framing: &mut Framing, input: &[u8]) -> Vec<u8> {
    let verdict = framing.feed(input);
    assert_eq!(verdict, Feed::Pass(verdict.passed()), "nothing refused");
    assert!(framing.take_switch_started(), "the request stack is told to report the answer");
    assert!(framing.awaits_switch());
    input[..verdict.passed()].to_vec()
}

#[test]
fn after_an_upgrade_request_the_bytes_wait_for_its_answer() {
    let head = b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    let mut stream = head.to_vec();
    stream.extend_from_slice(b"\x81\x05hello");

    // Switched: the held bytes are the new protocol's, and everything after passes.
    let mut framing = Framing::new(HEAD_LIMIT, 100);
    assert_eq!(feed_upgrade(&mut framing, &stream), head);
    assert_eq!(&framing.switched()[..], b"\x81\x05hello");
    assert!(framing.is_pass_through());
    assert_eq!(framing.feed(b"\x00anything"), Feed::Pass(9));

    // Not switched: the held bytes are judged as HTTP, so a smuggled request is refused.
    let mut attack = head.to_vec();
    attack.extend_from_slice(b"POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    let mut framing = Framing::new(HEAD_LIMIT, 100);
    assert_eq!(feed_upgrade(&mut framing, &attack), head);
    framing.not_switched();
    assert!(!framing.awaits_switch() && framing.is_holding());
    let (verdict, passed) = framing.feed_held(&[]);
    assert_eq!(verdict, Feed::RejectHead(0, Rejection::LengthAndChunked));
    assert!(passed.is_empty());
}

#[test]
fn an_upgrade_requests_body_passes_before_the_wait() {
    let mut framing = Framing::new(HEAD_LIMIT, 100);
    let head = b"POST /up HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\nContent-Length: 5\r\n\r\n";
    assert_eq!(framing.feed(head), Feed::Pass(head.len()));
    assert!(framing.take_switch_started() && framing.is_switch_pending());
    assert!(!framing.awaits_switch(), "its body is still to come");
    assert_eq!(framing.feed(b"helloGET"), Feed::Pass(5));
    assert!(framing.awaits_switch());
}

#[test]
fn connect_waits_for_its_answer_too() {
    let connect = b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut stream = connect.to_vec();
    stream.extend_from_slice(b"\x16\x03\x01garbage");
    let mut framing = Framing::new(HEAD_LIMIT, 100);
    assert_eq!(feed_upgrade(&mut framing, &stream), connect);
    assert_eq!(&framing.switched()[..], b"\x16\x03\x01garbage");
}

#[test]
fn heads_hyper_refuses_anyway_are_left_to_hyper() {
    let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(HEAD_LIMIT + 10));
    let mut framing = Framing::new(HEAD_LIMIT, 100);
    assert_eq!(framing.feed(big.as_bytes()), Feed::Pass(big.len()));
    assert!(framing.is_pass_through());
    let mut framing = Framing::new(HEAD_LIMIT, 100);
    assert_eq!(framing.feed(b"G\0T / HTTP/1.1\r\n\r\n"), Feed::Pass(18));
    assert!(framing.is_pass_through());
}

#[test]
fn the_rejected_request_names_its_reason() {
    let mut out = BytesMut::new();
    Framing::new(8192, 100).rejected_request(Rejection::BadChunk, &mut out);
    let text = String::from_utf8(out.to_vec()).unwrap();
    assert!(text.starts_with("SLIPWAY-REJECTED /bad-chunk HTTP/1.1\r\n"));
    assert_eq!(Rejection::from_path("/bad-chunk"), Some(Rejection::BadChunk));
    assert_eq!(Rejection::from_path("/other"), None);
    assert!(text.contains("\r\nhost: rejected\r\n"), "{text}");
}

#[test]
fn the_rejected_request_keeps_the_refused_heads_plain_host() {
    let mut framing = Framing::new(8192, 100);
    let head = b"POST / HTTP/1.1\r\nHost: shop.example:8080\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert!(matches!(framing.feed(head), Feed::RejectHead(0, Rejection::LengthAndChunked)));
    let mut out = BytesMut::new();
    framing.rejected_request(Rejection::LengthAndChunked, &mut out);
    let text = String::from_utf8(out.to_vec()).unwrap();
    assert!(text.contains("\r\nhost: shop.example:8080\r\n"), "{text}");

    let mut framing = Framing::new(8192, 100);
    let head = b"POST / HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
    assert!(matches!(framing.feed(head), Feed::RejectHead(0, Rejection::BadContentLength)));
    let mut out = BytesMut::new();
    framing.rejected_request(Rejection::BadContentLength, &mut out);
    let text = String::from_utf8(out.to_vec()).unwrap();
    assert!(text.contains("\r\nhost: rejected\r\n"), "two Hosts are not believed: {text}");
}
