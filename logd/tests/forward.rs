//! The forward input over real sockets: every mode from hand-built frames, acks, the
//! handshake, TLS, hostile input, and the real Python and Node clients.
#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

mod common;

use std::time::Duration;

use common::{
    Fwd, LIMIT, Time, compressed, config, forward, history, message, messages, metric, packed, record, start,
};
use slipway_logd::forward::client::ping as client_ping;
use slipway_logd::msgpack::{Head, Reader};

#[tokio::test]
async fn every_mode_and_time_format_from_hand_built_frames() {
    let logd = start(config()).await;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    fwd.send(&message("t", Time::Int(1_795_428_000), &record("shop", "message int", &[]), &[])).await;
    fwd.send(&message("t", Time::Float(1_795_428_000.25), &record("shop", "message float", &[]), &[])).await;
    fwd.send(&message("t", Time::Event(1_795_428_000, 123_456_789), &record("shop", "message event", &[]), &[])).await;
    let entries = |prefix: &str| -> Vec<(Time, Vec<u8>)> {
        (0..3).map(|i| (Time::Event(1_795_428_001, i), record("shop", &format!("{prefix} {i}"), &[]))).collect()
    };
    fwd.send(&forward("t", &entries("forward"), &[])).await;
    fwd.send(&packed("t", &entries("packed"), &[])).await;
    fwd.send(&compressed("t", &entries("gzip"), 2, &[("chunk", "last")])).await;
    fwd.expect_ack("last").await;

    let lines = history(&logd, "shop", "").await;
    assert_eq!(
        messages(&lines),
        [
            "message int",
            "message float",
            "message event",
            "forward 0",
            "forward 1",
            "forward 2",
            "packed 0",
            "packed 1",
            "packed 2",
            "gzip 0",
            "gzip 1",
            "gzip 2"
        ]
    );
    assert_eq!(lines.iter().map(|l| l.seq).collect::<Vec<_>>(), (1..=12).collect::<Vec<_>>());
    assert_eq!(lines[0].time, "2026-11-23T10:00:00Z".replace('Z', ".000000000Z"));
    assert_eq!(lines[1].time, "2026-11-23T10:00:00.250000000Z");
    assert_eq!(lines[2].time, "2026-11-23T10:00:00.123456789Z");
    assert_eq!(metric(&logd, "slipway_logd_ingested_records_total"), 12.0);
    logd.stop().await;
}

/// What Fluent Bit 2.x+ sends: PackedForward (gzip) with `[[EventTime, metadata], record]`
/// entries, integer `size` and `fluent_signal` options, and the kubernetes filter's keys.
#[tokio::test]
async fn fluent_bit_shaped_frames_with_metadata_and_kubernetes_keys() {
    let logd = start(config()).await;
    let mut stream = Vec::new();
    for (i, pod) in ["web-7d9c8b5f4-x2k8p", "worker-0"].iter().enumerate() {
        rmp::encode::write_array_len(&mut stream, 2).unwrap();
        rmp::encode::write_array_len(&mut stream, 2).unwrap();
        common::write_time(&mut stream, Time::Event(1_795_428_000, i as u32));
        rmp::encode::write_map_len(&mut stream, 0).unwrap();
        rmp::encode::write_map_len(&mut stream, 4).unwrap();
        rmp::encode::write_str(&mut stream, "time").unwrap();
        rmp::encode::write_str(&mut stream, "2026-11-23T10:00:00.000000000Z").unwrap();
        rmp::encode::write_str(&mut stream, "stream").unwrap();
        rmp::encode::write_str(&mut stream, "stderr").unwrap();
        rmp::encode::write_str(&mut stream, "log").unwrap();
        rmp::encode::write_str(&mut stream, &format!("from {pod}\n")).unwrap();
        rmp::encode::write_str(&mut stream, "kubernetes").unwrap();
        rmp::encode::write_map_len(&mut stream, 3).unwrap();
        rmp::encode::write_str(&mut stream, "pod_name").unwrap();
        rmp::encode::write_str(&mut stream, pod).unwrap();
        rmp::encode::write_str(&mut stream, "namespace_name").unwrap();
        rmp::encode::write_str(&mut stream, "review").unwrap();
        rmp::encode::write_str(&mut stream, "labels").unwrap();
        rmp::encode::write_map_len(&mut stream, 1).unwrap();
        rmp::encode::write_str(&mut stream, "slipway.dev/app").unwrap();
        rmp::encode::write_str(&mut stream, "pr-7-shop").unwrap();
    }
    let mut frame = Vec::new();
    rmp::encode::write_array_len(&mut frame, 3).unwrap();
    rmp::encode::write_str(&mut frame, "kube.var.log.containers.web").unwrap();
    rmp::encode::write_bin(&mut frame, &common::gzip(&stream)).unwrap();
    rmp::encode::write_map_len(&mut frame, 4).unwrap();
    rmp::encode::write_str(&mut frame, "size").unwrap();
    rmp::encode::write_uint(&mut frame, 2).unwrap();
    rmp::encode::write_str(&mut frame, "chunk").unwrap();
    rmp::encode::write_str(&mut frame, "fb-1").unwrap();
    rmp::encode::write_str(&mut frame, "compressed").unwrap();
    rmp::encode::write_str(&mut frame, "gzip").unwrap();
    rmp::encode::write_str(&mut frame, "fluent_signal").unwrap();
    rmp::encode::write_uint(&mut frame, 0).unwrap();
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    fwd.send(&frame).await;
    fwd.expect_ack("fb-1").await;
    let lines = history(&logd, "pr-7-shop", "").await;
    assert_eq!(messages(&lines), ["from web-7d9c8b5f4-x2k8p", "from worker-0"]);
    assert_eq!((lines[0].dyno.as_str(), lines[1].dyno.as_str()), ("web.x2k8p", "worker.0"));
    assert_eq!(lines[0].stream, "stderr");
    assert_eq!(lines[1].time, "2026-11-23T10:00:00.000000001Z");
    assert_eq!(lines[0].fields["kubernetes"]["namespace_name"], "review");
    logd.stop().await;
}

#[tokio::test]
async fn an_ack_is_sent_only_once_the_lines_are_kept() {
    let logd = start(config()).await;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    for i in 0..20 {
        let chunk = format!("chunk-{i}");
        let entries: Vec<(Time, Vec<u8>)> =
            (0..50).map(|j| (Time::Int(1), record("acked", &format!("{i}.{j}"), &[]))).collect();
        fwd.send(&packed("t", &entries, &[("chunk", &chunk), ("size", "50")])).await;
        fwd.expect_ack(&chunk).await;
        // The ack came back: every line of the chunk is already in history.
        let lines = history(&logd, "acked", "").await;
        assert_eq!(lines.len(), (i + 1) * 50);
        assert_eq!(lines.last().unwrap().message, format!("{i}.49"));
    }
    assert_eq!(metric(&logd, "slipway_logd_acks_total"), 20.0);
    logd.stop().await;
}

#[tokio::test]
async fn frames_split_byte_by_byte_and_many_in_one_write_both_work() {
    let logd = start(config()).await;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    let frame = message("t", Time::Int(1), &record("split", &"x".repeat(100), &[]), &[("chunk", "a")]);
    for byte in &frame {
        fwd.send(std::slice::from_ref(byte)).await;
    }
    fwd.expect_ack("a").await;
    let mut many = Vec::new();
    for i in 0..500 {
        many.extend(message("t", Time::Int(1), &record("split", &format!("m{i}"), &[]), &[]));
    }
    many.extend(message("t", Time::Int(1), &record("split", "end", &[]), &[("chunk", "b")]));
    fwd.send(&many).await;
    fwd.expect_ack("b").await;
    assert_eq!(history(&logd, "split", "").await.len(), 502);
    logd.stop().await;
}

fn read_helo(msg: &[u8]) -> (Vec<u8>, Vec<u8>, bool) {
    let mut r = Reader::new(msg);
    assert_eq!(r.array_len().unwrap(), 2);
    assert_eq!(r.str().unwrap(), "HELO");
    let n = r.map_len().unwrap();
    let (mut nonce, mut auth, mut keepalive) = (Vec::new(), Vec::new(), false);
    for _ in 0..n {
        let key = r.str().unwrap().to_owned();
        match key.as_str() {
            "nonce" => nonce = r.bytes().unwrap().to_vec(),
            "auth" => auth = r.bytes().unwrap().to_vec(),
            "keepalive" => keepalive = matches!(r.head().unwrap(), Head::Bool(true)),
            _ => r.skip().unwrap(),
        }
    }
    (nonce, auth, keepalive)
}

fn read_pong(msg: &[u8]) -> (bool, String, String) {
    let mut r = Reader::new(msg);
    assert_eq!(r.array_len().unwrap(), 5);
    assert_eq!(r.str().unwrap(), "PONG");
    let ok = matches!(r.head().unwrap(), Head::Bool(true));
    let reason = r.str().unwrap().to_owned();
    let host = r.str().unwrap().to_owned();
    (ok, reason, host)
}

#[tokio::test]
async fn handshake_with_the_right_key_lets_records_in_and_a_wrong_key_gets_pong_false_then_close() {
    let mut c = config();
    c.forward.shared_key = Some("s3cret".into());
    c.forward.hostname = "logd.test".into();
    c.forward.users = vec![slipway_logd::config::User { username: "fb".into(), password: "pw".into() }];
    let logd = start(c).await;

    let mut good = Fwd::connect(logd.forward_addr()).await;
    let (nonce, auth, keepalive) = read_helo(&good.read_msg().await);
    assert_eq!(nonce.len(), 16);
    assert_eq!(auth.len(), 16, "users are configured: an auth salt is sent");
    assert!(keepalive);
    good.send(&client_ping(&nonce, &auth, "client.test", "s3cret", Some(("fb", "pw")))).await;
    let (ok, reason, host) = read_pong(&good.read_msg().await);
    assert!(ok, "{reason}");
    assert_eq!(host, "logd.test");
    good.send(&message("t", Time::Int(1), &record("secure", "in", &[]), &[("chunk", "c1")])).await;
    good.expect_ack("c1").await;

    let mut wrong_key = Fwd::connect(logd.forward_addr()).await;
    let (nonce, auth, _) = read_helo(&wrong_key.read_msg().await);
    wrong_key.send(&client_ping(&nonce, &auth, "client.test", "guess", Some(("fb", "pw")))).await;
    let (ok, reason, _) = read_pong(&wrong_key.read_msg().await);
    assert!(!ok);
    assert_eq!(reason, "shared_key mismatch");
    wrong_key.wait_closed().await;

    let mut wrong_password = Fwd::connect(logd.forward_addr()).await;
    let (nonce, auth, _) = read_helo(&wrong_password.read_msg().await);
    wrong_password.send(&client_ping(&nonce, &auth, "client.test", "s3cret", Some(("fb", "nope")))).await;
    let (ok, reason, _) = read_pong(&wrong_password.read_msg().await);
    assert!(!ok);
    assert_eq!(reason, "username/password mismatch");
    wrong_password.wait_closed().await;

    // Records before the handshake are not let in.
    let mut rude = Fwd::connect(logd.forward_addr()).await;
    let _helo = rude.read_msg().await;
    rude.send(&message("t", Time::Int(1), &record("secure", "sneaky", &[]), &[])).await;
    let (ok, reason, _) = read_pong(&rude.read_msg().await);
    assert!(!ok && reason == "invalid ping message", "{reason}");
    rude.wait_closed().await;

    assert_eq!(messages(&history(&logd, "secure", "").await), ["in"]);
    assert_eq!(metric(&logd, r#"slipway_logd_handshake_failures_total{reason="shared_key"}"#), 1.0);
    assert_eq!(metric(&logd, r#"slipway_logd_handshake_failures_total{reason="user"}"#), 1.0);
    logd.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_the_handshake_is_closed() {
    let mut c = config();
    c.forward.shared_key = Some("k".into());
    c.forward.handshake_timeout = Duration::from_millis(300);
    let logd = start(c).await;
    let mut silent = Fwd::connect(logd.forward_addr()).await;
    let _helo = silent.read_msg().await;
    silent.wait_closed().await;
    assert_eq!(metric(&logd, r#"slipway_logd_handshake_failures_total{reason="timeout"}"#), 1.0);
    logd.stop().await;
}

#[tokio::test]
async fn connections_past_the_limit_are_refused() {
    let mut c = config();
    c.forward.max_connections = 1;
    let logd = start(c).await;
    let mut first = Fwd::connect(logd.forward_addr()).await;
    first.send(&message("t", Time::Int(1), &record("one", "in", &[]), &[("chunk", "1")])).await;
    first.expect_ack("1").await;
    let mut second = Fwd::connect(logd.forward_addr()).await;
    second.wait_closed().await;
    assert_eq!(metric(&logd, r#"slipway_logd_decode_errors_total{reason="connection_limit"}"#), 1.0);
    // The first connection is unaffected.
    first.send(&message("t", Time::Int(1), &record("one", "still in", &[]), &[("chunk", "2")])).await;
    first.expect_ack("2").await;
    logd.stop().await;
}

/// Each hostile input closes its own connection, with a counted reason, while a
/// well-behaved client on another connection keeps sending and getting acks.
#[tokio::test]
async fn malformed_input_closes_only_its_connection() {
    let mut c = config();
    c.forward.max_frame_bytes = 1 << 20;
    let logd = start(c).await;
    let mut good = Fwd::connect(logd.forward_addr()).await;
    let mut sent = 0;
    let mut send_good = async |good: &mut Fwd| {
        sent += 1;
        let chunk = format!("g{sent}");
        good.send(&message("t", Time::Int(1), &record("steady", &format!("line {sent}"), &[]), &[("chunk", &chunk)]))
            .await;
        good.expect_ack(&chunk).await;
    };

    let truncated = {
        let frame = message("t", Time::Int(1), &record("bad", "never complete", &[]), &[]);
        frame[..frame.len() - 3].to_vec()
    };
    let wrong_types = message("t", Time::Int(1), &[0xa5, b'h', b'e', b'l', b'l', b'o'], &[]); // record is a string
    let huge_array = vec![0x92, 0xa1, b't', 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01];
    let bad_gzip = common::packed_raw("t", b"\x1f\x8b\x08\x00garbage, not deflate", &[("compressed", "gzip")]);
    let garbage = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    let oversized = common::packed_raw("t", &vec![0u8; 2 << 20], &[]);
    for (name, input, reason, half_close) in [
        ("truncated", truncated, "truncated", true),
        ("wrong types", wrong_types, "wrong_type", false),
        ("huge declared array", huge_array, "oversized", false),
        ("bad gzip", bad_gzip, "bad_gzip", false),
        ("garbage", garbage, "malformed", false),
        ("oversized", oversized, "oversized", false),
    ] {
        send_good(&mut good).await;
        let mut bad = Fwd::connect(logd.forward_addr()).await;
        // The server may close before reading everything: a failed write is fine.
        let _ = tokio::io::AsyncWriteExt::write_all(&mut bad.stream, &input).await;
        if half_close {
            tokio::io::AsyncWriteExt::shutdown(&mut bad.stream).await.unwrap();
        }
        bad.wait_closed().await;
        let sample = format!("slipway_logd_decode_errors_total{{reason=\"{reason}\"}}");
        assert!(metric(&logd, &sample) >= 1.0, "{name}: {sample} not counted");
        send_good(&mut good).await;
    }
    let lines = history(&logd, "steady", "").await;
    assert_eq!(lines.len(), 12, "the good client lost nothing");
    assert!(history(&logd, "bad", "").await.is_empty());
    logd.stop().await;
}

#[tokio::test]
async fn records_without_an_app_are_dropped_and_counted_or_sent_to_the_fallback() {
    let logd = start(config()).await;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    let mut orphan = Vec::new();
    rmp::encode::write_map_len(&mut orphan, 1).unwrap();
    rmp::encode::write_str(&mut orphan, "log").unwrap();
    rmp::encode::write_str(&mut orphan, "who am I").unwrap();
    fwd.send(&message("not.matching", Time::Int(1), &orphan, &[("chunk", "x")])).await;
    fwd.expect_ack("x").await;
    assert_eq!(metric(&logd, r#"slipway_logd_records_dropped_total{reason="no_app"}"#), 1.0);
    // The tag rule: slipway.<app>.<dyno>.
    fwd.send(&message("slipway.tagged.web.1", Time::Int(1), &orphan, &[("chunk", "y")])).await;
    fwd.expect_ack("y").await;
    let lines = history(&logd, "tagged", "").await;
    assert_eq!((lines[0].dyno.as_str(), lines[0].message.as_str()), ("web.1", "who am I"));
    logd.stop().await;

    let mut c = config();
    c.rules.fallback_app = "unassigned".into();
    let logd = start(c).await;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    fwd.send(&message("not.matching", Time::Int(1), &orphan, &[("chunk", "z")])).await;
    fwd.expect_ack("z").await;
    assert_eq!(messages(&history(&logd, "unassigned", "").await), ["who am I"]);
    logd.stop().await;
}

#[tokio::test]
async fn tls_listener_accepts_forward_frames() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let mut c = config();
    c.listen.forward_tls = Some("127.0.0.1:0".parse().unwrap());
    c.forward.tls = Some(slipway_logd::config::Tls { cert: cert_path, key: key_path });
    let logd = start(c).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(logd.forward_tls_addr().unwrap()).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tls.write_all(&message("t", Time::Int(1), &record("secure", "over tls", &[]), &[("chunk", "t1")])).await.unwrap();
    let mut ack = vec![0u8; 64];
    let n = tokio::time::timeout(LIMIT, tls.read(&mut ack)).await.unwrap().unwrap();
    let mut r = Reader::new(&ack[..n]);
    assert_eq!(r.map_len().unwrap(), 1);
    assert_eq!(r.str().unwrap(), "ack");
    assert_eq!(r.str().unwrap(), "t1");
    assert_eq!(messages(&history(&logd, "secure", "").await), ["over tls"]);
    logd.stop().await;
}

async fn run_client(mut p: slipway_tests::process::Process) {
    let line = p.wait_for_line("SENT", Duration::from_secs(30)).await;
    assert!(line.starts_with("SENT"), "{line}");
    assert_eq!(p.wait_exit(Duration::from_secs(30)).await, Some(0), "{}", p.output.join("\n"));
}

#[tokio::test]
async fn python_fluent_logger_messages_arrive_with_integer_and_nanosecond_times() {
    let logd = start(config()).await;
    let port = logd.forward_addr().port().to_string();
    run_client(slipway_tests::clients::python("fluent_send.py", &[&port, "slipway", "py.web.1", "20", "py"])).await;
    run_client(slipway_tests::clients::python(
        "fluent_send.py",
        &[&port, "slipway", "py.worker.1", "5", "nano", "nano"],
    ))
    .await;
    // Python's client sends no chunk (no ack): wait for the lines to arrive.
    let lines = common::wait_lines(&logd, "py", 25).await;
    assert_eq!(lines[0].message, "py 0");
    assert_eq!(lines[0].dyno, "web.1");
    assert_eq!(lines[0].stream, "stdout");
    assert!(lines[0].time.ends_with(".000000000Z"), "integer seconds: {}", lines[0].time);
    assert_eq!(lines[20].dyno, "worker.1");
    assert!(!lines[20..].iter().all(|l| l.time.ends_with(".000000000Z")), "EventTime keeps nanoseconds");
    logd.stop().await;
}

#[tokio::test]
async fn node_fluent_logger_in_every_mode_with_acks_and_the_handshake() {
    let mut c = config();
    c.forward.shared_key = Some("node-shared-key".into());
    c.forward.hostname = "logd.test".into();
    let logd = start(c).await;
    let port = logd.forward_addr().port();
    let security = serde_json::json!({ "clientHostname": "node.test", "sharedKey": "node-shared-key" });
    for (mode, ack) in
        [("Message", false), ("Message", true), ("PackedForward", true), ("CompressedPackedForward", true)]
    {
        let opts = serde_json::json!({
            "port": port, "tag": "slipway", "label": "node.web.1", "count": 30, "prefix": format!("{mode}-{ack}"),
            "mode": mode, "ack": ack, "security": security,
        });
        run_client(slipway_tests::clients::node("fluent-send.cjs", &[&opts.to_string()])).await;
    }
    let lines = common::wait_lines(&logd, "node", 120).await;
    for prefix in ["Message-false", "Message-true", "PackedForward-true", "CompressedPackedForward-true"] {
        let got: Vec<&str> =
            lines.iter().filter(|l| l.message.starts_with(prefix)).map(|l| l.message.as_str()).collect();
        let want: Vec<String> = (0..30).map(|i| format!("{prefix} {i}")).collect();
        assert_eq!(got, want, "{prefix}");
    }
    assert!(metric(&logd, "slipway_logd_acks_total") >= 3.0);

    // The same client with a wrong key is refused with the reason.
    let opts = serde_json::json!({
        "port": port, "tag": "slipway", "label": "node.web.1", "count": 1, "ack": true,
        "security": { "clientHostname": "node.test", "sharedKey": "wrong" },
    });
    let mut p = slipway_tests::clients::node("fluent-send.cjs", &[&opts.to_string()]);
    let line = p.wait_for_line("ERROR", Duration::from_secs(30)).await;
    assert!(line.contains("shared_key mismatch"), "{line}");
    logd.stop().await;
}

/// Sends `bytes` one at a time, one per `every`, until logd closes the connection, and
/// returns how long after the first byte that was. Panics if the bytes run out first.
async fn dribble(addr: std::net::SocketAddr, bytes: Vec<u8>, every: Duration) -> Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut fwd = Fwd::connect(addr).await;
    let started = std::time::Instant::now();
    let mut sink = [0u8; 64];
    for byte in bytes {
        if fwd.stream.write_all(&[byte]).await.is_err() {
            return started.elapsed();
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            read = fwd.stream.read(&mut sink) => match read {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(n) => panic!("logd answered a dribbled frame with {n} bytes"),
            },
        }
    }
    panic!("the dribbler sent its whole frame and was never cut off");
}

/// Slowloris on forward frames: clients that send a byte a second are closed once the
/// frame timeout passes (never before), while a client sending whole frames on the same
/// listener keeps getting its acks throughout.
#[tokio::test]
async fn slow_clients_dribbling_a_frame_are_cut_off_while_a_well_behaved_client_keeps_getting_acks() {
    const SLOW: usize = 5;
    let mut c = config();
    c.forward.frame_timeout = Duration::from_secs(1);
    c.forward.idle_timeout = Duration::from_secs(5);
    let limit = c.forward.frame_timeout;
    let logd = start(c).await;
    let addr = logd.forward_addr();
    let mut slow = tokio::task::JoinSet::new();
    for i in 0..SLOW {
        let frame = message("t", Time::Int(1), &record("slow", &format!("dribbled {i} {}", "x".repeat(200)), &[]), &[]);
        slow.spawn(dribble(addr, frame, Duration::from_secs(1)));
    }
    let mut good = Fwd::connect(addr).await;
    let mut acked = 0;
    let since = std::time::Instant::now();
    while !slow.is_empty() {
        assert!(since.elapsed() < LIMIT, "{} dribblers still open after {LIMIT:?}", slow.len());
        let chunk = format!("good-{acked}");
        good.send(&message("t", Time::Int(1), &record("steady", &chunk, &[]), &[("chunk", &chunk)])).await;
        good.expect_ack(&chunk).await;
        acked += 1;
        while let Some(cut_after) = slow.try_join_next() {
            let cut_after = cut_after.unwrap();
            assert!(cut_after >= limit, "a dribbler was cut after {cut_after:?}, before forward.frame_timeout");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The good client is still served after every dribbler is gone.
    good.send(&message("t", Time::Int(1), &record("steady", "last", &[]), &[("chunk", "last")])).await;
    good.expect_ack("last").await;
    assert!(acked >= 2, "the good client got {acked} acks while the dribblers were open");
    assert_eq!(metric(&logd, r#"slipway_logd_forward_timeouts_total{reason="frame"}"#), SLOW as f64);
    assert_eq!(metric(&logd, r#"slipway_logd_forward_timeouts_total{reason="idle"}"#), 0.0);
    assert!(history(&logd, "slow", "").await.is_empty());
    assert_eq!(history(&logd, "steady", "").await.len(), acked + 1);
    logd.stop().await;
}

/// A connection whose client sends nothing for `forward.idle_timeout` is closed: a silent
/// one, and one that went quiet after its frames were acked.
#[tokio::test]
async fn a_client_that_goes_quiet_is_closed_after_the_idle_timeout() {
    let mut c = config();
    c.forward.idle_timeout = Duration::from_millis(500);
    let limit = c.forward.idle_timeout;
    let logd = start(c).await;
    let mut quiet = Fwd::connect(logd.forward_addr()).await;
    // logd's idle wait starts after it handled the frame, so after this instant.
    let sent = std::time::Instant::now();
    quiet.send(&message("t", Time::Int(1), &record("quiet", "one line", &[]), &[("chunk", "q")])).await;
    quiet.expect_ack("q").await;
    let mut silent = Fwd::connect(logd.forward_addr()).await;
    quiet.wait_closed().await;
    assert!(sent.elapsed() >= limit, "closed after {:?}, before forward.idle_timeout", sent.elapsed());
    silent.wait_closed().await;
    assert_eq!(metric(&logd, r#"slipway_logd_forward_timeouts_total{reason="idle"}"#), 2.0);
    assert_eq!(metric(&logd, r#"slipway_logd_forward_timeouts_total{reason="frame"}"#), 0.0);
    assert_eq!(messages(&history(&logd, "quiet", "").await), ["one line"]);
    logd.stop().await;
}

/// A large frame arriving steadily but slower than `forward.frame_timeout` allows for a
/// whole frame is not cut: each `frame_min_rate` bytes received earn it one more second.
#[tokio::test]
async fn a_large_frame_arriving_at_a_steady_pace_is_not_cut_by_the_frame_timer() {
    let mut c = config();
    c.forward.frame_timeout = Duration::from_millis(500);
    c.forward.frame_min_rate = 16 * 1024;
    let logd = start(c).await;
    let entries: Vec<(Time, Vec<u8>)> =
        (0..64).map(|i| (Time::Int(1), record("paced", &format!("{i} {}", "p".repeat(4000)), &[]))).collect();
    let frame = packed("t", &entries, &[("chunk", "paced")]);
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    // About 64 KiB/s: the frame takes about 4 s, 8 times the frame timeout.
    let started = std::time::Instant::now();
    for piece in frame.chunks(8 * 1024) {
        fwd.send(piece).await;
        tokio::time::sleep(Duration::from_millis(125)).await;
    }
    fwd.expect_ack("paced").await;
    assert!(started.elapsed() > Duration::from_millis(500), "the frame must outlast the bare frame timeout");
    assert_eq!(history(&logd, "paced", "").await.len(), 64);
    assert_eq!(metric(&logd, r#"slipway_logd_forward_timeouts_total{reason="frame"}"#), 0.0);
    logd.stop().await;
}

/// A sender whose frame waits for buffer space (the cap is held by another connection's
/// frame) is not idle: it is not closed however long the wait, and gets its ack once the
/// space is free.
#[tokio::test]
async fn a_sender_waiting_for_buffer_space_is_not_cut_off_by_the_idle_timeout() {
    let mut c = config();
    c.forward.max_connections = 16;
    c.forward.max_buffered_bytes = 256 << 10;
    c.forward.max_frame_bytes = 2 << 20;
    c.forward.idle_timeout = Duration::from_secs(2);
    let idle = c.forward.idle_timeout;
    let logd = start(c).await;
    let addr = logd.forward_addr();
    // The hog: a 1 MiB frame, half of it at once, then a byte every 100 ms (it is not idle)
    // until told to send the rest.
    let entries: Vec<(Time, Vec<u8>)> =
        (0..256).map(|i| (Time::Int(1), record("hog", &format!("{i} {}", "h".repeat(4000)), &[]))).collect();
    let frame = packed("t", &entries, &[("chunk", "hog")]);
    let (finish, mut finish_rx) = tokio::sync::oneshot::channel::<()>();
    let hog = tokio::spawn(async move {
        let mut fwd = Fwd::connect(addr).await;
        let mut sent = 512 << 10;
        fwd.send(&frame[..sent]).await;
        loop {
            tokio::select! {
                _ = &mut finish_rx => break,
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    fwd.send(&frame[sent..=sent]).await;
                    sent += 1;
                }
            }
        }
        fwd.send(&frame[sent..]).await;
        fwd.expect_ack("hog").await;
    });
    slipway_tests::eventually("the hog's half frame is buffered", LIMIT, async || {
        (metric(&logd, "slipway_logd_forward_buffered_bytes") >= (400 << 10) as f64).then_some(())
    })
    .await;
    let mut waiter = Fwd::connect(addr).await;
    waiter.send(&message("t", Time::Int(1), &record("waiter", "waited", &[]), &[("chunk", "w")])).await;
    slipway_tests::eventually("the second sender waits for buffer space", LIMIT, async || {
        (metric(&logd, "slipway_logd_forward_buffer_waiting_connections") == 1.0).then_some(())
    })
    .await;
    // Longer than the idle timeout: what this test is about.
    tokio::time::sleep(idle + Duration::from_secs(1)).await;
    assert_eq!(metric(&logd, "slipway_logd_forward_buffer_waiting_connections"), 1.0, "still waiting");
    finish.send(()).unwrap();
    waiter.expect_ack("w").await;
    tokio::time::timeout(LIMIT, hog).await.unwrap().unwrap();
    assert_eq!(metric(&logd, r#"slipway_logd_forward_timeouts_total{reason="idle"}"#), 0.0);
    assert_eq!(messages(&history(&logd, "waiter", "").await), ["waited"]);
    assert_eq!(history(&logd, "hog", "").await.len(), 256);
    assert!(metric(&logd, "slipway_logd_forward_buffer_wait_seconds_count") >= 1.0);
    logd.stop().await;
}

/// logd's resident memory, from /proc.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"));
    kb * 1024
}

/// The real `slipway-logd` binary on loopback ports, with `forward` config lines added.
struct LogdBinary {
    process: slipway_tests::process::Process,
    forward: std::net::SocketAddr,
    http: std::net::SocketAddr,
    pid: u32,
    _config: tempfile::NamedTempFile,
}

impl LogdBinary {
    async fn start(extra: &str) -> LogdBinary {
        let config = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        std::fs::write(
            config.path(),
            format!(
                "worker_threads = 2\nlog_format = \"json\"\nlog_level = \"warn,slipway_logd=info\"\n\
                 [listen]\nforward = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n[auth]\nanonymous = true\n{extra}"
            ),
        )
        .unwrap();
        let mut process = slipway_tests::process::Process::spawn(
            std::path::Path::new(env!("CARGO_BIN_EXE_slipway-logd")),
            &["--config", config.path().to_str().unwrap()],
            &[],
        );
        let started = process.wait_for_line("logd started", LIMIT).await;
        let field = |name: &str| slipway_tests::platform::log_field(&started, name).parse().unwrap();
        let (forward, http) = (field("forward"), field("http"));
        let pid = process.child.id().unwrap();
        LogdBinary { process, forward, http, pid, _config: config }
    }

    async fn metric(&self, sample: &str) -> f64 {
        slipway_tests::metric(&slipway_tests::get(self.http, "logd", "/metrics").await.text(), sample)
    }

    async fn stop(mut self) {
        self.process.signal(15);
        assert_eq!(self.process.wait_exit(LIMIT).await, Some(0));
    }
}

/// What the issue saw: many connections each holding part of a large frame grew logd's
/// memory by the sum of them. With a small `forward.max_buffered_bytes`, the real binary's
/// memory (RSS) and its buffered-bytes gauge stay within the cap plus one frame while 32
/// connections each hold all but the last byte of a 4 MiB frame; once the frames can
/// complete, every connection resumes as the others drain, and each gets its ack.
#[tokio::test]
async fn many_connections_holding_part_of_a_large_frame_stay_under_the_buffer_cap_and_complete_as_others_drain() {
    const CONNS: usize = 32;
    const CAP: usize = 4 << 20;
    let logd = LogdBinary::start(&format!(
        "[forward]\nmax_connections = 64\nmax_frame_bytes = {}\nmax_buffered_bytes = {CAP}\nframe_timeout = \"120s\"\n",
        8 << 20
    ))
    .await;
    let (forward_addr, pid) = (logd.forward, logd.pid);
    let metric = async |sample: &str| logd.metric(sample).await;

    // Warm up (a frame through the whole path), then take the baseline.
    let mut warm = Fwd::connect(forward_addr).await;
    warm.send(&message("t", Time::Int(1), &record("big", "warm-up", &[]), &[("chunk", "warm")])).await;
    warm.expect_ack("warm").await;
    let baseline = rss_bytes(pid);

    let entries: Vec<(Time, Vec<u8>)> =
        (0..1024).map(|i| (Time::Int(1), record("big", &format!("{i} {}", "b".repeat(4000)), &[]))).collect();
    let frame = std::sync::Arc::new(packed("t", &entries, &[("chunk", "big")]));
    let partial = frame.len() - 1;
    let (go, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..CONNS {
        let (frame, mut go) = (frame.clone(), go.subscribe());
        senders.spawn(async move {
            let mut fwd = Fwd::connect(forward_addr).await;
            fwd.send(&frame[..partial]).await;
            let _ = go.recv().await;
            fwd.send(&frame[partial..]).await;
            fwd.expect_ack("big").await;
        });
    }
    // Either logd read every partial frame (no cap), or all but one connection wait for
    // buffer space (the other reads its frame past the cap and waits for its last byte).
    let total = (CONNS * partial) as f64;
    slipway_tests::eventually("logd read everything, or its reads wait for buffer space", LIMIT, async || {
        let read = metric("slipway_logd_ingested_bytes_total").await;
        let waiting = metric("slipway_logd_forward_buffer_waiting_connections").await;
        (read >= total || waiting >= (CONNS - 1) as f64).then_some(())
    })
    .await;
    let grown = rss_bytes(pid).saturating_sub(baseline);
    let buffered = metric("slipway_logd_forward_buffered_bytes").await;
    assert!(
        grown < 48 << 20,
        "logd's RSS grew by {} MiB for {CONNS} partial frames of {} KiB; the cap is {} MiB",
        grown >> 20,
        frame.len() >> 10,
        CAP >> 20
    );
    assert!(buffered >= (CAP - (64 << 10)) as f64, "the cap was reached: {buffered} bytes buffered");
    assert!(buffered <= (CAP + frame.len() + (64 << 10)) as f64, "{buffered} bytes buffered: over cap + one frame");

    // The last bytes: frames complete one after another as the buffered ones drain.
    go.send(()).unwrap();
    while let Some(done) = tokio::time::timeout(Duration::from_secs(60), senders.join_next()).await.unwrap() {
        done.unwrap();
    }
    assert_eq!(metric(r#"slipway_logd_forward_timeouts_total{reason="frame"}"#).await, 0.0);
    assert!(metric("slipway_logd_forward_buffer_wait_seconds_count").await >= (CONNS - 1) as f64);
    drop(warm);
    slipway_tests::eventually("every connection gave its bytes back", LIMIT, async || {
        (metric("slipway_logd_forward_buffered_bytes").await == 0.0).then_some(())
    })
    .await;
    logd.stop().await;
}

/// A CompressedPackedForward frame is inflated into a buffer of the worker thread, not of
/// the connection: 32 connections that each sent one frame inflating to 4 MiB and stay
/// open do not keep 32 inflated copies (what they did when each connection kept its own).
#[tokio::test]
async fn inflated_frames_cost_memory_per_thread_not_per_open_connection() {
    const CONNS: usize = 32;
    let logd = LogdBinary::start(&format!("[forward]\nmax_connections = 64\nmax_frame_bytes = {}\n", 8 << 20)).await;
    let mut warm = Fwd::connect(logd.forward).await;
    warm.send(&message("t", Time::Int(1), &record("warm", "warm-up", &[]), &[("chunk", "warm")])).await;
    warm.expect_ack("warm").await;
    let baseline = rss_bytes(logd.pid);
    // Records without a valid app are dropped (and counted) once read: nothing is kept.
    let entries: Vec<(Time, Vec<u8>)> =
        (0..1024).map(|i| (Time::Int(1), record("No App", &format!("{i} {}", "z".repeat(4000)), &[]))).collect();
    let frame = compressed("t", &entries, 1, &[("chunk", "z")]);
    assert!(frame.len() < 256 << 10, "it compresses well: {} bytes", frame.len());
    let mut open = Vec::with_capacity(CONNS);
    for _ in 0..CONNS {
        let mut fwd = Fwd::connect(logd.forward).await;
        fwd.send(&frame).await;
        fwd.expect_ack("z").await;
        open.push(fwd);
    }
    assert_eq!(logd.metric(r#"slipway_logd_records_dropped_total{reason="no_app"}"#).await, (CONNS * 1024) as f64);
    let grown = rss_bytes(logd.pid).saturating_sub(baseline);
    assert!(
        grown < 48 << 20,
        "logd's RSS grew by {} MiB with {CONNS} open connections that each sent one frame inflating to 4 MiB",
        grown >> 20
    );
    drop(open);
    logd.stop().await;
}
