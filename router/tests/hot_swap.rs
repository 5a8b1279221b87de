//! Route changes never disturb the traffic they do not concern, and never drop a request
//! of the app they do concern.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use common::{host, start};
use futures_util::{SinkExt, StreamExt};
use slipway_tests::Backend;
use slipway_tests::client::Conn;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

const REQUESTS: usize = 20_000;
const UPDATES: usize = 1_000;
const CLIENTS: usize = 8;

/// At least 20,000 requests over 8 keep-alive clients while 1,000 route updates land: the
/// busy app's endpoint set rotates through three live backends, and other apps come and
/// go. The clients run until the updates are done, and the updates start only once the
/// clients are answered, so every update lands under load; the test checks that it did
/// (the first update after the first answer, the last one before the last request, and
/// requests answered in between).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swap_under_continuous_load_fails_no_request() {
    let router = Arc::new(start(common::config()).await);
    let backends = [Backend::start("b0").await, Backend::start("b1").await, Backend::start("b2").await];
    let endpoints: Vec<String> = backends.iter().map(Backend::endpoint).collect();
    router.put_app("busy", &endpoints[0..2]).await;

    let load = Arc::new(Load::default());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (router, load) = (router.clone(), load.clone());
            tokio::spawn(async move {
                let mut conn = Conn::open(router.http).await;
                loop {
                    // A client stops after a request sent once the updates were done.
                    let finishing = load.updates_done.load(Ordering::Acquire);
                    load.last_sent.fetch_max(load.now(), Ordering::Relaxed);
                    match conn.get(&host("busy"), "/").await {
                        Ok(reply) if reply.status == 200 => {}
                        Ok(reply) => load.failures.lock().unwrap().push(format!("{}: {}", reply.status, reply.text())),
                        Err(e) => {
                            load.failures.lock().unwrap().push(format!("client error: {e}"));
                            conn = Conn::open(router.http).await;
                        }
                    }
                    if load.answered() >= REQUESTS && finishing {
                        break;
                    }
                }
            })
        })
        .collect();

    // Start updating once the clients are being answered.
    let answered_before_first_update = *load.answers.subscribe().wait_for(|n| *n >= CLIENTS).await.unwrap();
    let first_update = load.now();
    // Rotate the busy app over two of the three backends and churn other apps, while
    // the clients run.
    for i in 0..UPDATES {
        match i % 4 {
            0 | 2 => {
                let pair = [endpoints[i % 3].clone(), endpoints[(i + 1) % 3].clone()];
                router.put_app("busy", &pair).await;
            }
            1 => {
                router.put_app(&format!("other-{i}"), &[endpoints[i % 3].clone()]).await;
            }
            _ => {
                let reply = router.admin("DELETE", &format!("/v1/routes/other-{}", i - 2), None).await;
                assert_eq!(reply.status, 200, "{}", reply.text());
            }
        }
    }
    let last_update = load.now();
    let answered_before_last_update = *load.answers.borrow();
    load.updates_done.store(true, Ordering::Release);
    for client in clients {
        client.await.unwrap();
    }

    let failures = std::mem::take(&mut *load.failures.lock().unwrap());
    let total = *load.answers.borrow();
    assert!(
        failures.is_empty(),
        "{} of {total} requests failed, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    // The updates overlapped the load: the first came after requests were answered, the
    // last before requests were sent, and many requests were answered in between.
    let first_answer = load.first_answer.load(Ordering::Relaxed);
    let last_sent = load.last_sent.load(Ordering::Relaxed);
    assert!(first_answer < first_update, "first answer at {first_answer} µs, first update at {first_update} µs");
    assert!(last_update < last_sent, "last update at {last_update} µs, last request sent at {last_sent} µs");
    let during = answered_before_last_update - answered_before_first_update;
    assert!(during >= UPDATES / 10, "only {during} requests answered while {UPDATES} updates landed");
    assert!(total >= REQUESTS, "{total} requests");
    let served: usize = backends.iter().map(Backend::hits).sum();
    assert_eq!(served, total);
    for b in &backends {
        assert!(b.hits() > 0, "{} never served", b.name());
    }
    assert!(router.metric("slipway_router_route_table_version") >= UPDATES as f64);
    Arc::into_inner(router).unwrap().stop().await;
}

/// What the load's clients record, in microseconds since the load began.
struct Load {
    began: Instant,
    /// Requests answered (200 or not).
    answers: watch::Sender<usize>,
    first_answer: AtomicU64,
    last_sent: AtomicU64,
    updates_done: AtomicBool,
    failures: std::sync::Mutex<Vec<String>>,
}

impl Default for Load {
    fn default() -> Load {
        Load {
            began: Instant::now(),
            answers: watch::Sender::new(0),
            first_answer: AtomicU64::new(u64::MAX),
            last_sent: AtomicU64::new(0),
            updates_done: AtomicBool::new(false),
            failures: std::sync::Mutex::new(Vec::new()),
        }
    }
}

impl Load {
    fn now(&self) -> u64 {
        u64::try_from(self.began.elapsed().as_micros()).unwrap()
    }

    /// Counts an answer; returns how many there were.
    fn answered(&self) -> usize {
        self.first_answer.fetch_min(self.now(), Ordering::Relaxed);
        let mut count = 0;
        self.answers.send_modify(|n| {
            *n += 1;
            count = *n;
        });
        count
    }
}

/// Open WebSockets keep echoing while 1,000 updates go to other apps and to their own
/// app's other endpoints (including taking their own endpoint out of the set and back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_websockets_survive_a_thousand_route_updates() {
    let router = start(common::config()).await;
    let (w1, w2, w3) = (Backend::start("w1").await, Backend::start("w2").await, Backend::start("w3").await);
    let other = Backend::start("other").await;
    let ws_routes = |endpoints: &[String]| {
        serde_json::json!({ "endpoints": endpoints, "options": { "balance": "round_robin" } }).to_string()
    };
    router.put_app_json("ws", &ws_routes(&[w1.endpoint(), w2.endpoint()])).await;

    let mut sockets = Vec::new();
    for _ in 0..6 {
        let url = format!("ws://{}/ws", router.http);
        let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
        request.headers_mut().insert("host", host("ws").parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        sockets.push(ws);
    }
    // Round-robin: both endpoints carry three sockets.
    assert_eq!((w1.hits(), w2.hits()), (3, 3));

    for i in 0..UPDATES {
        match i % 5 {
            0 => router.put_app_json("ws", &ws_routes(&[w1.endpoint(), w2.endpoint(), w3.endpoint()])).await,
            1 => router.put_app_json("ws", &ws_routes(&[w1.endpoint(), w2.endpoint()])).await,
            2 => router.put_app_json("ws", &ws_routes(&[w3.endpoint()])).await,
            3 => router.put_app(&format!("app-{i}"), &[other.endpoint()]).await,
            _ => router.put_app_json("ws", &ws_routes(&[w2.endpoint(), w1.endpoint()])).await,
        };
        if i % 100 == 0 {
            for (n, ws) in sockets.iter_mut().enumerate() {
                let text = format!("update {i} socket {n}");
                ws.send(Message::text(text.clone())).await.unwrap();
                assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(text));
            }
        }
    }
    for (n, ws) in sockets.iter_mut().enumerate() {
        ws.send(Message::text(format!("final {n}"))).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(format!("final {n}")));
    }
    assert_eq!(router.metric("slipway_router_open_tunnels"), 6.0);
    drop(sockets);
    router.stop().await;
}
