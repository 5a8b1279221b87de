//! Slow upstreams, slow clients and idle connections.

#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{ZONE, host, start};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use slipway_tests::backend::{self, Handler};
use slipway_tests::client::Conn;
use slipway_tests::{Backend, raw};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

#[tokio::test]
async fn a_slow_upstream_gives_504_at_the_configured_timeout() {
    let router = start(common::config()).await;
    let slow = Backend::start("slow").await;
    let body = serde_json::json!({ "endpoints": [slow.endpoint()], "options": { "response_timeout": "300ms" } });
    router.put_app_json("slow", &body.to_string()).await;

    let started = Instant::now();
    let reply = router.get("slow", "/slow/5000").await;
    let took = started.elapsed();
    assert_eq!(reply.status, 504, "{}", reply.text());
    assert!(took >= Duration::from_millis(300) && took < Duration::from_millis(3000), "answered after {took:?}");
    // A fast request of the same app is unaffected.
    assert_eq!(router.get("slow", "/slow/10").await.status, 200);
    router.stop().await;
}

#[tokio::test]
async fn a_slowloris_client_is_disconnected_after_the_header_timeout() {
    let mut config = common::config();
    config.timeouts.header_read = Duration::from_millis(400);
    let router = start(config).await;
    let app = Backend::start("app").await;
    router.put_app("app", &[app.endpoint()]).await;

    let mut stream = tokio::net::TcpStream::connect(router.http).await.unwrap();
    let started = Instant::now();
    let head = format!("GET / HTTP/1.1\r\nHost: app.{ZONE}\r\nX-Slow: ");
    stream.write_all(head.as_bytes()).await.unwrap();
    // Trickle one byte every 50 ms, never finishing the head, until the router hangs up.
    let trickle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if stream.write_all(b"a").await.is_err() {
                break;
            }
        }
    };
    let hung_up = tokio::time::timeout(Duration::from_secs(5), trickle).await;
    assert!(hung_up.is_ok(), "the slow client was never disconnected");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(400), "disconnected too early: {took:?}");
    assert_eq!(app.hits(), 0);
    assert!(router.metric("slipway_router_header_timeouts_total") >= 1.0);

    // A client that connects and sends nothing is closed too.
    let mut silent = tokio::net::TcpStream::connect(router.http).await.unwrap();
    let reply = raw::read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(reply.bytes.is_empty());
    router.stop().await;
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_but_busy_ones_are_not() {
    let mut config = common::config();
    config.timeouts.idle = Duration::from_millis(300);
    let router = start(config).await;
    let app = Backend::start("app").await;
    router.put_app("app", &[app.endpoint()]).await;

    // A request that lasts longer than the idle timeout is not cut.
    let mut busy = Conn::open(router.http).await;
    let reply = busy.get(&format!("app.{ZONE}"), "/slow/700").await.unwrap();
    assert_eq!(reply.status, 200);

    // After it, the connection idles and is closed by the router.
    let mut stream = tokio::net::TcpStream::connect(router.http).await.unwrap();
    let request = format!("GET / HTTP/1.1\r\nHost: app.{ZONE}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let started = Instant::now();
    let reply = raw::read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(reply.statuses(), [200]);
    assert!(started.elapsed() >= Duration::from_millis(250), "closed after {:?}", started.elapsed());
    router.stop().await;
}

/// A listener whose accept queue is full drops new SYNs, so connecting to it hangs: the
/// loopback stand-in for an unreachable host. The router gives up after its connect
/// timeout and answers 504 instead of hanging.
#[tokio::test]
async fn a_connect_that_hangs_gives_504_after_the_connect_timeout() {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    socket.listen(0).unwrap();
    let blackhole: std::net::SocketAddr = socket.local_addr().unwrap().as_socket().unwrap();
    // Fill the accept queue (never accepted).
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(200), tokio::net::TcpStream::connect(blackhole)).await
        {
            fillers.push(s);
        }
    }

    let mut config = common::config();
    config.timeouts.connect = Duration::from_millis(300);
    config.upstream.retries = 0;
    let router = start(config).await;
    router.put_app("hang", &[blackhole.to_string()]).await;
    let started = Instant::now();
    let reply = router.get("hang", "/").await;
    let took = started.elapsed();
    assert_eq!(reply.status, 504, "{}", reply.text());
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3), "{took:?}");
    drop(fillers);
    router.stop().await;
}

/// An app that reads the whole request body, then answers with its length (or, with
/// `answer` false, never answers).
fn reads_the_body_first(answer: bool) -> Handler {
    Arc::new(move |req: Request<Incoming>| {
        Box::pin(async move {
            let body = req.into_body().collect().await.map(|b| b.to_bytes().len());
            if !answer {
                std::future::pending::<()>().await;
            }
            match body {
                Ok(len) => backend::text(StatusCode::OK, &len.to_string()),
                Err(e) => backend::text(StatusCode::BAD_REQUEST, &e.to_string()),
            }
        })
    })
}

/// `POST /upload` to app "up" whose body is `chunks` pieces of `size` bytes, one every
/// `pace` (a slow client's upload). Returns the status, the body and when the client had
/// handed over the last piece.
async fn slow_upload(router: SocketAddr, chunks: usize, size: usize, pace: Duration) -> (u16, String, Instant) {
    let stream = tokio::net::TcpStream::connect(router).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let (tx, mut rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
    let body = StreamBody::new(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let req = Request::post("/upload").header("host", host("up")).body(body).unwrap();
    let uploading = tokio::spawn(async move {
        for _ in 0..chunks {
            if tx.send(Ok(Frame::data(Bytes::from(vec![b'x'; size])))).await.is_err() {
                break;
            }
            tokio::time::sleep(pace).await;
        }
        Instant::now()
    });
    let response = sender.send_request(req).await.unwrap();
    let status = response.status().as_u16();
    let text = String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).into_owned();
    (status, text, uploading.await.unwrap())
}

/// A 3 MiB upload that takes about three times the response timeout reaches a healthy app,
/// which answers once it has it all: the timeout counts from the end of the body.
#[tokio::test]
async fn a_slow_upload_to_a_healthy_app_is_not_cut_by_the_response_timeout() {
    let mut config = common::config();
    config.timeouts.response_header = Duration::from_secs(1);
    let router = start(config).await;
    let app = Backend::start_with("up", Some(reads_the_body_first(true))).await;
    router.put_app("up", &[app.endpoint()]).await;

    let started = Instant::now();
    let (status, text, _) = slow_upload(router.http, 48, 64 * 1024, Duration::from_millis(60)).await;
    assert_eq!(status, 200, "after {:?}: {text}", started.elapsed());
    assert_eq!(text, (3 * 1024 * 1024).to_string(), "the app got the whole body");
    assert!(started.elapsed() > Duration::from_secs(1), "the upload lasted longer than the response timeout");
    router.stop().await;
}

/// The response timeout still runs once the body is sent: an app that never answers gets
/// the client a 504, no sooner than the timeout after the body's end, and not as late as
/// the (long) pause limit that applied while the body was being sent.
#[tokio::test]
async fn an_app_that_never_answers_after_a_slow_body_still_gets_504() {
    let mut config = common::config();
    config.timeouts.response_header = Duration::from_secs(1);
    config.timeouts.request_body = Duration::from_secs(120);
    let router = start(config).await;
    let app = Backend::start_with("up", Some(reads_the_body_first(false))).await;
    router.put_app("up", &[app.endpoint()]).await;

    let (status, text, body_sent) = slow_upload(router.http, 15, 1024, Duration::from_millis(100)).await;
    let after_body = body_sent.elapsed();
    assert_eq!(status, 504, "{text}");
    // The router's clock is in milliseconds: allow it to round the deadline down a little.
    assert!(after_body >= Duration::from_millis(900), "504 only {after_body:?} after the body was sent");
    assert!(after_body < Duration::from_secs(60), "504 {after_body:?} after the body: the response timeout is 1s");
    router.stop().await;
}

/// A client that stops in the middle of its body is answered 408 after
/// `timeouts.request_body`, long before the response timeout.
#[tokio::test]
async fn a_client_that_stops_sending_its_body_gets_408() {
    let mut config = common::config();
    config.timeouts.request_body = Duration::from_millis(300);
    config.timeouts.response_header = Duration::from_secs(60);
    let router = start(config).await;
    let app = Backend::start_with("up", Some(reads_the_body_first(true))).await;
    router.put_app("up", &[app.endpoint()]).await;

    let head = format!("POST /upload HTTP/1.1\r\nHost: up.{ZONE}\r\nContent-Length: 1000\r\n\r\n0123456789");
    let reply = raw::exchange(router.http, head.as_bytes(), Duration::from_secs(10)).await;
    assert_eq!(reply.statuses(), [408], "{}", reply.text());
    assert!(reply.text().contains("request_body_timeout") || reply.text().contains("Request timed out"));
    router.stop().await;
}
