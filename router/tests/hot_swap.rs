//! Route changes never disturb the traffic they do not concern, and never drop a request
//! of the app they do concern.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{host, start};
use futures_util::{SinkExt, StreamExt};
use slipway_tests::Backend;
use slipway_tests::client::Conn;
use tokio_tungstenite::tungstenite::Message;

const REQUESTS: usize = 20_000;
const UPDATES: usize = 1_000;
const CLIENTS: usize = 8;

/// 20,000 requests over 8 keep-alive clients while 1,000 route updates land: the busy app's
/// endpoint set rotates through three live backends, and other apps come and go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swap_under_continuous_load_fails_no_request() {
    let router = Arc::new(start(common::config()).await);
    let backends = [Backend::start("b0").await, Backend::start("b1").await, Backend::start("b2").await];
    let endpoints: Vec<String> = backends.iter().map(Backend::endpoint).collect();
    router.put_app("busy", &endpoints[0..2]).await;

    let sent = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (router, sent, failures) = (router.clone(), sent.clone(), failures.clone());
            tokio::spawn(async move {
                let mut conn = Conn::open(router.http).await;
                while sent.fetch_add(1, Ordering::Relaxed) < REQUESTS {
                    match conn.get(&host("busy"), "/").await {
                        Ok(reply) if reply.status == 200 => {}
                        Ok(reply) => failures.lock().unwrap().push(format!("{}: {}", reply.status, reply.text())),
                        Err(e) => {
                            failures.lock().unwrap().push(format!("client error: {e}"));
                            conn = Conn::open(router.http).await;
                        }
                    }
                }
            })
        })
        .collect();

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
    for client in clients {
        client.await.unwrap();
    }
    let failures = std::mem::take(&mut *failures.lock().unwrap());
    assert!(
        failures.is_empty(),
        "{} of {REQUESTS} requests failed, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let served: usize = backends.iter().map(Backend::hits).sum();
    assert_eq!(served, REQUESTS);
    for b in &backends {
        assert!(b.hits() > 0, "{} never served", b.name());
    }
    assert!(router.metric("slipway_router_route_table_version") >= UPDATES as f64);
    Arc::into_inner(router).unwrap().stop().await;
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
