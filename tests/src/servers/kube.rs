//! A stand-in for a Kubernetes API server (none can be installed here), speaking the wire
//! protocol of the real one closely enough that kube-rs's watchers cannot tell, for the
//! four kinds the router watches: Ingresses and IngressClasses (`networking.k8s.io/v1`),
//! Services (`v1`) and EndpointSlices (`discovery.k8s.io/v1`). Shapes follow the
//! Kubernetes API reference and its "API concepts" page (efficient detection of changes,
//! watch bookmarks, 410 Gone).
//!
//! What it implements, over HTTP/1.1 on a free loopback port (no TLS, no auth):
//! - the real paths, cluster-wide (`/apis/networking.k8s.io/v1/ingresses`,
//!   `/api/v1/services`, ...) and namespaced (`.../namespaces/{ns}/ingresses`);
//!   IngressClasses are cluster-scoped; `GET /version`;
//! - **list**: a `<Kind>List` with `metadata.resourceVersion` (the store's current
//!   version), items without `kind`/`apiVersion` as the real server sends them, sorted by
//!   namespace/name, paged by `limit` with a `continue` token;
//! - **watch** (`?watch=true&resourceVersion=N`): HTTP 200, newline-delimited
//!   `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":...}` events in chunks: every
//!   change after N from the history, then live ones; without N (or `0`) synthetic `ADDED`
//!   events for what exists first. `allowWatchBookmarks=true` adds a `BOOKMARK` (an object
//!   of the kind with only `metadata.resourceVersion`) whenever the stream is idle for the
//!   bookmark interval. `timeoutSeconds` ends the stream. A version older than the
//!   compacted history gets one `ERROR` event holding a `Status` with `code: 410`, reason
//!   `Expired`, and the stream ends, as a real server does;
//! - `labelSelector`: `k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-joined (no set syntax);
//! - one resourceVersion counter shared by all kinds (as etcd's revision is);
//! - an outage switch: while unavailable every connection (new or kept alive) is closed
//!   at once and open watches end, which clients see as connection errors.
//!
//! Not implemented: writes over HTTP (tests change objects with [`KubeApi::apply`] and
//! [`KubeApi::delete`]), field selectors, `resourceVersionMatch`, streaming lists, protobuf,
//! server-side apply.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};

/// A kind the stand-in serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KubeKind {
    /// `networking.k8s.io/v1` Ingress.
    Ingress,
    /// `networking.k8s.io/v1` IngressClass (cluster-scoped).
    IngressClass,
    /// `v1` Service.
    Service,
    /// `discovery.k8s.io/v1` EndpointSlice.
    EndpointSlice,
}

impl KubeKind {
    const ALL: [KubeKind; 4] = [KubeKind::Ingress, KubeKind::IngressClass, KubeKind::Service, KubeKind::EndpointSlice];

    fn kind(self) -> &'static str {
        match self {
            KubeKind::Ingress => "Ingress",
            KubeKind::IngressClass => "IngressClass",
            KubeKind::Service => "Service",
            KubeKind::EndpointSlice => "EndpointSlice",
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            KubeKind::Ingress | KubeKind::IngressClass => "networking.k8s.io/v1",
            KubeKind::Service => "v1",
            KubeKind::EndpointSlice => "discovery.k8s.io/v1",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            KubeKind::Ingress => "ingresses",
            KubeKind::IngressClass => "ingressclasses",
            KubeKind::Service => "services",
            KubeKind::EndpointSlice => "endpointslices",
        }
    }

    fn namespaced(self) -> bool {
        self != KubeKind::IngressClass
    }

    /// `/api/v1` or `/apis/<group>/<version>`.
    fn prefix(self) -> String {
        match self.api_version() {
            "v1" => "/api/v1".to_owned(),
            group => format!("/apis/{group}"),
        }
    }
}

/// One change, as kept in the history and sent to watches.
#[derive(Debug, Clone)]
struct Record {
    rv: u64,
    kind: KubeKind,
    kind_event: &'static str,
    object: Value,
}

#[derive(Debug, Default)]
struct Store {
    rv: u64,
    objects: BTreeMap<(KubeKind, String, String), Value>,
    history: Vec<Arc<Record>>,
    /// Watches from a version below this get 410 Gone.
    compacted: u64,
    lists: HashMap<KubeKind, usize>,
    watches: HashMap<KubeKind, usize>,
    uid: u64,
}

#[derive(Debug)]
struct State {
    store: Mutex<Store>,
    events: broadcast::Sender<Arc<Record>>,
    available: watch::Sender<bool>,
    /// Raised to end every open watch (a dropped watch connection, an outage).
    cut: watch::Sender<u64>,
    /// Raised at each outage: every open connection is closed.
    outages: watch::Sender<u64>,
    bookmark_every: Duration,
}

/// The stand-in API server; stops when dropped.
#[derive(Debug)]
pub struct KubeApi {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        self.task.abort();
        self.state.available.send_replace(false);
    }
}

impl KubeApi {
    /// Starts one on a free loopback port, with a bookmark after each second of silence.
    pub async fn start() -> KubeApi {
        KubeApi::start_with(Duration::from_secs(1)).await
    }

    /// Starts one sending bookmarks after `bookmark_every` of silence on a watch.
    pub async fn start_with(bookmark_every: Duration) -> KubeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            store: Mutex::new(Store::default()),
            events: broadcast::channel(4096).0,
            available: watch::Sender::new(true),
            cut: watch::Sender::new(0),
            outages: watch::Sender::new(0),
            bookmark_every,
        });
        let accept = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                if !*accept.available.borrow() {
                    drop(stream);
                    continue;
                }
                let state = accept.clone();
                tokio::spawn(async move {
                    let mut outages = state.outages.subscribe();
                    let svc_state = state.clone();
                    let service = service_fn(move |req| {
                        let state = svc_state.clone();
                        async move { Ok::<_, Infallible>(handle(state, req)) }
                    });
                    let conn =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = conn => {}
                        _ = outages.changed() => {}
                    }
                });
            }
        });
        KubeApi { addr, state, task }
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates or replaces an object (its `metadata.namespace` defaults to `default` for
    /// namespaced kinds); returns its new resourceVersion.
    pub fn apply(&self, kind: KubeKind, object: Value) -> u64 {
        self.apply_all(vec![(kind, object)])
    }

    /// Applies several objects at once, one resourceVersion each, all sent to watches
    /// back to back (a burst); returns the last resourceVersion.
    pub fn apply_all(&self, objects: Vec<(KubeKind, Value)>) -> u64 {
        let mut store = self.state.store.lock().unwrap();
        for (kind, mut object) in objects {
            let meta = object.as_object_mut().unwrap().entry("metadata").or_insert_with(|| json!({}));
            let name = meta["name"].as_str().expect("objects need metadata.name").to_owned();
            let namespace = if kind.namespaced() {
                let ns = meta.get("namespace").and_then(Value::as_str).unwrap_or("default").to_owned();
                meta["namespace"] = json!(ns);
                ns
            } else {
                String::new()
            };
            let key = (kind, namespace, name);
            store.rv += 1;
            let rv = store.rv;
            let (event, uid) = match store.objects.get(&key) {
                Some(old) => ("MODIFIED", old["metadata"]["uid"].clone()),
                None => {
                    store.uid += 1;
                    ("ADDED", json!(format!("00000000-0000-4000-8000-{:012x}", store.uid)))
                }
            };
            meta["resourceVersion"] = json!(rv.to_string());
            meta["uid"] = uid;
            meta.as_object_mut().unwrap().entry("creationTimestamp").or_insert(json!("2026-12-01T00:00:00Z"));
            object["kind"] = json!(kind.kind());
            object["apiVersion"] = json!(kind.api_version());
            store.objects.insert(key, object.clone());
            self.record(&mut store, Record { rv, kind, kind_event: event, object });
        }
        store.rv
    }

    /// Deletes an object (namespace `""` for cluster-scoped kinds); returns the new
    /// resourceVersion. Panics if there is none.
    pub fn delete(&self, kind: KubeKind, namespace: &str, name: &str) -> u64 {
        let mut store = self.state.store.lock().unwrap();
        let mut object = store.objects.remove(&(kind, namespace.to_owned(), name.to_owned())).expect("no such object");
        store.rv += 1;
        let rv = store.rv;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.record(&mut store, Record { rv, kind, kind_event: "DELETED", object });
        rv
    }

    fn record(&self, store: &mut Store, record: Record) {
        let record = Arc::new(record);
        store.history.push(record.clone());
        // Sent under the lock: watches see changes in resourceVersion order.
        let _ = self.state.events.send(record);
    }

    /// Forgets the history up to now: a watch resuming from an older resourceVersion gets
    /// `410 Gone` and must list again.
    pub fn compact(&self) {
        let mut store = self.state.store.lock().unwrap();
        store.compacted = store.rv;
        store.history.clear();
    }

    /// Ends every open watch (their connections stay up); clients watch again.
    pub fn drop_watches(&self) {
        self.state.cut.send_modify(|n| *n += 1);
    }

    /// Takes the server down (every connection closed, new ones refused at accept) or
    /// brings it back.
    pub fn set_available(&self, up: bool) {
        if !up {
            // Counters, not the flag: a watch task that runs only after the server is back
            // up still sees that an outage came between.
            self.state.outages.send_modify(|n| *n += 1);
            self.state.cut.send_modify(|n| *n += 1);
        }
        self.state.available.send_replace(up);
    }

    /// How many lists of `kind` were served.
    pub fn lists(&self, kind: KubeKind) -> usize {
        self.state.store.lock().unwrap().lists.get(&kind).copied().unwrap_or(0)
    }

    /// How many watches of `kind` were opened.
    pub fn watches(&self, kind: KubeKind) -> usize {
        self.state.store.lock().unwrap().watches.get(&kind).copied().unwrap_or(0)
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(value.to_string())).boxed())
        .unwrap()
}

/// A `Status` object, the body of API errors and of watch `ERROR` events.
fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

/// The kind and namespace a path names.
fn route(path: &str) -> Option<(KubeKind, Option<String>)> {
    KubeKind::ALL.iter().find_map(|&kind| {
        let rest = path.strip_prefix(&kind.prefix())?.strip_prefix('/')?;
        if rest == kind.plural() {
            return Some((kind, None));
        }
        let (namespace, plural) = rest.strip_prefix("namespaces/")?.split_once('/')?;
        (kind.namespaced() && plural == kind.plural() && !namespace.is_empty())
            .then(|| (kind, Some(namespace.to_owned())))
    })
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query(req: &Request<Incoming>) -> HashMap<String, String> {
    req.uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Whether `object`'s labels satisfy `selector` (equality and existence terms).
fn selects(selector: &str, object: &Value) -> bool {
    let labels = &object["metadata"]["labels"];
    selector.split(',').map(str::trim).filter(|t| !t.is_empty()).all(|term| {
        let label = |k: &str| labels.get(k.trim()).and_then(Value::as_str);
        if let Some((k, v)) = term.split_once("!=") {
            label(k) != Some(v.trim())
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            label(k) == Some(v.trim())
        } else if let Some(k) = term.strip_prefix('!') {
            label(k).is_none()
        } else {
            label(term).is_some()
        }
    })
}

fn matches(kind: KubeKind, namespace: &Option<String>, selector: &str, record_kind: KubeKind, object: &Value) -> bool {
    record_kind == kind
        && namespace.as_deref().is_none_or(|ns| object["metadata"]["namespace"].as_str() == Some(ns))
        && selects(selector, object)
}

fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    if req.method() != http::Method::GET {
        return json_response(StatusCode::METHOD_NOT_ALLOWED, &status(405, "MethodNotAllowed", "read-only stand-in"));
    }
    if req.uri().path() == "/version" {
        let info = json!({"major": "1", "minor": "37", "gitVersion": "v1.37.0-slipway-stand-in",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-12-01T00:00:00Z", "goVersion": "go1.25", "compiler": "gc", "platform": "linux/amd64"});
        return json_response(StatusCode::OK, &info);
    }
    let Some((kind, namespace)) = route(req.uri().path()) else {
        let message = format!("the server could not find the requested resource ({})", req.uri().path());
        return json_response(StatusCode::NOT_FOUND, &status(404, "NotFound", &message));
    };
    let params = query(&req);
    let selector = params.get("labelSelector").cloned().unwrap_or_default();
    if params.get("watch").is_some_and(|w| w == "true" || w == "1") {
        return watch_response(state, kind, namespace, selector, &params);
    }
    let mut store = state.store.lock().unwrap();
    *store.lists.entry(kind).or_default() += 1;
    let offset: usize = params.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
    let limit: usize = params.get("limit").and_then(|l| l.parse().ok()).filter(|l| *l > 0).unwrap_or(usize::MAX);
    let all: Vec<Value> = store
        .objects
        .iter()
        .filter(|((k, _, _), object)| matches(kind, &namespace, &selector, *k, object))
        .map(|(_, object)| {
            let mut item = object.clone();
            let map = item.as_object_mut().unwrap();
            map.remove("kind");
            map.remove("apiVersion");
            item
        })
        .collect();
    let items: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
    let mut metadata = json!({"resourceVersion": store.rv.to_string()});
    if offset.saturating_add(limit) < all.len() {
        metadata["continue"] = json!((offset + limit).to_string());
    }
    let list = json!({"kind": format!("{}List", kind.kind()), "apiVersion": kind.api_version(),
                      "metadata": metadata, "items": items});
    json_response(StatusCode::OK, &list)
}

fn watch_response(
    state: Arc<State>,
    kind: KubeKind,
    namespace: Option<String>,
    selector: String,
    params: &HashMap<String, String>,
) -> Response<Body> {
    let from: Option<u64> = params.get("resourceVersion").and_then(|v| v.parse().ok()).filter(|v| *v != 0);
    let bookmarks = params.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let timeout = params.get("timeoutSeconds").and_then(|t| t.parse().ok()).map(Duration::from_secs);
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(256);
    let line = |event: &str, object: &Value| {
        let mut text = json!({"type": event, "object": object}).to_string();
        text.push('\n');
        Ok(Frame::data(Bytes::from(text)))
    };
    // Under the store lock: what to replay, and a subscription that misses nothing after it.
    let (backlog, mut live, mut last) = {
        let mut store = state.store.lock().unwrap();
        *store.watches.entry(kind).or_default() += 1;
        let live = state.events.subscribe();
        match from {
            Some(rv) if rv < store.compacted => {
                let message = format!("too old resource version: {rv} ({})", store.compacted);
                let event = line("ERROR", &status(410, "Expired", &message));
                let _ = tx.try_send(event);
                drop(tx);
                return stream_response(rx);
            }
            Some(rv) => {
                let backlog: Vec<(&'static str, Value)> = store
                    .history
                    .iter()
                    .filter(|r| r.rv > rv && matches(kind, &namespace, &selector, r.kind, &r.object))
                    .map(|r| (r.kind_event, r.object.clone()))
                    .collect();
                (backlog, live, store.rv.max(rv))
            }
            None => {
                let backlog = store
                    .objects
                    .iter()
                    .filter(|((k, _, _), object)| matches(kind, &namespace, &selector, *k, object))
                    .map(|(_, object)| ("ADDED", object.clone()))
                    .collect();
                (backlog, live, store.rv)
            }
        }
    };
    let mut cut = state.cut.subscribe();
    tokio::spawn(async move {
        for (event, object) in backlog {
            if tx.send(line(event, &object)).await.is_err() {
                return;
            }
        }
        let ends = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(ends);
        loop {
            let idle = tokio::time::sleep(state.bookmark_every);
            tokio::select! {
                biased;
                // First: after a cut or an outage nothing more goes out, even on a
                // connection not closed yet.
                _ = cut.changed() => return,
                record = live.recv() => match record {
                    Ok(record) if record.rv > last => {
                        last = record.rv;
                        if matches(kind, &namespace, &selector, record.kind, &record.object)
                            && tx.send(line(record.kind_event, &record.object)).await.is_err()
                        {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // Fell behind or the server stops: end the watch; the client resumes.
                    Err(_) => return,
                },
                () = &mut ends => return,
                () = idle, if bookmarks => {
                    // Only with nothing queued: every change up to the store's version was sent.
                    let rv = {
                        let store = state.store.lock().unwrap();
                        live.is_empty().then_some(store.rv)
                    };
                    if let Some(rv) = rv {
                        last = last.max(rv);
                        let object = json!({"kind": kind.kind(), "apiVersion": kind.api_version(),
                                            "metadata": {"resourceVersion": last.to_string()}});
                        if tx.send(line("BOOKMARK", &object)).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
    stream_response(rx)
}

fn stream_response(rx: mpsc::Receiver<Result<Frame<Bytes>, Infallible>>) -> Response<Body> {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .unwrap()
}
