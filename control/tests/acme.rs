//! The ACME store the control plane keeps for routers on several hosts
//! (`acme.store.kind = "control"`): real pebble (Debian's package, real TLS-ALPN-01
//! validation against a [`ChallengeServer`]), a real control plane on loopback, and the
//! router's issuer with its control-plane store over the API with the router token.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{ROUTER_TOKEN, TOKEN, TestServer, ZONE};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::json;
use slipway_router::config::acme::StoreKind;
use slipway_router::config::{Acme, ControlConfig};
use slipway_router::control_client::ControlClient;
use slipway_router::metrics::Metrics;
use slipway_router::tls::acme::{ControlStore, Issuer, Options, Store};
use slipway_router::tls::on_demand::{ObtainError, OnDemand};
use slipway_tests::metric;
use slipway_tests::servers::{ChallengeServer, Pebble, PebbleOptions};
use slipway_tests::tls::{Issued, TestCa};

const HOST: &str = "shop.example.test";

/// Pebble and the challenge listener it validates against.
async fn ca() -> (Pebble, ChallengeServer) {
    let challenges = ChallengeServer::start().await;
    let pebble = Pebble::start(PebbleOptions { tls_port: challenges.port, validity_secs: None, eab: None }).await;
    (pebble, challenges)
}

fn acme_config(pebble: &Pebble) -> Acme {
    let mut config = Acme { enabled: true, directory: pebble.directory.clone(), ..Acme::default() };
    config.roots = vec![pebble.ca_file.clone()];
    config.order_timeout = Duration::from_secs(30);
    config.store.kind = StoreKind::Control;
    config.validate().unwrap();
    config
}

fn control(server: &TestServer, token: &str) -> ControlConfig {
    ControlConfig { url: Some(format!("http://{}", server.api)), token: Some(token.to_owned()), ..Default::default() }
}

/// An issuer for `HOST` over the control plane's store, calling with `token`; its answers
/// to validations go to `challenges`.
fn issuer(server: &TestServer, config: &Acme, token: &str, challenges: &ChallengeServer) -> (Issuer, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let client = ControlClient::new(&control(server, token), metrics.clone()).unwrap();
    let store: Arc<dyn Store> = Arc::new(ControlStore::new(client));
    let routed = Box::new(|host: &str| host == HOST);
    let options = Options::from_config(config).unwrap();
    let issuer = Issuer::new(options, store, routed, &metrics.acme_orders, tokio::runtime::Handle::current());
    let answering = issuer.clone();
    challenges.answer(move |host| answering.challenge(host));
    (issuer, metrics)
}

fn outcome(metrics: &Metrics, outcome: &str) -> f64 {
    metric(&metrics.render(), &format!("slipway_router_acme_orders_total{{outcome=\"{outcome}\"}}"))
}

fn leaf(issuer: &Issuer) -> Vec<u8> {
    issuer.certificate(HOST).expect("a certificate").cert[0].to_vec()
}

/// A certificate as the store keeps it: the key, then the chain.
fn stored_form(cert: &Issued) -> String {
    format!("{}{}", cert.key_pem, cert.chain_pem)
}

/// A call to the control plane with `token` (None: no Authorization header).
async fn call(
    server: &TestServer,
    method: &str,
    path: &str,
    body: serde_json::Value,
    token: Option<&str>,
) -> slipway_tests::Reply {
    let body = if body.is_null() { Bytes::new() } else { Bytes::from(body.to_string()) };
    server.call(method, path, Some("application/json"), body, token).await
}

/// The certificate the control plane stores for `HOST` (router token), or the status.
async fn stored(server: &TestServer) -> Result<String, u16> {
    let reply =
        call(server, "GET", &format!("/v1/acme/certificates/{HOST}"), serde_json::Value::Null, Some(ROUTER_TOKEN))
            .await;
    match reply.status.as_u16() {
        200 => Ok(reply.json()["pem"].as_str().unwrap().to_owned()),
        status => Err(status),
    }
}

#[tokio::test]
async fn two_issuers_sharing_the_control_store_order_a_host_once_and_both_serve_it() {
    let server = common::start().await;
    let (pebble, challenges) = ca().await;
    let config = acme_config(&pebble);
    let (a, metrics_a) = issuer(&server, &config, ROUTER_TOKEN, &challenges);
    let (b, metrics_b) = issuer(&server, &config, ROUTER_TOKEN, &challenges);

    // Handshakes on both replicas at once.
    let (r1, r2, r3, r4) = tokio::join!(a.obtain(HOST), a.obtain(HOST), b.obtain(HOST), b.obtain(HOST));
    for r in [r1, r2, r3, r4] {
        r.unwrap();
    }

    let issued = outcome(&metrics_a, "issued") + outcome(&metrics_b, "issued");
    let reused = outcome(&metrics_a, "stored") + outcome(&metrics_b, "stored");
    assert_eq!((issued, reused), (1.0, 1.0), "one order, and the other replica reused its certificate");
    assert_eq!(leaf(&a), leaf(&b), "both serve the one certificate ordered");
    pebble.assert_signed(&a.certificate(HOST).unwrap().cert, HOST).await;
    let pem = stored(&server).await.unwrap();
    let stored_leaf = CertificateDer::pem_slice_iter(pem.as_bytes()).next().unwrap().unwrap();
    assert_eq!(stored_leaf.as_ref(), leaf(&a), "the control plane holds the certificate served");
}

#[tokio::test]
async fn a_new_issuer_over_the_same_control_plane_reuses_its_certificate_without_an_order() {
    let server = common::start().await;
    let (mut pebble, challenges) = ca().await;
    let config = acme_config(&pebble);
    let first = {
        let (issuer, _) = issuer(&server, &config, ROUTER_TOKEN, &challenges);
        issuer.obtain(HOST).await.unwrap();
        leaf(&issuer)
    };
    // No CA at all now: whatever the new issuer serves comes from the control plane.
    pebble.stop();

    let (restarted, metrics) = issuer(&server, &config, ROUTER_TOKEN, &challenges);
    restarted.obtain(HOST).await.unwrap();

    assert_eq!(leaf(&restarted), first);
    assert_eq!((outcome(&metrics, "issued"), outcome(&metrics, "stored")), (0.0, 1.0));
}

#[tokio::test]
async fn a_wrong_or_missing_router_token_gets_401_and_nothing_is_stored() {
    let server = common::start().await;
    let pem = stored_form(&TestCa::new("test CA").issue(&[HOST]));
    let calls = [
        ("GET", "/v1/acme/account".to_owned(), serde_json::Value::Null),
        ("POST", "/v1/acme/account".to_owned(), json!({"key": "AAAA"})),
        ("GET", format!("/v1/acme/certificates/{HOST}"), serde_json::Value::Null),
        ("PUT", format!("/v1/acme/certificates/{HOST}"), json!({"pem": pem})),
        ("POST", format!("/v1/acme/claims/{HOST}"), json!({"owner": "replica-1", "ttl_secs": 60})),
        ("POST", format!("/v1/acme/claims/{HOST}/release"), json!({"owner": "replica-1"})),
    ];
    for (method, path, body) in &calls {
        for token in [None, Some("wrong-token-0123456789")] {
            let reply = call(&server, method, path, body.clone(), token).await;
            assert_eq!(reply.status, 401, "{method} {path} with {token:?}: {}", reply.text());
            assert_eq!(reply.json()["error"]["code"], "unauthorized");
        }
    }
    // An issuer with a wrong token cannot order through the store either.
    let (pebble, challenges) = ca().await;
    let (wrong, metrics) = issuer(&server, &acme_config(&pebble), "wrong-token-0123456789", &challenges);
    let failed = wrong.obtain(HOST).await;
    assert!(matches!(&failed, Err(ObtainError::Failed { reason, .. }) if reason.contains("401")), "{failed:?}");
    assert!(wrong.certificate(HOST).is_none());
    let errors =
        metric(&metrics.render(), "slipway_router_control_errors_total{call=\"acme_store\",reason=\"status\"}");
    assert!(errors >= 1.0, "counted as a failed control-plane call");

    assert_eq!(stored(&server).await, Err(404), "no certificate stored");
    let account = call(&server, "GET", "/v1/acme/account", serde_json::Value::Null, Some(ROUTER_TOKEN)).await;
    assert_eq!(account.status, 404, "no account key stored");
    // The claim made with a wrong token does not hold the host: the router token's claim is taken.
    let claim = json!({"owner": "replica-2", "ttl_secs": 60});
    let claimed = call(&server, "POST", &format!("/v1/acme/claims/{HOST}"), claim, Some(ROUTER_TOKEN)).await;
    assert_eq!(claimed.json(), json!({"claimed": true}));
}

#[tokio::test]
async fn an_order_claim_held_by_a_dead_replica_expires_and_another_replica_orders_the_host() {
    let server = common::start().await;
    let (pebble, challenges) = ca().await;
    let path = format!("/v1/acme/claims/{HOST}");
    // A replica claims the host for 2 s, then dies without ordering or releasing.
    let claimed_at = Instant::now();
    let dead = call(&server, "POST", &path, json!({"owner": "dead-replica", "ttl_secs": 2}), Some(ROUTER_TOKEN)).await;
    assert_eq!(dead.json(), json!({"claimed": true}));
    let other =
        call(&server, "POST", &path, json!({"owner": "other-replica", "ttl_secs": 60}), Some(ROUTER_TOKEN)).await;
    assert_eq!(other.json(), json!({"claimed": false}), "while it is held, no one else orders the host");

    let (issuer, metrics) = issuer(&server, &acme_config(&pebble), ROUTER_TOKEN, &challenges);
    issuer.obtain(HOST).await.unwrap();

    assert!(claimed_at.elapsed() >= Duration::from_secs(2), "the issuer waited for the dead replica's claim");
    assert_eq!(outcome(&metrics, "issued"), 1.0);
    pebble.assert_signed(&issuer.certificate(HOST).unwrap().cert, HOST).await;
    // The issuer released its claim once done.
    let after =
        call(&server, "POST", &path, json!({"owner": "other-replica", "ttl_secs": 60}), Some(ROUTER_TOKEN)).await;
    assert_eq!(after.json(), json!({"claimed": true}));
}

#[tokio::test]
async fn bad_acme_store_requests_get_one_json_error_naming_the_field_and_never_echo_key_material() {
    let server = common::start().await;
    let cert = TestCa::new("test CA").issue(&[HOST]);
    let pem = stored_form(&cert);
    let key_only = cert.key_pem.clone();
    let secret = key_only.lines().nth(1).unwrap().to_owned();
    let cert_path = format!("/v1/acme/certificates/{HOST}");
    let claim_path = format!("/v1/acme/claims/{HOST}");
    let cases = [
        ("PUT", "/v1/acme/certificates/Shop.Example.Test".to_owned(), json!({"pem": pem}), "host"),
        ("PUT", "/v1/acme/certificates/bad_host..test".to_owned(), json!({"pem": pem}), "host"),
        ("PUT", cert_path.clone(), json!({"pem": key_only}), "pem"),
        ("PUT", cert_path.clone(), json!({"pem": cert.chain_pem}), "pem"),
        ("PUT", cert_path.clone(), json!({"pem": "not PEM at all"}), "pem"),
        ("POST", "/v1/acme/account".to_owned(), json!({"key": "***"}), "key"),
        ("POST", "/v1/acme/account".to_owned(), json!({"key": "AAAA"}), "key"),
        ("POST", claim_path.clone(), json!({"owner": "replica 1", "ttl_secs": 60}), "owner"),
        ("POST", claim_path.clone(), json!({"owner": "replica-1", "ttl_secs": 0}), "ttl_secs"),
        ("POST", claim_path.clone(), json!({"owner": "replica-1", "ttl_secs": 90_000}), "ttl_secs"),
    ];
    for (method, path, body, field) in cases {
        let reply = call(&server, method, &path, body.clone(), Some(ROUTER_TOKEN)).await;
        assert_eq!(reply.status, 400, "{method} {path} {body}: {}", reply.text());
        let error = reply.json();
        assert_eq!((error["error"]["code"].as_str(), error["error"]["field"].as_str()), (Some("invalid"), Some(field)));
        assert!(!reply.text().contains(&secret), "an error never quotes key material: {}", reply.text());
    }
    let unknown = call(&server, "PUT", &cert_path, json!({"pem": pem, "extra": 1}), Some(ROUTER_TOKEN)).await;
    assert_eq!(unknown.status, 400, "{}", unknown.text());
    let huge = json!({"pem": "x".repeat(slipway_router::spec::acme::MAX_BODY + 1)});
    let too_large = call(&server, "PUT", &cert_path, huge, Some(ROUTER_TOKEN)).await;
    assert_eq!(too_large.status, 413, "{}", too_large.text());
    assert!(too_large.json()["error"]["code"].is_string());
    assert_eq!(stored(&server).await, Err(404), "nothing stored");
    // The admin token may use the store too (as it may follow the route stream).
    let admin = call(&server, "PUT", &cert_path, json!({"pem": pem}), Some(TOKEN)).await;
    assert_eq!(admin.status, 204, "{}", admin.text());
    assert_eq!(stored(&server).await.unwrap(), pem);
}

/// The router's own wiring: `acme.store.kind = "control"` with `[control]`'s URL and token
/// (the route stream's settings) orders through the control plane, for a host the control
/// plane routes.
#[tokio::test]
async fn a_router_with_the_control_store_keeps_its_certificates_in_the_control_plane() {
    let server = common::start().await;
    let (pebble, challenges) = ca().await;
    server.ok("POST", "/v1/apps", Some(json!({"name": "shop"})), 201).await;
    let mut config = slipway_router::Config { workers: 1, zones: vec![ZONE.to_owned()], ..Default::default() };
    config.listen.http = "127.0.0.1:0".parse().unwrap();
    config.listen.admin = "127.0.0.1:0".parse().unwrap();
    config.control = control(&server, ROUTER_TOKEN);
    config.acme = acme_config(&pebble);
    config.validate().unwrap();
    let router = tokio::task::spawn_blocking(move || slipway_router::Router::start(config)).await.unwrap().unwrap();
    let acme = router.acme().expect("acme.enabled starts an issuer");
    let answering = acme.clone();
    challenges.answer(move |host| answering.challenge(host));
    let host = format!("shop.{ZONE}");
    let routes = router.routes();
    slipway_tests::eventually("the control plane's route to shop", Duration::from_secs(30), async || {
        routes.lookup(&host, "/").map(drop)
    })
    .await;

    acme.obtain(&host).await.unwrap();

    let reply =
        call(&server, "GET", &format!("/v1/acme/certificates/{host}"), serde_json::Value::Null, Some(ROUTER_TOKEN))
            .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let pem = reply.json()["pem"].as_str().unwrap().to_owned();
    let stored_leaf = CertificateDer::pem_slice_iter(pem.as_bytes()).next().unwrap().unwrap();
    assert_eq!(stored_leaf.as_ref(), acme.certificate(&host).unwrap().cert[0].as_ref());
    router.stop().await;
}
