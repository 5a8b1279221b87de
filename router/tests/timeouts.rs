//! Slow upstreams, slow clients and idle connections.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{ZONE, start};
use slipway_tests::client::Conn;
use slipway_tests::{Backend, raw};
use tokio::io::AsyncWriteExt;

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
