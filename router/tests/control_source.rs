//! The router following a control plane: route stream (snapshot, changes, resume),
//! activity reports, and waking sleeping apps, also when the control plane hangs. The control plane here is a wire-level
//! stand-in speaking the documented protocol (`slipway_router::spec`); the end-to-end
//! tests in `tests/` run the real one.

#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{eventually, start};
use http::{Request, Response};
use http_body_util::{BodyExt, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use slipway_router::spec::{Activity, AppOptions, AppRoutes, RouteEvent};
use slipway_tests::Backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

type Body = BoxBody<Bytes, Infallible>;

/// A control plane that streams whatever the test sends and records what routers send.
struct FakeControl {
    addr: SocketAddr,
    /// Sender for the currently open route stream (replaced on each connection).
    stream: Arc<Mutex<Option<mpsc::UnboundedSender<String>>>>,
    connections: watch::Sender<Vec<Option<String>>>,
    activity: watch::Sender<Vec<Activity>>,
    wakes: watch::Sender<Vec<String>>,
    /// Refuses activity reports with fields it does not know, as control planes from
    /// before route versions were reported do.
    counts_only: bool,
}

impl FakeControl {
    async fn start() -> Arc<FakeControl> {
        FakeControl::start_with(false).await
    }

    async fn start_with(counts_only: bool) -> Arc<FakeControl> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let control = Arc::new(FakeControl {
            addr: listener.local_addr().unwrap(),
            stream: Arc::default(),
            connections: watch::Sender::new(Vec::new()),
            activity: watch::Sender::new(Vec::new()),
            wakes: watch::Sender::new(Vec::new()),
            counts_only,
        });
        let server = control.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let server = server.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let server = server.clone();
                        async move { Ok::<_, Infallible>(server.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        control
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        assert_eq!(req.headers()["authorization"], "Bearer control-token-0123456789");
        let path = req.uri().path().to_owned();
        if path == "/v1/routes" {
            let resume = req.headers().get("last-event-id").map(|v| v.to_str().unwrap().to_owned());
            let (tx, mut rx) = mpsc::unbounded_channel::<String>();
            *self.stream.lock().unwrap() = Some(tx);
            self.connections.send_modify(|c| c.push(resume));
            let events = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
                .map(|text| Ok::<_, Infallible>(Frame::data(Bytes::from(text))));
            let mut response = Response::new(BodyExt::boxed(StreamBody::new(events)));
            response.headers_mut().insert("content-type", "text/event-stream".parse().unwrap());
            return response;
        }
        let body = req.into_body().collect().await.unwrap().to_bytes();
        if path == "/v1/router/activity" {
            let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&body).unwrap();
            if let Some(unknown) = fields.keys().find(|k| self.counts_only && *k != "apps") {
                let error = format!(
                    r#"{{"error":{{"code":"bad_json","message":"unknown field `{unknown}`, expected `apps`"}}}}"#
                );
                let mut response = Response::new(BodyExt::boxed(http_body_util::Full::new(Bytes::from(error))));
                *response.status_mut() = http::StatusCode::BAD_REQUEST;
                return response;
            }
            let activity: Activity = serde_json::from_slice(&body).unwrap();
            self.activity.send_modify(|a| a.push(activity));
        } else if let Some(app) = path.strip_prefix("/v1/apps/").and_then(|p| p.strip_suffix("/wake")) {
            self.wakes.send_modify(|w| w.push(app.to_owned()));
        } else {
            panic!("unexpected request {path}");
        }
        Response::new(BodyExt::boxed(http_body_util::Full::new(Bytes::from_static(b"{}"))))
    }

    /// Sends one event on the open stream (as SSE).
    fn send(&self, event: &RouteEvent) {
        let text = format!(
            "id: {}\nevent: {}\ndata: {}\n\n",
            event.version(),
            event.kind(),
            serde_json::to_string(event).unwrap()
        );
        self.stream.lock().unwrap().as_ref().expect("a router is connected").send(text).unwrap();
    }

    /// Ends the open stream (the router must reconnect).
    fn drop_stream(&self) {
        self.stream.lock().unwrap().take();
    }

    async fn wait_connections(&self, n: usize) -> Vec<Option<String>> {
        self.connections.subscribe().wait_for(|c| c.len() >= n).await.unwrap().clone()
    }
}

use futures_util::StreamExt;

fn app(name: &str, endpoints: &[String]) -> AppRoutes {
    AppRoutes {
        name: name.into(),
        hosts: vec![],
        endpoints: endpoints.to_vec(),
        dynos: Default::default(),
        paths: Vec::new(),
        options: AppOptions::default(),
    }
}

fn config(control: &FakeControl) -> slipway_router::Config {
    let mut config = common::config();
    config.control.url = Some(format!("http://{}", control.addr));
    config.control.token = Some("control-token-0123456789".into());
    config.control.activity_interval = Duration::from_millis(100);
    config.control.wake_timeout = Duration::from_secs(10);
    config
}

#[tokio::test]
async fn routes_follow_the_stream_and_resume_after_a_disconnect() {
    let control = FakeControl::start().await;
    let router = start(config(&control)).await;
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    assert_eq!(control.wait_connections(1).await, [None], "the first connection asks for everything");
    assert_eq!(router.admin_call("GET", "/readyz", None, None).await.status, 503, "not ready before routes arrive");

    control.send(&RouteEvent::Snapshot { version: 10, apps: vec![app("web", &[a.endpoint()])] });
    eventually("web is routed", async || router.get("web", "/").await.status == 200).await;
    assert_eq!(router.admin_call("GET", "/readyz", None, None).await.status, 200);
    control.send(&RouteEvent::Upsert { version: 11, app: app("web", &[b.endpoint()]) });
    control.send(&RouteEvent::Upsert { version: 12, app: app("api", &[a.endpoint()]) });
    eventually("web moves to b", async || router.get("web", "/").await.json()["backend"] == "b").await;
    assert_eq!(router.get("api", "/").await.status, 200);
    let shown = router.admin("GET", "/v1/routes/api", None).await.json();
    assert_eq!(shown["source"], "control");

    // The stream breaks; the router comes back asking for what it missed.
    control.drop_stream();
    let connections = control.wait_connections(2).await;
    assert_eq!(connections[1].as_deref(), Some("12"));
    control.send(&RouteEvent::Remove { version: 13, name: "api".into() });
    eventually("api is removed", async || router.get("api", "/").await.status == 404).await;

    // A new snapshot replaces what the control plane routed, and leaves other sources alone.
    router.put_app("by-admin", &[a.endpoint()]).await;
    control.send(&RouteEvent::Snapshot { version: 20, apps: vec![app("fresh", &[a.endpoint()])] });
    eventually("web is gone", async || router.get("web", "/").await.status == 404).await;
    assert_eq!(router.get("fresh", "/").await.status, 200);
    assert_eq!(router.get("by-admin", "/").await.status, 200);
    router.stop().await;
}

#[tokio::test]
async fn request_counts_are_reported_to_the_control_plane() {
    let control = FakeControl::start().await;
    let router = start(config(&control)).await;
    let a = Backend::start("a").await;
    control.wait_connections(1).await;
    control.send(&RouteEvent::Snapshot { version: 1, apps: vec![app("busy", &[a.endpoint()]), app("idle", &[])] });
    eventually("busy is routed", async || router.get("busy", "/").await.status == 200).await;
    for _ in 0..4 {
        router.get("busy", "/").await;
    }
    let mut reports = control.activity.subscribe();
    let total = |reports: &[Activity]| reports.iter().filter_map(|r| r.apps.get("busy")).sum::<u64>();
    let reports = reports.wait_for(|r| total(r) >= 5).await.unwrap().clone();
    assert_eq!(total(&reports), 5, "every request counted once: {reports:?}");
    assert!(reports.iter().all(|r| !r.apps.contains_key("idle")), "apps without traffic are left out");
    router.stop().await;
}

/// A router following a control plane whose routes hold one app, `nap`, asleep.
async fn with_sleeping_app(wake_timeout: Duration) -> (Arc<FakeControl>, common::TestRouter) {
    let control = FakeControl::start().await;
    let mut config = config(&control);
    config.control.wake_timeout = wake_timeout;
    let router = start(config).await;
    control.wait_connections(1).await;
    let mut sleeping = app("nap", &[]);
    sleeping.options.sleeping = true;
    control.send(&RouteEvent::Snapshot { version: 1, apps: vec![sleeping] });
    eventually("nap is known", async || router.admin("GET", "/v1/routes/nap", None).await.status == 200).await;
    (control, router)
}

#[tokio::test]
async fn a_sleeping_app_is_woken_by_a_request_that_then_succeeds() {
    let (control, router) = with_sleeping_app(Duration::from_secs(10)).await;

    // The first request is held while the app wakes; then it is served.
    let http = router.http;
    let first = tokio::spawn(async move { slipway_tests::get(http, &common::host("nap"), "/first").await });
    let mut wakes = control.wakes.subscribe();
    wakes.wait_for(|w| w == &["nap".to_owned()]).await.unwrap();
    let backend = Backend::start("woken").await;
    control.send(&RouteEvent::Upsert { version: 2, app: app("nap", &[backend.endpoint()]) });
    let reply = first.await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["path"], "/first");
    router.stop().await;
}

#[tokio::test]
async fn a_sleeping_app_that_does_not_wake_in_time_gets_the_starting_page() {
    let (control, router) = with_sleeping_app(Duration::from_millis(300)).await;
    let started = Instant::now();
    let reply = router.get("nap", "/").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.headers["retry-after"], "5");
    assert!(reply.text().contains("starting"), "{}", reply.text());
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(*control.wakes.borrow(), ["nap"]);
    router.stop().await;
}

#[tokio::test]
async fn a_request_held_for_a_sleeping_app_that_is_removed_gets_the_404_page_at_once() {
    // Far beyond the test's own limit: the request cannot be answered by timing out.
    let (control, router) = with_sleeping_app(Duration::from_secs(3600)).await;

    let http = router.http;
    let held = tokio::spawn(async move { slipway_tests::get(http, &common::host("nap"), "/").await });
    control.wakes.subscribe().wait_for(|w| w == &["nap".to_owned()]).await.unwrap();
    control.send(&RouteEvent::Remove { version: 2, name: "nap".into() });
    let reply = tokio::time::timeout(LIMIT, held).await.expect("the held request is answered at the removal").unwrap();
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert!(reply.text().contains("No such app"), "{}", reply.text());
    router.stop().await;
}

/// Limit for what the router does on its own after a timeout of a few hundred ms.
const LIMIT: Duration = Duration::from_secs(20);

/// The head of an SSE response whose body runs until the connection closes.
const SSE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";

fn sse(event: &RouteEvent) -> Vec<u8> {
    let data = serde_json::to_string(event).unwrap();
    format!("id: {}\nevent: {}\ndata: {data}\n\n", event.version(), event.kind()).into_bytes()
}

/// Reads one request head off a raw connection.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before a whole request head: {:?}", String::from_utf8_lossy(&head));
        head.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(head).unwrap()
}

/// The backend that answered, or "" for the router's own pages (404 before the routes).
fn backend_of(reply: &slipway_tests::Reply) -> String {
    let backend = (reply.status == 200).then(|| reply.json()["backend"].as_str().map(str::to_owned));
    backend.flatten().unwrap_or_default()
}

async fn accept(listener: &TcpListener, what: &str) -> TcpStream {
    let accepted = tokio::time::timeout(LIMIT, listener.accept()).await;
    accepted.unwrap_or_else(|_| panic!("no connection from the router: {what}")).unwrap().0
}

/// The next route stream request (its connection and head): the activity reports the
/// router sends after each applied event, on connections of their own, are answered 204.
async fn accept_stream(listener: &TcpListener, what: &str) -> (TcpStream, String) {
    loop {
        let mut stream = accept(listener, what).await;
        let head = read_head(&mut stream).await;
        if !head.starts_with("POST /v1/router/activity ") {
            return (stream, head);
        }
        stream.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await.unwrap();
    }
}

/// A control plane that accepts the route stream and never answers: after
/// `control.response_timeout` the router closes that connection and connects again, the
/// routes it had serving all along, and it converges once a stream answers.
#[tokio::test]
async fn a_control_plane_that_accepts_and_never_answers_is_left_and_the_router_converges_when_one_answers() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (one, two) = (Backend::start("one").await, Backend::start("two").await);
    let mut config = common::config();
    config.control.url = Some(format!("http://{}", listener.local_addr().unwrap()));
    config.control.response_timeout = Duration::from_millis(300);
    // Only the reports sent after applied events (answered by `accept_stream`).
    config.control.activity_interval = Duration::from_secs(3600);
    let router = start(config).await;

    let (mut first, head) = accept_stream(&listener, "the first route stream").await;
    assert!(head.starts_with("GET /v1/routes?watch=true "), "{head}");
    first.write_all(SSE_HEAD).await.unwrap();
    first
        .write_all(&sse(&RouteEvent::Snapshot { version: 1, apps: vec![app("web", &[one.endpoint()])] }))
        .await
        .unwrap();
    eventually("web is on backend one", async || backend_of(&router.get("web", "/").await) == "one").await;
    drop(first);

    let (mut hung, head) = accept_stream(&listener, "the stream after the first one ended").await;
    let head = head.to_ascii_lowercase();
    assert!(head.contains("\r\nlast-event-id: 1\r\n"), "{head}");
    assert_eq!(router.get("web", "/").await.json()["backend"], "one", "the table serves while the stream hangs");

    let (mut third, head) = accept_stream(&listener, "a new stream after the hung one timed out").await;
    assert!(head.starts_with("GET /v1/routes?watch=true "), "{head}");
    let closed = tokio::time::timeout(LIMIT, hung.read(&mut [0u8; 64])).await.expect("the hung connection is closed");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    third.write_all(SSE_HEAD).await.unwrap();
    third
        .write_all(&sse(&RouteEvent::Snapshot { version: 2, apps: vec![app("web", &[two.endpoint()])] }))
        .await
        .unwrap();
    eventually("web moves to backend two", async || backend_of(&router.get("web", "/").await) == "two").await;
    let timeouts = r#"slipway_router_control_errors_total{call="route_stream",reason="response_timeout"}"#;
    assert!(router.metric(timeouts) >= 1.0, "{}", router.router.as_ref().unwrap().metrics_text());
    router.stop().await;
}

/// Activity reports and wake calls to a control plane that accepts and never answers give
/// up after `control.response_timeout`, close their connections and are counted; the
/// report is sent again, and the held request still gets its 503 at `wake_timeout`.
#[tokio::test]
async fn activity_reports_and_wake_calls_that_get_no_answer_give_up_and_are_counted() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control = listener.local_addr().unwrap();
    // Every connection: read the head, never answer, report the request line and the close.
    let (seen, mut calls) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let head = read_head(&mut stream).await;
                let line = head.lines().next().unwrap_or_default().to_owned();
                let _ = seen.send(line.clone());
                while matches!(stream.read(&mut [0u8; 64]).await, Ok(n) if n > 0) {}
                let _ = seen.send(format!("closed: {line}"));
            });
        }
    });
    let backend = Backend::start("busy").await;
    let mut config = common::config();
    config.control.url = Some(format!("http://{control}"));
    config.control.response_timeout = Duration::from_millis(300);
    config.control.activity_interval = Duration::from_millis(100);
    config.control.wake_timeout = Duration::from_secs(2);
    let router = start(config).await;
    router.put_app("busy", &[backend.endpoint()]).await;
    router.put_app_json("nap", r#"{"options": {"sleeping": true}}"#).await;
    assert_eq!(router.get("busy", "/").await.status, 200);
    let http = router.http;
    let held = tokio::spawn(async move { slipway_tests::get(http, &common::host("nap"), "/").await });

    let (mut reports, mut wake_closed) = (0, false);
    while reports < 2 || !wake_closed {
        let call = tokio::time::timeout(LIMIT, calls.recv()).await;
        let call =
            call.unwrap_or_else(|_| panic!("calls stopped: {reports} activity reports, wake closed {wake_closed}"));
        let call = call.unwrap();
        reports += usize::from(call.starts_with("POST /v1/router/activity "));
        wake_closed |= call.starts_with("closed: POST /v1/apps/nap/wake ");
    }
    for call in ["activity", "wake"] {
        let sample = format!(r#"slipway_router_control_errors_total{{call="{call}",reason="response_timeout"}}"#);
        eventually(&sample, async || router.metric(&sample) >= 1.0).await;
    }
    let reply = held.await.unwrap();
    assert_eq!(reply.status, 503, "{}", reply.text());
    router.stop().await;
}

/// A control plane whose accept queue is full and that never accepts: connecting hangs
/// (the kernel drops the SYNs), so only `control.connect_timeout` ends each attempt.
#[tokio::test]
async fn a_control_plane_that_never_completes_a_connection_times_out_the_connect_and_is_retried() {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let control = listener.local_addr().unwrap();
    // Backlog 0 queues one connection (Linux): this one fills the queue; a second one, left
    // pending, fills it on a kernel that queues one more.
    let _filler = TcpStream::connect(control).await.unwrap();
    let second = tokio::spawn(TcpStream::connect(control));
    let mut config = common::config();
    config.control.url = Some(format!("http://{control}"));
    config.control.connect_timeout = Duration::from_millis(200);
    let router = start(config).await;
    let sample = r#"slipway_router_control_errors_total{call="route_stream",reason="connect_timeout"}"#;
    eventually("two connect attempts timed out", async || router.metric(sample) >= 2.0).await;
    assert!(router.metric("slipway_router_control_reconnects_total") >= 2.0);
    assert_eq!(router.admin_call("GET", "/readyz", None, None).await.status, 503, "never synced");
    second.abort();
    drop(listener);
    router.stop().await;
}

#[tokio::test]
async fn the_router_reports_its_id_and_the_route_version_it_applied_at_once() {
    let control = FakeControl::start().await;
    let mut config = config(&control);
    // Far above the test's span: reports that come are the ones applied events trigger.
    config.control.activity_interval = Duration::from_secs(3600);
    let router = start(config).await;
    control.wait_connections(1).await;
    let reports = control.activity.subscribe();
    control.send(&RouteEvent::Snapshot { version: 7, apps: vec![] });
    let report = |version| {
        let mut reports = reports.clone();
        async move {
            let reported = reports.wait_for(|r| r.iter().any(|a| a.routes_version == Some(version)));
            tokio::time::timeout(Duration::from_secs(30), reported)
                .await
                .expect("a report names the version")
                .unwrap()
                .clone()
        }
    };
    let first = report(7).await;
    let id = first.last().unwrap().router.clone().expect("the router names itself");
    assert!(slipway_router::spec::check_router_id(&id).is_ok(), "{id}");
    control.send(&RouteEvent::Upsert { version: 8, app: app("web", &[]) });
    let next = report(8).await;
    assert!(next.iter().all(|a| a.router.as_deref() == Some(id.as_str())), "one id per router: {next:?}");
    router.stop().await;
}

#[tokio::test]
async fn a_control_plane_that_refuses_route_versions_still_gets_request_counts() {
    let control = FakeControl::start_with(true).await;
    let router = start(config(&control)).await;
    let a = Backend::start("a").await;
    control.wait_connections(1).await;
    control.send(&RouteEvent::Snapshot { version: 1, apps: vec![app("busy", &[a.endpoint()])] });
    eventually("busy is routed", async || router.get("busy", "/").await.status == 200).await;
    let mut reports = control.activity.subscribe();
    let counted = reports.wait_for(|r| r.iter().any(|a| a.apps.contains_key("busy")));
    let counted =
        tokio::time::timeout(Duration::from_secs(30), counted).await.expect("the counts arrive").unwrap().clone();
    assert!(counted.iter().all(|a| a.router.is_none() && a.routes_version.is_none()), "{counted:?}");
    router.stop().await;
}
