//! The HTTPS listener: SNI certificate choice, reloads, HTTP/1.1 and HTTP/2 over TLS,
//! WebSockets over TLS, resumption, old protocol versions, redirects and HSTS, the
//! on-demand seam, the listing and the metrics. A test CA (rcgen) issues every certificate.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls::sign::CertifiedKey;
use slipway_router::config::{CertificateFiles, PemFiles, ZoneTls};
use slipway_router::tls::{Certificate, ObtainError, Obtaining, OnDemand};
use slipway_router::{Config, Router};
use slipway_tests::Backend;
use slipway_tests::tls::{Issued, TestCa, connect, get_h1, get_h2, h2, install_provider, presented};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use common::{TestRouter, ZONE, eventually, host};

const H1: &[&[u8]] = &[b"http/1.1"];

/// A router config with the HTTPS listener on a free port.
fn https_config() -> Config {
    install_provider();
    let mut config = common::config();
    config.listen.https = Some("127.0.0.1:0".parse().unwrap());
    config
}

/// [`https_config`] with one certificate of `ca` for `*.<ZONE>` (written in `dir`).
fn wildcard_config(ca: &TestCa, dir: &std::path::Path) -> Config {
    let mut config = https_config();
    let wildcard = format!("*.{ZONE}");
    config.tls.certificates = vec![files(&ca.issue(&[&wildcard]), dir, "wild", &[&wildcard])];
    config
}

fn files(issued: &Issued, dir: &std::path::Path, stem: &str, hosts: &[&str]) -> CertificateFiles {
    let (cert, key) = issued.write(dir, stem);
    CertificateFiles { hosts: hosts.iter().map(|h| (*h).to_owned()).collect(), cert, key }
}

async fn start(config: Config) -> (TestRouter, std::net::SocketAddr) {
    let router = common::start(config).await;
    let https = router.router.as_ref().unwrap().https_addr().unwrap();
    (router, https)
}

/// Waits until a metric sample reaches `at_least`: the router counts a handshake just
/// after the client has seen its outcome.
async fn counted(router: &TestRouter, sample: &str, at_least: f64) {
    eventually(sample, async || router.metric(sample) >= at_least).await;
}

/// The leaf a handshake for `sni` is served with, or the handshake error.
async fn served(
    addr: std::net::SocketAddr,
    ca: &TestCa,
    sni: &str,
) -> std::io::Result<rustls::pki_types::CertificateDer<'static>> {
    connect(addr, ca.client(H1), sni).await.map(|s| presented(&s))
}

#[tokio::test]
async fn sni_picks_the_exact_host_over_the_wildcard_and_the_wildcard_for_other_apps() {
    let ca = TestCa::new("test ca");
    let dir = tempfile::tempdir().unwrap();
    let wildcard = ca.issue(&[&format!("*.{ZONE}")]);
    let exact = ca.issue(&[&host("shop")]);
    let mut config = https_config();
    config.tls.certificates = vec![
        files(&wildcard, dir.path(), "wild", &[&format!("*.{ZONE}")]),
        files(&exact, dir.path(), "shop", &[&host("shop")]),
    ];
    let (router, https) = start(config).await;
    assert_eq!(served(https, &ca, &host("shop")).await.unwrap(), exact.leaf);
    assert_eq!(served(https, &ca, &host("blog")).await.unwrap(), wildcard.leaf);
    // SNI is case-insensitive.
    assert_eq!(served(https, &ca, &host("SHOP")).await.unwrap(), exact.leaf);
    counted(&router, r#"slipway_router_tls_handshakes_total{result="ok",version="TLSv1_3"}"#, 3.0).await;
    router.stop().await;
}

#[tokio::test]
async fn the_wildcard_matches_exactly_one_label_and_unknown_names_get_the_default() {
    let ca = TestCa::new("test ca");
    let dir = tempfile::tempdir().unwrap();
    let wildcard = ca.issue(&[&format!("*.{ZONE}")]);
    let others = [format!("a.b.{ZONE}"), ZONE.to_owned(), "unknown.example".to_owned()];
    let default = ca.issue(&others.iter().map(String::as_str).collect::<Vec<_>>());
    let mut config = https_config();
    config.tls.certificates = vec![files(&wildcard, dir.path(), "wild", &[&format!("*.{ZONE}")])];
    let (cert, key) = default.write(dir.path(), "default");
    config.tls.default_certificate = Some(PemFiles { cert, key });
    let (router, https) = start(config).await;
    // `a.b.zone` is not `*.zone`: it gets the default certificate, as do the zone itself
    // and a name outside every zone.
    for sni in &others {
        assert_eq!(served(https, &ca, sni).await.unwrap(), default.leaf, "{sni}");
    }
    assert_eq!(served(https, &ca, &host("a")).await.unwrap(), wildcard.leaf);
    assert_eq!(router.metric(r#"slipway_router_tls_resolver_misses_total{answer="default"}"#), 3.0);
    router.stop().await;
}

#[tokio::test]
async fn an_unknown_name_without_a_default_certificate_gets_the_unrecognized_name_alert() {
    let ca = TestCa::new("test ca");
    let dir = tempfile::tempdir().unwrap();
    let wildcard = ca.issue(&[&format!("*.{ZONE}")]);
    let mut config = https_config();
    config.tls.certificates = vec![files(&wildcard, dir.path(), "wild", &[&format!("*.{ZONE}")])];
    let (router, https) = start(config).await;
    let err = served(https, &ca, &format!("a.b.{ZONE}")).await.unwrap_err();
    assert!(err.to_string().contains("UnrecognisedName"), "{err}");
    counted(&router, r#"slipway_router_tls_resolver_misses_total{answer="alert"}"#, 1.0).await;
    counted(&router, r#"slipway_router_tls_handshakes_total{result="no_certificate",version="none"}"#, 1.0).await;
    // The listener goes on serving.
    assert_eq!(served(https, &ca, &host("a")).await.unwrap(), wildcard.leaf);
    router.stop().await;
}

#[tokio::test]
async fn certificate_files_with_pkcs1_rsa_and_sec1_ec_keys_load_and_serve() {
    let ca = TestCa::new("test ca");
    let dir = tempfile::tempdir().unwrap();
    let (rsa, ec) = (ca.issue_rsa(&[&host("rsa")]), ca.issue(&[&host("ec")]));
    let mut config = https_config();
    for (issued, stem, label) in [(&rsa, "rsa", "RSA PRIVATE KEY"), (&ec, "ec", "EC PRIVATE KEY")] {
        let (cert, key) = issued.write(dir.path(), stem);
        let traditional = issued.traditional_key_pem();
        assert!(traditional.starts_with(&format!("-----BEGIN {label}-----\n")), "{traditional}");
        std::fs::write(&key, traditional).unwrap();
        config.tls.certificates.push(CertificateFiles { hosts: vec![host(stem)], cert, key });
    }
    let (router, https) = start(config).await;

    assert_eq!(served(https, &ca, &host("rsa")).await.unwrap(), rsa.leaf, "PKCS#1 RSA key");
    assert_eq!(served(https, &ca, &host("ec")).await.unwrap(), ec.leaf, "SEC1 EC key");
    // Over TLS 1.2 too (RSA and ECDSA signatures of the key exchange).
    let tls12 = ca.client_with(H1, &[&rustls::version::TLS12]);
    for stem in ["rsa", "ec"] {
        let stream = connect(https, tls12.clone(), &host(stem)).await.unwrap();
        assert_eq!(stream.get_ref().1.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_2));
    }
    router.stop().await;
}

#[tokio::test]
async fn a_changed_certificate_file_is_served_and_a_bad_one_keeps_the_old_serving_and_counts() {
    let ca = TestCa::new("test ca");
    let dir = tempfile::tempdir().unwrap();
    let first = ca.issue(&[&host("shop")]);
    let mut config = https_config();
    config.tls.certificates = vec![files(&first, dir.path(), "shop", &[&host("shop")])];
    let (router, https) = start(config).await;
    assert_eq!(served(https, &ca, &host("shop")).await.unwrap(), first.leaf);

    // Replaced by rename, the way editors and Secret mounts do: key first, then chain.
    let second = ca.issue(&[&host("shop")]);
    let staged = tempfile::tempdir_in(dir.path()).unwrap();
    let (cert, key) = second.write(staged.path(), "shop");
    std::fs::rename(&key, dir.path().join("shop.key")).unwrap();
    std::fs::rename(&cert, dir.path().join("shop.crt")).unwrap();
    eventually("the new certificate is served", async || {
        served(https, &ca, &host("shop")).await.ok() == Some(second.leaf.clone())
    })
    .await;

    let ok_before = router.metric(r#"slipway_router_tls_certificate_reloads_total{result="ok"}"#);
    let errors_before = router.metric(r#"slipway_router_tls_certificate_reloads_total{result="error"}"#);
    std::fs::write(dir.path().join("shop.crt"), "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
        .unwrap();
    eventually("the bad file is counted", async || {
        router.metric(r#"slipway_router_tls_certificate_reloads_total{result="error"}"#) > errors_before
    })
    .await;
    assert_eq!(served(https, &ca, &host("shop")).await.unwrap(), second.leaf, "the previous certificate keeps serving");
    assert_eq!(router.metric(r#"slipway_router_tls_certificate_reloads_total{result="ok"}"#), ok_before);
    router.stop().await;
}

#[tokio::test]
async fn http1_over_tls_reaches_the_app_with_x_forwarded_proto_https() {
    let ca = TestCa::new("test ca");
    let dir = tempfile::tempdir().unwrap();
    let config = wildcard_config(&ca, dir.path());
    let (router, https) = start(config).await;
    let backend = Backend::start("a").await;
    router.put_app("app", &[backend.endpoint()]).await;

    let stream = connect(https, ca.client(H1), &host("app")).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let reply = get_h1(stream, &host("app"), "/over-tls").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = &backend.seen()[0];
    assert_eq!(seen.path, "/over-tls");
    assert_eq!(seen.headers["x-forwarded-proto"], "https");
    assert_eq!(seen.headers["x-forwarded-port"], https.port().to_string().as_str());
    // A client that is not a trusted proxy cannot claim another protocol.
    let stream = connect(https, ca.client(H1), &host("app")).await.unwrap();
    let (mut sender, driver) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(driver);
    let req = http::Request::get("/claimed")
        .header("host", host("app"))
        .header("x-forwarded-proto", "http")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    assert_eq!(sender.send_request(req).await.unwrap().status(), 200);
    assert_eq!(backend.seen()[1].headers["x-forwarded-proto"], "https");
    // And plain HTTP still says http.
    let plain = router.get("app", "/plain").await;
    assert_eq!(plain.status, 308, "HTTPS on: plain HTTP is redirected by default");
    router.stop().await;
}

#[tokio::test]
async fn http2_over_tls_serves_many_concurrent_streams_routed_by_authority() {
    let ca = TestCa::new("test ca");
    let dir = tempfile::tempdir().unwrap();
    let config = wildcard_config(&ca, dir.path());
    let (router, https) = start(config).await;
    let backends = [Backend::start("one").await, Backend::start("two").await, Backend::start("three").await];
    for backend in &backends {
        router.put_app(backend.name(), &[backend.endpoint()]).await;
    }
    let stream = connect(https, ca.client(&[b"h2", b"http/1.1"]), &host("one")).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let sender = h2(stream).await;
    let requests = (0..60).map(|i| {
        let app = backends[i % 3].name().to_owned();
        let sender = sender.clone();
        async move { (app.clone(), get_h2(sender, &host(&app), &format!("/stream/{i}")).await) }
    });
    let replies = futures_util::future::join_all(requests).await;
    for (app, reply) in replies {
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json()["backend"], app.as_str(), "each stream reaches the app its :authority names");
    }
    for backend in &backends {
        assert_eq!(backend.hits(), 20);
        assert!(backend.seen().iter().all(|s| s.headers["x-forwarded-proto"] == "https"));
    }
    router.stop().await;
}

#[tokio::test]
async fn a_websocket_over_tls_survives_route_updates() {
    let ca = TestCa::new("test ca");
    let dir = tempfile::tempdir().unwrap();
    let config = wildcard_config(&ca, dir.path());
    let (router, https) = start(config).await;
    let (ws_backend, other) = (Backend::start("ws").await, Backend::start("other").await);
    router.put_app("ws", &[ws_backend.endpoint()]).await;

    let stream = connect(https, ca.client(H1), &host("ws")).await.unwrap();
    let url = format!("wss://{}/ws", host("ws"));
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    for i in 0..20 {
        if i % 2 == 0 {
            router.put_app("ws", &[other.endpoint()]).await;
        } else {
            router.put_app(&format!("app-{i}"), &[other.endpoint()]).await;
        }
        ws.send(Message::text(format!("update {i}"))).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(format!("update {i}")));
    }
    assert_eq!(router.metric("slipway_router_open_tunnels"), 1.0);
    router.stop().await;
}

#[tokio::test]
async fn a_second_handshake_with_the_clients_session_store_is_resumed_on_tls13_and_tls12() {
    let ca = TestCa::new("test ca");
    let dir = tempfile::tempdir().unwrap();
    let mut config = wildcard_config(&ca, dir.path());
    config.workers = 2;
    let (router, https) = start(config).await;
    let backend = Backend::start("a").await;
    router.put_app("app", &[backend.endpoint()]).await;
    for versions in [&[&rustls::version::TLS13][..], &[&rustls::version::TLS12][..]] {
        let client = ca.client_with(H1, versions);
        // The first connection's request makes sure TLS 1.3 tickets (sent after the
        // handshake) have reached the client's store.
        let first = connect(https, client.clone(), &host("app")).await.unwrap();
        assert_eq!(first.get_ref().1.handshake_kind(), Some(rustls::HandshakeKind::Full));
        assert_eq!(get_h1(first, &host("app"), "/").await.status, 200);
        for _ in 0..4 {
            // Whichever worker takes it: the ticket key and the cache are shared.
            let again = connect(https, client.clone(), &host("app")).await.unwrap();
            assert_eq!(again.get_ref().1.handshake_kind(), Some(rustls::HandshakeKind::Resumed), "{versions:?}");
            assert_eq!(get_h1(again, &host("app"), "/").await.status, 200);
        }
    }
    counted(&router, r#"slipway_router_tls_handshakes_total{result="ok",version="TLSv1_2"}"#, 5.0).await;
    router.stop().await;
}

#[tokio::test]
async fn tickets_resume_sessions_the_full_session_cache_no_longer_holds() {
    let ca = TestCa::new("test ca");
    let dir = tempfile::tempdir().unwrap();
    let mut config = wildcard_config(&ca, dir.path());
    // One cached session: a second client's session evicts the first one's.
    config.tls.session_cache = 1;
    let (router, https) = start(config).await;
    let backend = Backend::start("a").await;
    router.put_app("app", &[backend.endpoint()]).await;
    for versions in [&[&rustls::version::TLS13][..], &[&rustls::version::TLS12][..]] {
        let (a, b) = (ca.client_with(H1, versions), ca.client_with(H1, versions));
        for client in [&a, &b] {
            // The request makes sure TLS 1.3 tickets (sent after the handshake) arrived.
            let first = connect(https, client.clone(), &host("app")).await.unwrap();
            assert_eq!(get_h1(first, &host("app"), "/").await.status, 200);
        }
        let again = connect(https, a.clone(), &host("app")).await.unwrap();
        assert_eq!(again.get_ref().1.handshake_kind(), Some(rustls::HandshakeKind::Resumed), "{versions:?}");
    }
    router.stop().await;
}

/// A TLS 1.1 ClientHello (no supported_versions extension) for `sni`.
fn tls11_client_hello(sni: &str) -> Vec<u8> {
    let name = sni.as_bytes();
    let mut sni_ext = Vec::new();
    sni_ext.extend_from_slice(&[0x00, 0x00]);
    let list_len = name.len() + 3;
    sni_ext.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
    sni_ext.extend_from_slice(&(list_len as u16).to_be_bytes());
    sni_ext.push(0);
    sni_ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni_ext.extend_from_slice(name);
    let mut body = vec![0x03, 0x02];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0);
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]);
    body.extend_from_slice(&[0x01, 0x00]);
    body.extend_from_slice(&(sni_ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&sni_ext);
    let mut handshake = vec![0x01];
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

#[tokio::test]
async fn a_tls11_client_hello_is_refused_with_a_fatal_alert_before_any_server_hello() {
    let ca = TestCa::new("test ca");
    let dir = tempfile::tempdir().unwrap();
    let config = wildcard_config(&ca, dir.path());
    let (router, https) = start(config).await;
    let mut socket = tokio::net::TcpStream::connect(https).await.unwrap();
    socket.write_all(&tls11_client_hello(&host("app"))).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer)).await.unwrap().unwrap();
    assert!(answer.len() >= 7, "{answer:?}");
    assert_eq!(answer[0], 0x15, "an alert record, not a ServerHello: {answer:?}");
    // rustls answers a ClientHello with no version it speaks with handshake_failure (40).
    assert_eq!((answer[5], answer[6]), (2, 40), "fatal handshake_failure: {answer:?}");
    counted(&router, r#"slipway_router_tls_handshakes_total{result="error",version="none"}"#, 1.0).await;
    router.stop().await;
}

#[tokio::test]
async fn plain_http_on_a_redirected_zone_gets_308_to_the_same_path_and_query_and_https_gets_hsts() {
    let ca = TestCa::new("test ca");
    let dir = tempfile::tempdir().unwrap();
    let other_zone = "plain.localhost";
    let mut config = https_config();
    config.zones.push(other_zone.to_owned());
    config.tls.hsts = Some("max-age=31536000; includeSubDomains".to_owned());
    config.tls.zones.insert(other_zone.to_owned(), ZoneTls { redirect: Some(false), hsts: Some(String::new()) });
    config.tls.certificates = vec![files(
        &ca.issue(&[&format!("*.{ZONE}"), &format!("*.{other_zone}")]),
        dir.path(),
        "wild",
        &[&format!("*.{ZONE}"), &format!("*.{other_zone}")],
    )];
    let (router, https) = start(config).await;
    let backend = Backend::start("a").await;
    router.put_app("app", &[backend.endpoint()]).await;

    let reply = router.get("app", "/a/b?x=1&y=%20").await;
    assert_eq!(reply.status, 308);
    assert_eq!(reply.headers["location"], format!("https://{}:{}/a/b?x=1&y=%20", host("app"), https.port()).as_str());
    assert_eq!(backend.hits(), 0);
    // Not for ACME HTTP-01, which validates over plain HTTP.
    assert_eq!(router.get("app", "/.well-known/acme-challenge/token").await.status, 200);
    // A zone that says otherwise is served over plain HTTP, without HSTS over HTTPS.
    let plain = slipway_tests::get(router.http, &format!("app.{other_zone}"), "/").await;
    assert_eq!(plain.status, 200, "served, not redirected");
    assert_eq!(backend.hits(), 2);
    let stream = connect(https, ca.client(H1), &format!("app.{other_zone}")).await.unwrap();
    assert!(get_h1(stream, &format!("app.{other_zone}"), "/").await.headers.get("strict-transport-security").is_none());

    let stream = connect(https, ca.client(H1), &host("app")).await.unwrap();
    let reply = get_h1(stream, &host("app"), "/").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["strict-transport-security"], "max-age=31536000; includeSubDomains");
    router.stop().await;
}

/// An in-test issuer behind the on-demand seam (our own trait, not an outside system):
/// `obtain` takes the certificate an order would bring from `pending`, once the test
/// releases it.
#[derive(Debug, Default, Clone)]
struct TestIssuer(Arc<IssuerState>);

#[derive(Debug, Default)]
struct IssuerState {
    held: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    pending: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    challenges: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    obtained: Mutex<Vec<String>>,
    release: tokio::sync::Notify,
}

impl OnDemand for TestIssuer {
    fn certificate(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        self.0.held.lock().unwrap().get(host).cloned()
    }

    fn challenge(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        self.0.challenges.lock().unwrap().get(host).cloned()
    }

    fn obtain(&self, host: &str) -> Obtaining {
        self.0.obtained.lock().unwrap().push(host.to_owned());
        let Some(key) = self.0.pending.lock().unwrap().remove(host) else {
            return Box::pin(std::future::ready(Err(ObtainError::NotRouted(host.to_owned()))));
        };
        let (state, host) = (self.0.clone(), host.to_owned());
        Box::pin(async move {
            state.release.notified().await;
            state.held.lock().unwrap().insert(host, key);
            Ok(())
        })
    }

    fn held(&self) -> Vec<(String, Arc<CertifiedKey>)> {
        self.0.held.lock().unwrap().iter().map(|(h, k)| (h.clone(), k.clone())).collect()
    }
}

fn certified(issued: &Issued) -> Arc<CertifiedKey> {
    Certificate::from_pem(issued.chain_pem.as_bytes(), issued.key_pem.as_bytes()).unwrap().key
}

async fn start_with_issuer(config: Config, issuer: &TestIssuer) -> Router {
    let issuer: Arc<dyn OnDemand> = Arc::new(issuer.clone());
    tokio::task::spawn_blocking(move || Router::start_with(config, Some(issuer))).await.unwrap().unwrap()
}

#[tokio::test]
async fn a_host_without_a_certificate_waits_for_the_on_demand_issuer_and_is_served_with_it() {
    let ca = TestCa::new("test ca");
    let issuer = TestIssuer::default();
    let custom = ca.issue(&["shop.example.com"]);
    issuer.0.pending.lock().unwrap().insert("shop.example.com".to_owned(), certified(&custom));
    let mut config = https_config();
    config.tls.on_demand_timeout = Duration::from_secs(30);
    let router = start_with_issuer(config, &issuer).await;
    let https = router.https_addr().unwrap();

    let handshake = tokio::spawn({
        let client = ca.client(H1);
        async move { connect(https, client, "shop.example.com").await.map(|s| presented(&s)) }
    });
    eventually("the handshake asks the issuer", async || issuer.0.obtained.lock().unwrap().len() == 1).await;
    assert!(!handshake.is_finished(), "the handshake waits for the order");
    issuer.0.release.notify_one();
    assert_eq!(handshake.await.unwrap().unwrap(), custom.leaf);
    // Now held: the next handshake does not ask again.
    assert_eq!(served(https, &ca, "shop.example.com").await.unwrap(), custom.leaf);
    assert_eq!(issuer.0.obtained.lock().unwrap().len(), 1);
    // A host the issuer refuses gets the alert at once (no default certificate).
    let err = served(https, &ca, "nope.example.com").await.unwrap_err();
    assert!(err.to_string().contains("UnrecognisedName"), "{err}");
    let text = router.metrics_text();
    assert_eq!(slipway_tests::metric(&text, r#"slipway_router_tls_resolver_misses_total{answer="on_demand"}"#), 1.0);
    router.stop().await;
}

#[tokio::test]
async fn a_client_hello_offering_acme_tls_1_gets_the_challenge_certificate_and_the_connection_ends() {
    let ca = TestCa::new("test ca");
    let issuer = TestIssuer::default();
    let challenge = ca.issue(&["shop.example.com"]);
    issuer.0.challenges.lock().unwrap().insert("shop.example.com".to_owned(), certified(&challenge));
    let router = start_with_issuer(https_config(), &issuer).await;
    let https = router.https_addr().unwrap();
    let mut stream = connect(https, ca.client(&[b"acme-tls/1"]), "shop.example.com").await.unwrap();
    assert_eq!(presented(&stream), challenge.leaf);
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"acme-tls/1"[..]));
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await.unwrap();
    assert!(read.is_ok() && rest.is_empty(), "the router closes the validation connection: {read:?}");
    assert!(issuer.0.obtained.lock().unwrap().is_empty(), "a validation orders nothing");
    router.stop().await;
}

#[tokio::test]
async fn the_admin_api_lists_certificates_without_key_material_and_exports_their_expiry() {
    let ca = TestCa::new("listing ca");
    let dir = tempfile::tempdir().unwrap();
    let issued = ca.issue_until(&[&format!("*.{ZONE}")], (2099, 1, 1));
    let mut config = https_config();
    config.tls.certificates = vec![files(&issued, dir.path(), "wild", &[&format!("*.{ZONE}")])];
    let (router, _https) = start(config).await;
    let reply = router.admin("GET", "/v1/certificates", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let listed = &reply.json()["certificates"];
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["host"], format!("*.{ZONE}").as_str());
    assert_eq!(listed[0]["source"], "file");
    assert_eq!(listed[0]["not_after"], "2099-01-01T00:00:00Z");
    assert!(listed[0]["issuer"].as_str().unwrap().contains("listing ca"), "{listed}");
    assert!(!reply.text().contains("PRIVATE"), "no key material: {}", reply.text());
    assert_eq!(router.admin_call("GET", "/v1/certificates", None, None).await.status, 401);

    let metrics = router.admin("GET", "/metrics", None).await.text();
    let left = slipway_tests::metric(
        &metrics,
        &format!(r#"slipway_router_tls_certificate_expiry_seconds{{host="*.{ZONE}"}}"#),
    );
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!((left - (4_070_908_800.0 - now)).abs() < 3600.0, "seconds left: {left}");
    router.stop().await;
}
