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
