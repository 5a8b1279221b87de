//! A real HTTP backend: a hyper server on `127.0.0.1:0` that records what it receives.
//!
//! Built-in paths:
//! - anything else: `200`, JSON `{"backend": <name>, "method", "path", "headers": {..}}`;
//! - `/slow/<ms>`: answers after `ms` milliseconds;
//! - `/hold`: waits until [`Backend::release`] lets it go (see [`Backend::wait_held`]);
//! - `/echo`: streams the request body back as the response body;
//! - `/ws`: a WebSocket echo server.
//!
//! Dropping the backend closes its listener *and* every open connection, so it is dead
//! the way a crashed process is.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// A response body of any kind.
pub type AnyBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// A custom request handler.
pub type Handler =
    Arc<dyn Fn(Request<Incoming>) -> futures_util::future::BoxFuture<'static, Response<AnyBody>> + Send + Sync>;

/// A request as the backend saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
}

struct State {
    name: String,
    seen: Mutex<Vec<Seen>>,
    held: watch::Sender<usize>,
    release: Semaphore,
    connections: watch::Sender<usize>,
}

/// A running backend; see the module docs.
pub struct Backend {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Backend {
    /// Starts a backend answering with its built-in paths; responses name it `name`.
    pub async fn start(name: &str) -> Backend {
        Backend::start_with(name, None).await
    }

    /// Starts a backend on a specific address (to bring an endpoint "back to life").
    pub async fn start_on(name: &str, addr: SocketAddr) -> Backend {
        let listener = TcpListener::bind(addr).await.unwrap();
        Backend::serve(name, listener, None)
    }

    /// Starts a backend whose every request goes to `handler` (still recorded).
    pub async fn start_with(name: &str, handler: Option<Handler>) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Backend::serve(name, listener, handler)
    }

    fn serve(name: &str, listener: TcpListener, handler: Option<Handler>) -> Backend {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            name: name.to_owned(),
            seen: Mutex::new(Vec::new()),
            held: watch::Sender::new(0),
            release: Semaphore::new(0),
            connections: watch::Sender::new(0),
        });
        let accept_state = state.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let _ = stream.set_nodelay(true);
                let state = accept_state.clone();
                let handler = handler.clone();
                state.connections.send_modify(|n| *n += 1);
                connections.spawn(async move {
                    let svc_state = state.clone();
                    let service = service_fn(move |req| {
                        let state = svc_state.clone();
                        let handler = handler.clone();
                        async move { Ok::<_, Infallible>(handle(state, handler, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                    state.connections.send_modify(|n| *n -= 1);
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Backend { addr, state, task }
    }

    /// `host:port` of the backend, as an endpoint string.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// The name responses carry.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Number of requests seen so far.
    pub fn hits(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }

    /// Waits until `n` requests to `/hold` are being held.
    pub async fn wait_held(&self, n: usize) {
        let mut rx = self.state.held.subscribe();
        rx.wait_for(|held| *held >= n).await.unwrap();
    }

    /// Lets `n` held requests (present or future) answer.
    pub fn release(&self, n: usize) {
        self.state.release.add_permits(n);
    }

    /// Waits until the backend has exactly `n` open connections.
    pub async fn wait_connections(&self, n: usize) {
        let mut rx = self.state.connections.subscribe();
        rx.wait_for(|open| *open == n).await.unwrap();
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every connection.
        self.task.abort();
    }
}

async fn handle(state: Arc<State>, handler: Option<Handler>, req: Request<Incoming>) -> Response<AnyBody> {
    state.seen.lock().unwrap().push(Seen {
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
        headers: req.headers().clone(),
    });
    if let Some(handler) = handler {
        return handler(req).await;
    }
    let path = req.uri().path().to_owned();
    if let Some(ms) = path.strip_prefix("/slow/") {
        let ms: u64 = ms.parse().unwrap_or(0);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        return text(StatusCode::OK, &format!("slow {}", state.name));
    }
    match path.as_str() {
        "/hold" => {
            state.held.send_modify(|n| *n += 1);
            state.release.acquire().await.unwrap().forget();
            state.held.send_modify(|n| *n -= 1);
            text(StatusCode::OK, &format!("released {}", state.name))
        }
        "/echo" => {
            let body = req.into_body().map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
            Response::new(BoxBody::new(body))
        }
        "/ws" => websocket_echo(req),
        _ => {
            let headers: BTreeMap<String, String> =
                req.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned())).collect();
            let body = serde_json::json!({
                "backend": state.name,
                "method": req.method().as_str(),
                "path": req.uri().path(),
                "query": req.uri().query(),
                "headers": headers,
            });
            let mut response = text(StatusCode::OK, &body.to_string());
            response.headers_mut().insert("content-type", "application/json".parse().unwrap());
            response
        }
    }
}

/// A plain text response.
pub fn text(status: StatusCode, body: &str) -> Response<AnyBody> {
    let body = Full::new(Bytes::from(body.to_owned())).map_err(|never| match never {}).boxed();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

fn websocket_echo(mut req: Request<Incoming>) -> Response<AnyBody> {
    use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
    use tokio_tungstenite::tungstenite::protocol::Role;
    let Some(key) = req.headers().get("sec-websocket-key") else {
        return text(StatusCode::BAD_REQUEST, "not a websocket request");
    };
    let accept = derive_accept_key(key.as_bytes());
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let mut ws =
            tokio_tungstenite::WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        while let Some(Ok(message)) = ws.next().await {
            if message.is_close() {
                break;
            }
            if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                break;
            }
        }
    });
    let mut response = text(StatusCode::SWITCHING_PROTOCOLS, "");
    let headers = response.headers_mut();
    headers.insert("connection", "upgrade".parse().unwrap());
    headers.insert("upgrade", "websocket".parse().unwrap());
    headers.insert("sec-websocket-accept", accept.parse().unwrap());
    response
}
