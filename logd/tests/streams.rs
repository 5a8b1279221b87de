//! Live fan-out over real HTTP connections: SSE, WebSocket, NDJSON and text; filters,
//! tail and follow; resume without gap; slow subscribers; heartbeats; many subscribers.
#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

mod common;

use std::time::Duration;

use common::{
    Fwd, LIMIT, Time, config, follow_sse, messages, metric, packed, record, send_buffer_max, sse_lines, start,
};
use futures_util::{SinkExt, StreamExt};
use slipway_logd::LogLine;
use slipway_tests::stream;
use tokio_tungstenite::tungstenite::Message;

/// Sends `messages` for `app` as one PackedForward frame and waits for the ack.
async fn send(fwd: &mut Fwd, app: &str, lines: &[(&str, &str)], chunk: &str) {
    let entries: Vec<(Time, Vec<u8>)> = lines
        .iter()
        .map(|(dyno, msg)| (Time::Event(1_795_428_000, 0), record(app, msg, &[("dyno", dyno), ("stream", "stdout")])))
        .collect();
    fwd.send(&packed("t", &entries, &[("chunk", chunk)])).await;
    fwd.expect_ack(chunk).await;
}

async fn send_n(fwd: &mut Fwd, app: &str, from: usize, to: usize) {
    let msgs: Vec<String> = (from..to).map(|i| format!("line {i}")).collect();
    let lines: Vec<(&str, &str)> = msgs.iter().map(|m| ("web.1", m.as_str())).collect();
    send(fwd, app, &lines, &format!("{from}-{to}")).await;
}

#[tokio::test]
async fn sse_sends_the_tail_then_follows_live() {
    let logd = start(config()).await;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    send_n(&mut fwd, "shop", 0, 10).await;
    let mut s = follow_sse(&logd, "shop", "tail=3").await;
    assert_eq!(s.headers["content-type"], "text/event-stream");
    assert_eq!(messages(&sse_lines(&mut s, 3).await), ["line 7", "line 8", "line 9"]);
    send_n(&mut fwd, "shop", 10, 12).await;
    let live = sse_lines(&mut s, 2).await;
    assert_eq!(messages(&live), ["line 10", "line 11"]);
    assert_eq!((live[0].seq, live[0].app.as_str(), live[0].dyno.as_str()), (11, "shop", "web.1"));
    assert_eq!(metric(&logd, r#"slipway_logd_subscribers{transport="sse"}"#), 1.0);
    drop(s);
    logd.stop().await;
}

#[tokio::test]
async fn default_tail_is_100_and_follow_false_ends_the_stream() {
    let logd = start(config()).await;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    send_n(&mut fwd, "shop", 0, 150).await;
    let s = stream::open(logd.http_addr(), "/v1/apps/shop/logs?follow=false", &[]).await;
    assert_eq!(s.headers["content-type"], "application/x-ndjson");
    let body = s.rest().await;
    let lines: Vec<LogLine> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 100);
    assert_eq!(lines[0].message, "line 50");
    logd.stop().await;
}

#[tokio::test]
async fn filters_by_dyno_source_and_text() {
    let logd = start(config()).await;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    send(
        &mut fwd,
        "shop",
        &[("web.1", "GET / 200"), ("web.2", "GET /cart 500"), ("worker.1", "job 500 failed"), ("web.10", "GET /x 200")],
        "c",
    )
    .await;
    let mut build = record("shop", "compiling", &[("source", "build")]);
    fwd.send(&common::message("t", Time::Int(1), &build, &[("chunk", "b")])).await;
    fwd.expect_ack("b").await;
    build.clear();
    let get = async |q: &str| {
        messages(&common::history(&logd, "shop", q).await).into_iter().map(String::from).collect::<Vec<_>>()
    };
    assert_eq!(get("dyno=web").await, ["GET / 200", "GET /cart 500", "GET /x 200"]);
    assert_eq!(get("dyno=web.1").await, ["GET / 200"]);
    assert_eq!(get("dyno=web.2,worker").await, ["GET /cart 500", "job 500 failed"]);
    assert_eq!(get("grep=500").await, ["GET /cart 500", "job 500 failed"]);
    assert_eq!(get("source=build").await, ["compiling"]);
    assert_eq!(get("source=app&dyno=web&grep=cart").await, ["GET /cart 500"]);
    assert_eq!(get("regex=%5EGET%20%2F(cart%7Cx)").await, ["GET /cart 500", "GET /x 200"]);
    let bad = slipway_tests::get(logd.http_addr(), "logd", "/v1/apps/shop/logs?regex=(").await;
    assert_eq!((bad.status.as_u16(), bad.json()["error"]["field"].as_str()), (400, Some("regex")));

    // The filter applies to live lines too.
    let mut s = follow_sse(&logd, "shop", "tail=0&dyno=worker").await;
    send(&mut fwd, "shop", &[("web.1", "not me"), ("worker.2", "me")], "d").await;
    assert_eq!(messages(&sse_lines(&mut s, 1).await), ["me"]);
    logd.stop().await;
}

#[tokio::test]
async fn text_format_is_heroku_style() {
    let logd = start(config()).await;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    send(&mut fwd, "shop", &[("web.1", "hello")], "c").await;
    let s = stream::open(logd.http_addr(), "/v1/apps/shop/logs?follow=false&format=text", &[]).await;
    assert!(s.headers["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(s.rest().await, "2026-11-23T10:00:00.000000+00:00 app[web.1]: hello\n");
    logd.stop().await;
}

#[tokio::test]
async fn sse_resumes_with_last_event_id_without_gap_or_duplicate() {
    let logd = start(config()).await;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    send_n(&mut fwd, "shop", 0, 5).await;
    let mut s = follow_sse(&logd, "shop", "tail=5").await;
    let first = sse_lines(&mut s, 5).await;
    drop(s); // the connection drops...
    send_n(&mut fwd, "shop", 5, 9).await; // ...lines arrive meanwhile...
    let last_id = first.last().unwrap().seq.to_string();
    let mut s = stream::sse(logd.http_addr(), "/v1/apps/shop/logs?tail=100", &[("last-event-id", &last_id)]).await;
    let resumed = sse_lines(&mut s, 4).await;
    assert_eq!(messages(&resumed), ["line 5", "line 6", "line 7", "line 8"]);
    assert_eq!(resumed[0].seq, first.last().unwrap().seq + 1);
    // since= does the same for clients that cannot set headers.
    let mut s = follow_sse(&logd, "shop", "since=7").await;
    assert_eq!(messages(&sse_lines(&mut s, 2).await), ["line 7", "line 8"]);
    logd.stop().await;
}

#[tokio::test]
async fn resuming_past_history_gets_an_explicit_gap_event() {
    let mut c = config();
    c.history.max_lines_per_app = 10;
    let logd = start(c).await;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    send_n(&mut fwd, "shop", 0, 30).await;
    let mut s = follow_sse(&logd, "shop", "since=5").await;
    let gap = s.next_data().await.unwrap();
    assert_eq!(gap.event, "gap");
    assert_eq!(gap.json()["from"], 6);
    assert_eq!(gap.json()["to"], 20);
    let lines = sse_lines(&mut s, 10).await;
    assert_eq!(lines[0].seq, 21);
    // A resume point ahead of history (logd lost it): reset, then the tail.
    let mut s = follow_sse(&logd, "shop", "since=999&tail=1").await;
    assert_eq!(s.next_data().await.unwrap().event, "reset");
    assert_eq!(sse_lines(&mut s, 1).await[0].seq, 30);
    logd.stop().await;
}

#[tokio::test]
async fn websocket_streams_json_lines_and_answers_pings() {
    let logd = start(config()).await;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    send_n(&mut fwd, "shop", 0, 2).await;
    let url = format!("ws://{}/v1/apps/shop/logs?tail=2", logd.http_addr());
    let (mut ws, response) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(response.status(), 101);
    let mut next_line = async || -> LogLine {
        loop {
            match tokio::time::timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap() {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                _ => continue,
            }
        }
    };
    assert_eq!(next_line().await.message, "line 0");
    assert_eq!(next_line().await.message, "line 1");
    send_n(&mut fwd, "shop", 2, 3).await;
    assert_eq!(next_line().await.message, "line 2");
    ws.send(Message::Ping("are you there".into())).await.unwrap();
    let pong = loop {
        if let Message::Pong(p) = tokio::time::timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap() {
            break p;
        }
    };
    assert_eq!(&pong[..], b"are you there");
    assert_eq!(metric(&logd, r#"slipway_logd_subscribers{transport="websocket"}"#), 1.0);
    ws.close(None).await.unwrap();
    logd.stop().await;
}

#[tokio::test]
async fn idle_streams_get_heartbeats() {
    let mut c = config();
    c.http.heartbeat = Duration::from_millis(100);
    let logd = start(c).await;
    let mut s = follow_sse(&logd, "quiet", "").await;
    let beat = tokio::time::timeout(LIMIT, async {
        loop {
            let e = s.next_event().await.unwrap();
            if e.comments.iter().any(|c| c == "heartbeat") {
                return e;
            }
        }
    })
    .await
    .unwrap();
    assert!(beat.data.is_empty());
    let mut nd = stream::open(logd.http_addr(), "/v1/apps/quiet/logs", &[]).await;
    let line = tokio::time::timeout(LIMIT, nd.next_line()).await.unwrap().unwrap();
    assert_eq!(line, r#"{"event":"heartbeat"}"#);
    let url = format!("ws://{}/v1/apps/quiet/logs", logd.http_addr());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let ping = tokio::time::timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert!(ping.is_ping(), "{ping:?}");
    logd.stop().await;
}

/// A small subscriber queue, and history large enough to keep every line of the
/// slow-reader tests.
fn slow_reader_config() -> slipway_logd::Config {
    let mut c = config();
    c.http.subscriber_queue = 16;
    c.history.max_bytes_per_app = 256 << 20;
    c.history.max_bytes_total = 512 << 20;
    c
}

/// A subscriber that stops reading gets a `dropped N` marker once it reads again, while a
/// subscriber reading along gets every line and ingest never waits.
#[tokio::test]
async fn slow_subscriber_gets_dropped_marker_and_others_get_every_line() {
    let logd = start(slow_reader_config()).await;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    // The slow reader's receive buffer is fixed at 64 KiB (no autotuning).
    let path = "/v1/apps/busy/logs?tail=0";
    let mut slow = stream::open_with(logd.http_addr(), path, &[("accept", "text/event-stream")], Some(64 << 10)).await;
    let mut fast = follow_sse(&logd, "busy", "tail=0").await;
    // Enough to fill the socket buffers (logd's send buffer at its largest, the reader's
    // fixed one) and the queue twice over: 8 KiB lines, one per frame (one queue slot each).
    let big = "x".repeat(8 * 1024);
    let total = 2 * (send_buffer_max() + (128 << 10)) / big.len() + 500;
    let reader = tokio::spawn(async move {
        let lines = sse_lines(&mut fast, total).await;
        assert!(lines.windows(2).all(|w| w[1].seq == w[0].seq + 1), "the fast reader missed lines");
        lines.len()
    });
    for i in 0..total {
        let msg = format!("{i} {big}");
        let chunk = i.to_string();
        fwd.send(&common::message("t", Time::Int(1), &record("busy", &msg, &[]), &[("chunk", &chunk)])).await;
        fwd.expect_ack(&chunk).await; // ingest is never held up by the slow reader
    }
    assert_eq!(reader.await.unwrap(), total);
    // Now the slow one reads: lines, then a dropped marker, then lines again up to the end.
    let (mut seen, mut dropped, mut last, mut just_dropped) = (0u64, 0u64, 0u64, 0u64);
    tokio::time::timeout(LIMIT, async {
        while last < total as u64 {
            let e = slow.next_data().await.unwrap();
            match e.event.as_str() {
                "dropped" => {
                    just_dropped = e.json()["dropped"].as_u64().unwrap();
                    dropped += just_dropped;
                }
                "message" => {
                    let seq: u64 = e.id.unwrap().parse().unwrap();
                    assert_eq!(seq, last + 1 + just_dropped, "in order, and any skip announced exactly");
                    (last, just_dropped) = (seq, 0);
                    seen += 1;
                }
                other => panic!("unexpected event {other}"),
            }
        }
    })
    .await
    .unwrap();
    assert!(dropped > 0, "the slow subscriber should have been told it missed lines");
    assert_eq!(seen + dropped, total as u64, "every line is either delivered or counted as dropped");
    assert!(metric(&logd, "slipway_logd_subscriber_dropped_lines_total") >= dropped as f64);
    logd.stop().await;
}

/// The same over WebSocket: a subscriber that stops reading gets a `dropped` marker
/// (`{"event":"dropped","dropped":N}`) once it reads again, with every skip announced
/// exactly, while a WebSocket subscriber reading along gets every line.
#[tokio::test]
async fn slow_websocket_subscriber_gets_dropped_marker_and_others_get_every_line() {
    let logd = start(slow_reader_config()).await;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    let url = format!("ws://{}/v1/apps/busy/logs?tail=0", logd.http_addr());
    // The slow reader's receive buffer is fixed at 64 KiB (no autotuning), and it reads
    // nothing until ingest is over.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 << 10).unwrap();
    let tcp = socket.connect(logd.http_addr()).await.unwrap();
    let (mut slow, response) = tokio_tungstenite::client_async(url.as_str(), tcp).await.unwrap();
    assert_eq!(response.status(), 101);
    let (mut fast, _) = tokio_tungstenite::connect_async(url.as_str()).await.unwrap();
    slipway_tests::eventually("both websocket subscribers are registered", LIMIT, async || {
        (metric(&logd, r#"slipway_logd_subscribers{transport="websocket"}"#) == 2.0).then_some(())
    })
    .await;
    let big = "x".repeat(8 * 1024);
    let total = 2 * (send_buffer_max() + (128 << 10)) / big.len() + 500;
    let reader = tokio::spawn(async move {
        let mut seqs = Vec::with_capacity(total);
        while seqs.len() < total {
            match tokio::time::timeout(LIMIT, fast.next()).await.expect("fast reader stalled").unwrap().unwrap() {
                Message::Text(t) => {
                    let line: LogLine = serde_json::from_str(&t).unwrap_or_else(|e| panic!("{e}: {t}"));
                    seqs.push(line.seq);
                }
                _ => continue,
            }
        }
        seqs
    });
    for i in 0..total {
        let msg = format!("{i} {big}");
        let chunk = i.to_string();
        fwd.send(&common::message("t", Time::Int(1), &record("busy", &msg, &[]), &[("chunk", &chunk)])).await;
        fwd.expect_ack(&chunk).await; // ingest is never held up by the slow reader
    }
    assert_eq!(reader.await.unwrap(), (1..=total as u64).collect::<Vec<_>>(), "the fast reader got every line");
    let (mut seen, mut dropped, mut last, mut just_dropped) = (0u64, 0u64, 0u64, 0u64);
    tokio::time::timeout(LIMIT, async {
        while last < total as u64 {
            let Message::Text(text) = slow.next().await.unwrap().unwrap() else { continue };
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            match value["event"].as_str() {
                Some("dropped") => {
                    just_dropped = value["dropped"].as_u64().unwrap();
                    dropped += just_dropped;
                }
                None => {
                    let seq = value["seq"].as_u64().unwrap();
                    assert_eq!(seq, last + 1 + just_dropped, "in order, and any skip announced exactly");
                    (last, just_dropped) = (seq, 0);
                    seen += 1;
                }
                Some(other) => panic!("unexpected marker {other}: {text}"),
            }
        }
    })
    .await
    .unwrap();
    assert!(dropped > 0, "the slow websocket subscriber should have been told it missed lines");
    assert_eq!(seen + dropped, total as u64, "every line is either delivered or counted as dropped");
    assert!(metric(&logd, "slipway_logd_subscriber_dropped_lines_total") >= dropped as f64);
    logd.stop().await;
}

/// 1,000 SSE and 1,000 WebSocket subscribers on one app, each gets every line in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sse_and_a_thousand_websocket_subscribers_each_get_every_line_in_order() {
    let logd = start(config()).await;
    let http = logd.http_addr();
    const SUBS: usize = 1000;
    const LINES: usize = 200;
    let mut sse = Vec::with_capacity(SUBS);
    for _ in 0..SUBS {
        sse.push(stream::sse(http, "/v1/apps/crowd/logs?tail=0", &[]).await);
    }
    let ws_config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
    let mut wss = Vec::with_capacity(SUBS);
    for _ in 0..SUBS {
        let url = format!("ws://{http}/v1/apps/crowd/logs?tail=0");
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(ws_config), false).await.unwrap();
        wss.push(ws);
    }
    assert_eq!(metric(&logd, r#"slipway_logd_subscribers{transport="sse"}"#), SUBS as f64);
    assert_eq!(metric(&logd, r#"slipway_logd_subscribers{transport="websocket"}"#), SUBS as f64);
    let mut readers = tokio::task::JoinSet::new();
    for mut s in sse {
        readers.spawn(async move {
            let lines = sse_lines(&mut s, LINES).await;
            lines.iter().map(|l| l.seq).collect::<Vec<_>>()
        });
    }
    for mut ws in wss {
        readers.spawn(async move {
            let mut seqs = Vec::with_capacity(LINES);
            while seqs.len() < LINES {
                match tokio::time::timeout(LIMIT, ws.next()).await.expect("websocket stalled").unwrap().unwrap() {
                    Message::Text(t) => seqs.push(serde_json::from_str::<LogLine>(&t).unwrap().seq),
                    _ => continue,
                }
            }
            seqs
        });
    }
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    for i in 0..LINES / 10 {
        send_n(&mut fwd, "crowd", i * 10, i * 10 + 10).await;
    }
    let want: Vec<u64> = (1..=LINES as u64).collect();
    let mut done = 0;
    while let Some(seqs) = readers.join_next().await {
        assert_eq!(seqs.unwrap(), want);
        done += 1;
    }
    assert_eq!(done, 2 * SUBS);
    assert_eq!(metric(&logd, "slipway_logd_subscriber_dropped_lines_total"), 0.0);
    logd.stop().await;
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let mut c = config();
    c.http.cors_origins = vec!["https://dash.example".into()];
    let logd = start(c).await;
    let req = |origin: &'static str, method: &'static str| {
        http::Request::builder()
            .method(method)
            .uri("/v1/apps/shop/logs?follow=false")
            .header("host", "logd")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap()
    };
    let ok = slipway_tests::send(logd.http_addr(), req("https://dash.example", "GET")).await.unwrap();
    assert_eq!(ok.headers["access-control-allow-origin"], "https://dash.example");
    let preflight = slipway_tests::send(logd.http_addr(), req("https://dash.example", "OPTIONS")).await.unwrap();
    assert_eq!(preflight.status, 204);
    assert!(preflight.headers["access-control-allow-headers"].to_str().unwrap().contains("Authorization"));
    let other = slipway_tests::send(logd.http_addr(), req("https://evil.example", "GET")).await.unwrap();
    assert!(other.headers.get("access-control-allow-origin").is_none());
    logd.stop().await;
}

#[tokio::test]
async fn bad_queries_get_json_errors() {
    let logd = start(config()).await;
    let reply = slipway_tests::get(logd.http_addr(), "logd", "/v1/apps/shop/logs?tail=lots").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["field"], "tail");
    let reply = slipway_tests::get(logd.http_addr(), "logd", "/v1/apps/Not_An_App/logs").await;
    assert_eq!(reply.status, 400);
    let reply = slipway_tests::get(logd.http_addr(), "logd", "/nope").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"]["code"], "not_found");
    logd.stop().await;
}
