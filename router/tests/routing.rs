//! Routing by host, forwarding headers, streaming and protocols, through a real router
//! to real backends.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{ZONE, host, start};
use futures_util::{SinkExt, StreamExt};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use slipway_tests::backend::{AnyBody, Handler};
use slipway_tests::{Backend, raw};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn routes_by_zone_name_and_by_custom_host() {
    let router = start(common::config()).await;
    let (shop, blog) = (Backend::start("shop").await, Backend::start("blog").await);
    router.put_app("shop", &[shop.endpoint()]).await;
    let body = serde_json::json!({ "hosts": ["blog.example.com"], "endpoints": [blog.endpoint()] }).to_string();
    router.put_app_json("blog", &body).await;

    let reply = router.get("shop", "/cart").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["backend"], "shop");
    assert_eq!(reply.json()["path"], "/cart");
    assert_eq!(router.get("blog", "/").await.json()["backend"], "blog");
    // Custom host, with upper case and a port: normalised.
    let reply = slipway_tests::get(router.http, "Blog.Example.COM:8080", "/post").await;
    assert_eq!(reply.json()["backend"], "blog");
    // The original Host reaches the app.
    assert_eq!(reply.json()["headers"]["host"], "Blog.Example.COM:8080");
    assert_eq!(shop.hits(), 1);
    assert_eq!(blog.hits(), 2);
    router.stop().await;
}

#[tokio::test]
async fn unknown_host_is_404_as_html_or_json_without_internal_details() {
    let router = start(common::config()).await;
    let reply = router.get("nope", "/").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(reply.text().contains("No such app"));
    let id = reply.headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(reply.text().contains(&id), "the page shows the request id");

    let req = Request::get("/").header("host", host("nope")).header("accept", "application/json");
    let reply = slipway_tests::send(router.http, req.body(Default::default()).unwrap()).await.unwrap();
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"]["code"], "unknown_host");

    // The zone apex and deeper names are not apps either.
    assert_eq!(slipway_tests::get(router.http, ZONE, "/").await.status, 404);
    assert_eq!(slipway_tests::get(router.http, &format!("a.b.{ZONE}"), "/").await.status, 404);
    assert_eq!(router.metric(r#"slipway_router_requests_total{app="-",class="4xx"}"#), 4.0);
    router.stop().await;
}

#[tokio::test]
async fn requests_without_a_usable_host_get_400() {
    let router = start(common::config()).await;
    let limit = Duration::from_secs(5);
    let reply = raw::exchange(router.http, b"GET / HTTP/1.0\r\n\r\n", limit).await;
    assert_eq!(reply.statuses(), [400], "{}", reply.text());
    let reply = raw::exchange(router.http, b"GET / HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n", limit).await;
    assert_eq!(reply.statuses(), [400], "{}", reply.text());
    let two = format!("GET / HTTP/1.1\r\nHost: a.{ZONE}\r\nHost: b.{ZONE}\r\nConnection: close\r\n\r\n");
    let reply = raw::exchange(router.http, two.as_bytes(), limit).await;
    assert_eq!(reply.statuses(), [400], "{}", reply.text());
    router.stop().await;
}

#[tokio::test]
async fn head_requests_keep_the_apps_content_length_and_the_connection_stays_usable() {
    let router = start(common::config()).await;
    let app = Backend::start("app").await;
    router.put_app("app", &[app.endpoint()]).await;
    let mut conn = slipway_tests::client::Conn::open(router.http).await;
    let head = Request::head("/same").header("host", host("app")).body(Default::default()).unwrap();
    let head = conn.send(head).await.unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    // The app's length for the body it would send (its JSON echoes "HEAD"), not 0.
    let length: usize = head.headers["content-length"].to_str().unwrap().parse().unwrap();
    let get = conn.get(&host("app"), "/same").await.unwrap();
    assert_eq!(length, get.body.len() + "HEAD".len() - "GET".len());
    // The same connection (and the pooled upstream one) still works afterwards.
    assert_eq!(conn.get(&host("app"), "/after").await.unwrap().json()["path"], "/after");
    router.stop().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let router = start(common::config()).await;
    let app = Backend::start("app").await;
    router.put_app("app", &[app.endpoint()]).await;
    let mut pipeline = String::new();
    for i in 0..5 {
        pipeline.push_str(&format!("GET /p{i} HTTP/1.1\r\nHost: app.{ZONE}\r\n\r\n"));
    }
    pipeline.push_str(&format!("GET /last HTTP/1.1\r\nHost: app.{ZONE}\r\nConnection: close\r\n\r\n"));
    let reply = raw::exchange(router.http, pipeline.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(reply.statuses(), [200; 6]);
    let text = reply.text();
    let order: Vec<usize> =
        ["/p0", "/p1", "/p2", "/p3", "/p4", "/last"].iter().map(|p| text.find(p).unwrap()).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "responses out of order: {text}");
    router.stop().await;
}

#[tokio::test]
async fn forwarding_headers_are_set_and_hop_by_hop_headers_removed() {
    let router = start(common::config()).await;
    let app = Backend::start("app").await;
    router.put_app("app", &[app.endpoint()]).await;

    let req = Request::get("/x")
        .header("host", host("app"))
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-request-id", "client-chosen-id-0123")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "secret")
        .header("keep-alive", "timeout=5")
        .header("x-forwarded-proto", "https")
        .body(Default::default())
        .unwrap();
    let reply = slipway_tests::send(router.http, req).await.unwrap();
    let headers = &reply.json()["headers"];
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1", "an untrusted client's chain is replaced");
    assert_eq!(headers["x-forwarded-proto"], "http", "the edge sets the scheme it saw");
    assert_eq!(headers["x-forwarded-host"], host("app"));
    assert_eq!(headers["x-forwarded-port"], router.http.port().to_string());
    assert_eq!(headers["x-request-id"], "client-chosen-id-0123");
    for hop in ["x-hop", "keep-alive"] {
        assert!(headers.get(hop).is_none(), "{hop} was forwarded: {headers}");
    }

    let reply = router.get("app", "/").await;
    let id = reply.json()["headers"]["x-request-id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "a generated id: {id}");
    assert_eq!(reply.json()["headers"]["x-forwarded-for"], "127.0.0.1");
    router.stop().await;
}

#[tokio::test]
async fn headers_named_by_every_connection_line_are_removed() {
    let router = start(common::config()).await;
    let app = Backend::start("app").await;
    router.put_app("app", &[app.endpoint()]).await;

    let req = Request::get("/x")
        .header("host", host("app"))
        .header("connection", "x-hop-one")
        .header("connection", "X-Hop-Two")
        .header("x-hop-one", "secret")
        .header("x-hop-two", "secret")
        .header("x-app", "kept")
        .body(Default::default())
        .unwrap();
    let reply = slipway_tests::send(router.http, req).await.unwrap();
    let headers = &reply.json()["headers"];
    for hop in ["x-hop-one", "x-hop-two"] {
        assert!(headers.get(hop).is_none(), "{hop} was forwarded: {headers}");
    }
    assert_eq!(headers["x-app"], "kept");
    router.stop().await;
}

#[tokio::test]
async fn http2_prior_knowledge_requests_are_proxied() {
    let router = start(common::config()).await;
    let app = Backend::start("h2app").await;
    router.put_app("h2app", &[app.endpoint()]).await;

    let stream = tokio::net::TcpStream::connect(router.http).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    for i in 0..3 {
        let uri = format!("http://{}/h2/{i}", host("h2app"));
        let req = Request::get(uri).body(http_body_util::Empty::<Bytes>::new()).unwrap();
        let response = sender.send_request(req).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["path"], format!("/h2/{i}"));
        assert_eq!(json["headers"]["host"], host("h2app"), "HTTP/2 authority becomes the Host");
    }
    router.stop().await;
}

/// A backend that sends one chunk, waits until the test says the client received it,
/// then sends a second. A proxy that buffered the body would never deliver the first.
#[tokio::test]
async fn response_bodies_are_streamed_not_buffered() {
    let router = start(common::config()).await;
    let (go_on, wait) = mpsc::unbounded_channel::<()>();
    let wait = std::sync::Arc::new(tokio::sync::Mutex::new(wait));
    let handler: Handler = std::sync::Arc::new(move |_req| {
        let wait = wait.clone();
        Box::pin(async move {
            let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Box<dyn std::error::Error + Send + Sync>>>(1);
            tokio::spawn(async move {
                tx.send(Ok(Frame::data(Bytes::from_static(b"first")))).await.unwrap();
                wait.lock().await.recv().await;
                tx.send(Ok(Frame::data(Bytes::from_static(b"second")))).await.unwrap();
            });
            let body: AnyBody = BodyExt::boxed(StreamBody::new(tokio_stream(rx)));
            http::Response::new(body)
        })
    });
    let app = Backend::start_with("stream", Some(handler)).await;
    router.put_app("stream", &[app.endpoint()]).await;

    let stream = tokio::net::TcpStream::connect(router.http).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let req = Request::get("/").header("host", host("stream")).body(http_body_util::Empty::<Bytes>::new()).unwrap();
    let mut body = sender.send_request(req).await.unwrap().into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "first");
    go_on.send(()).unwrap();
    let second = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(second, "second");
    router.stop().await;
}

/// The client sends a chunk and waits for its echo before sending the next: only works
/// if the router streams the request body up and the response body down at once.
#[tokio::test]
async fn request_bodies_are_streamed_both_ways() {
    let router = start(common::config()).await;
    let app = Backend::start("echo").await;
    router.put_app("echo", &[app.endpoint()]).await;

    let stream = tokio::net::TcpStream::connect(router.http).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::convert::Infallible>>(1);
    let req = Request::post("/echo").header("host", host("echo")).body(StreamBody::new(tokio_stream(rx))).unwrap();
    let (response_tx, response_rx) = oneshot::channel();
    tokio::spawn(async move {
        let _ = response_tx.send(sender.send_request(req).await);
    });
    tx.send(Ok(Frame::data(Bytes::from_static(b"ping-1")))).await.unwrap();
    let mut body = response_rx.await.unwrap().unwrap().into_body();
    for i in 1..=5 {
        let echoed = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(echoed, format!("ping-{i}"));
        if i < 5 {
            tx.send(Ok(Frame::data(Bytes::from(format!("ping-{}", i + 1))))).await.unwrap();
        }
    }
    drop(tx);
    assert!(body.frame().await.is_none(), "the body ends when the client's ends");
    router.stop().await;
}

#[tokio::test]
async fn websockets_are_tunneled_both_ways() {
    let router = start(common::config()).await;
    let app = Backend::start("ws").await;
    router.put_app("ws", &[app.endpoint()]).await;
    let url = format!("ws://{}/ws", router.http);
    let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
    request.headers_mut().insert("host", host("ws").parse().unwrap());
    let (mut ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    for i in 0..10 {
        ws.send(Message::text(format!("hello {i}"))).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(format!("hello {i}")));
    }
    ws.send(Message::binary(vec![0u8, 1, 2, 255])).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(vec![0u8, 1, 2, 255]));
    assert_eq!(router.metric("slipway_router_open_tunnels"), 1.0);
    ws.close(None).await.unwrap();
    drop(ws);
    router.stop().await;
}

fn tokio_stream<T: Send + 'static>(mut rx: mpsc::Receiver<T>) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
