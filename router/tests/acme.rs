//! On-demand ACME against a real ACME CA: pebble (Debian's package) with real TLS-ALPN-01
//! validation. Pebble connects for each challenge to `tls_port`, where the test's
//! [`ChallengeServer`] answers with `issuer.challenge(host)` (as the HTTPS listener does),
//! so a wrong or missing validation certificate fails the order.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::sign::CertifiedKey;
use slipway_router::config::Acme;
use slipway_router::metrics::Metrics;
use slipway_router::tls::acme::{DirStore, Issuer, Options, Store};
use slipway_router::tls::on_demand::{ObtainError, OnDemand};
use slipway_tests::metric;
use slipway_tests::servers::{ChallengeServer, Pebble, PebbleOptions};

const LONG: Duration = Duration::from_secs(60);

/// Pebble and the challenge listener it validates against.
async fn ca(validity_secs: Option<u64>) -> (Pebble, ChallengeServer) {
    let challenges = ChallengeServer::start().await;
    let pebble = Pebble::start(PebbleOptions { tls_port: challenges.port, validity_secs, eab: None }).await;
    (pebble, challenges)
}

fn acme_config(pebble: &Pebble, store: &std::path::Path) -> Acme {
    let mut config = Acme { enabled: true, directory: pebble.directory.clone(), ..Acme::default() };
    config.roots = vec![pebble.ca_file.clone()];
    config.email = Some("ops@example.com".to_owned());
    config.order_timeout = Duration::from_secs(30);
    config.store.dir = store.to_owned();
    config.validate().unwrap();
    config
}

/// An issuer over the directory store in `config`, for the hosts `routed` accepts.
fn issuer(config: &Acme, routed: &'static [&'static str]) -> (Issuer, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let store: Arc<dyn Store> = Arc::new(DirStore::open(&config.store.dir).unwrap());
    let options = Options::from_config(config).unwrap();
    let routed = Box::new(move |host: &str| routed.contains(&host));
    let issuer = Issuer::new(options, store, routed, &metrics.acme_orders, tokio::runtime::Handle::current());
    (issuer, metrics)
}

fn outcome(metrics: &Metrics, outcome: &str) -> f64 {
    metric(&metrics.render(), &format!("slipway_router_acme_orders_total{{outcome=\"{outcome}\"}}"))
}

fn leaf(key: &CertifiedKey) -> Vec<u8> {
    key.cert[0].to_vec()
}

/// Checks that `key`'s chain is valid for `host` under pebble's current issuing root.
async fn assert_signed_by_pebble(pebble: &Pebble, key: &CertifiedKey, host: &str) {
    pebble.assert_signed(&key.cert, host).await;
}

/// Lets `challenges` answer with `issuer`'s validation certificates.
fn serve(challenges: &ChallengeServer, issuer: &(impl OnDemand + Clone)) {
    let issuer = issuer.clone();
    challenges.answer(move |host| issuer.challenge(host));
}

#[tokio::test]
async fn a_routed_host_gets_a_certificate_signed_by_the_ca() {
    let (pebble, challenges) = ca(None).await;
    let store = tempfile::tempdir().unwrap();
    let (issuer, metrics) = issuer(&acme_config(&pebble, store.path()), &["shop.example.test"]);
    serve(&challenges, &issuer);
    assert!(issuer.certificate("shop.example.test").is_none());

    issuer.obtain("shop.example.test").await.unwrap();

    let key = issuer.certificate("shop.example.test").expect("a certificate once obtain resolved");
    assert_signed_by_pebble(&pebble, &key, "shop.example.test").await;
    assert!(issuer.challenge("shop.example.test").is_none(), "the validation certificate is gone after the order");
    assert_eq!(issuer.held().len(), 1);
    assert_eq!(outcome(&metrics, "issued"), 1.0);
    let stored = std::fs::read_to_string(store.path().join("certs/shop.example.test.pem")).unwrap();
    assert!(stored.contains("PRIVATE KEY") && stored.contains("BEGIN CERTIFICATE"));
}

#[tokio::test]
async fn a_host_not_in_the_table_gets_no_order() {
    let (pebble, challenges) = ca(None).await;
    let store = tempfile::tempdir().unwrap();
    let (issuer, metrics) = issuer(&acme_config(&pebble, store.path()), &["shop.example.test"]);
    serve(&challenges, &issuer);

    let refused = issuer.obtain("evil.example.test").await;

    assert_eq!(refused, Err(ObtainError::NotRouted("evil.example.test".to_owned())));
    assert!(issuer.certificate("evil.example.test").is_none());
    assert_eq!(outcome(&metrics, "not_routed"), 1.0);
    assert_eq!(outcome(&metrics, "issued"), 0.0);
    assert!(!store.path().join("account.key").exists(), "not even an ACME account was made");
    assert_eq!(std::fs::read_dir(store.path().join("certs")).unwrap().count(), 0);
}

#[tokio::test]
async fn two_issuers_sharing_a_directory_order_a_host_once() {
    let (pebble, challenges) = ca(None).await;
    let store = tempfile::tempdir().unwrap();
    let config = acme_config(&pebble, store.path());
    let (a, metrics_a) = issuer(&config, &["shop.example.test"]);
    let (b, metrics_b) = issuer(&config, &["shop.example.test"]);
    serve(&challenges, &a);
    serve(&challenges, &b);

    // Three handshakes at once on a, two on b.
    let (r1, r2, r3, r4, r5) = tokio::join!(
        a.obtain("shop.example.test"),
        a.obtain("shop.example.test"),
        a.obtain("shop.example.test"),
        b.obtain("shop.example.test"),
        b.obtain("shop.example.test"),
    );
    for r in [r1, r2, r3, r4, r5] {
        r.unwrap();
    }

    let issued = outcome(&metrics_a, "issued") + outcome(&metrics_b, "issued");
    let stored = outcome(&metrics_a, "stored") + outcome(&metrics_b, "stored");
    assert_eq!((issued, stored), (1.0, 1.0), "one order, and the other replica reused its certificate");
    let (ka, kb) = (a.certificate("shop.example.test").unwrap(), b.certificate("shop.example.test").unwrap());
    assert_eq!(leaf(&ka), leaf(&kb), "both serve the one certificate ordered");
}

#[tokio::test]
async fn a_restart_reuses_the_stored_certificate_without_a_new_order() {
    let (mut pebble, challenges) = ca(None).await;
    let store = tempfile::tempdir().unwrap();
    let config = acme_config(&pebble, store.path());
    let first = {
        let (issuer, _) = issuer(&config, &["shop.example.test"]);
        serve(&challenges, &issuer);
        issuer.obtain("shop.example.test").await.unwrap();
        leaf(&issuer.certificate("shop.example.test").unwrap())
    };
    // No CA at all now: whatever the restarted issuer serves comes from the store.
    pebble.stop();

    let (restarted, metrics) = issuer(&config, &["shop.example.test"]);
    restarted.obtain("shop.example.test").await.unwrap();

    assert_eq!(leaf(&restarted.certificate("shop.example.test").unwrap()), first);
    assert_eq!((outcome(&metrics, "issued"), outcome(&metrics, "stored")), (0.0, 1.0));
}

#[tokio::test]
async fn a_certificate_past_the_renewal_threshold_is_renewed_while_the_old_one_serves() {
    // Certificates of 60 s, renewed once 10% of it (6 s) has passed.
    let (pebble, challenges) = ca(Some(60)).await;
    let store = tempfile::tempdir().unwrap();
    let mut config = acme_config(&pebble, store.path());
    config.renew_at = 0.1;
    config.renew_check = Duration::from_millis(200);
    let (issuer, metrics) = issuer(&config, &["shop.example.test"]);
    serve(&challenges, &issuer);
    issuer.obtain("shop.example.test").await.unwrap();
    let first = leaf(&issuer.certificate("shop.example.test").unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    issuer.spawn_renewal(stop.clone());

    let renewed = slipway_tests::eventually("a renewed certificate", LONG, async || {
        // Until the renewal lands, the first certificate keeps serving.
        let now = leaf(&issuer.certificate("shop.example.test").expect("never without a certificate"));
        (now != first).then_some(now)
    })
    .await;

    stop.cancel();
    assert!(outcome(&metrics, "issued") >= 2.0);
    let stored = std::fs::read_to_string(store.path().join("certs/shop.example.test.pem")).unwrap();
    let stored_leaf = CertificateDer::pem_slice_iter(stored.as_bytes()).next().unwrap().unwrap();
    let held_now = leaf(&issuer.certificate("shop.example.test").unwrap());
    assert!(stored_leaf.as_ref() == renewed || stored_leaf.as_ref() == held_now, "the renewal is stored");
}

#[tokio::test]
async fn a_fresh_certificate_is_not_renewed_before_the_threshold() {
    let (pebble, challenges) = ca(None).await;
    let store = tempfile::tempdir().unwrap();
    let (issuer, metrics) = issuer(&acme_config(&pebble, store.path()), &["shop.example.test"]);
    serve(&challenges, &issuer);
    issuer.obtain("shop.example.test").await.unwrap();
    let first = leaf(&issuer.certificate("shop.example.test").unwrap());

    issuer.renew_due().await;

    assert_eq!(leaf(&issuer.certificate("shop.example.test").unwrap()), first);
    assert_eq!(outcome(&metrics, "issued"), 1.0);
}

#[tokio::test]
async fn a_failed_order_backs_off_then_succeeds_once_validation_works() {
    let (pebble, challenges) = ca(None).await;
    let store = tempfile::tempdir().unwrap();
    let mut config = acme_config(&pebble, store.path());
    config.backoff = Duration::from_secs(2);
    let (issuer, metrics) = issuer(&config, &["shop.example.test"]);
    serve(&challenges, &issuer);
    challenges.set_answering(false);

    let failed = issuer.obtain("shop.example.test").await;
    assert!(matches!(failed, Err(ObtainError::Failed { .. })), "{failed:?}");
    assert_eq!(outcome(&metrics, "failed"), 1.0);
    // Backing off: refused without an order, even though validation would work now.
    challenges.set_answering(true);
    assert_eq!(issuer.obtain("shop.example.test").await, Err(ObtainError::RateLimited("shop.example.test".into())));
    assert_eq!(outcome(&metrics, "failed"), 1.0);

    slipway_tests::eventually("a certificate after the backoff", LONG, async || {
        issuer.obtain("shop.example.test").await.ok()
    })
    .await;
    assert_eq!((outcome(&metrics, "failed"), outcome(&metrics, "issued")), (1.0, 1.0));
}

#[tokio::test]
async fn the_global_order_rate_refuses_orders_past_it() {
    let (pebble, challenges) = ca(None).await;
    let store = tempfile::tempdir().unwrap();
    let mut config = acme_config(&pebble, store.path());
    config.rate_limit.global = 2;
    let (issuer, metrics) = issuer(&config, &["a.example.test", "b.example.test", "c.example.test"]);
    serve(&challenges, &issuer);
    challenges.set_answering(false);

    assert!(matches!(issuer.obtain("a.example.test").await, Err(ObtainError::Failed { .. })));
    assert!(matches!(issuer.obtain("b.example.test").await, Err(ObtainError::Failed { .. })));
    challenges.set_answering(true);
    let third = issuer.obtain("c.example.test").await;

    assert_eq!(third, Err(ObtainError::RateLimited("c.example.test".into())));
    assert_eq!((outcome(&metrics, "failed"), outcome(&metrics, "rate_limited")), (2.0, 1.0));
}

#[tokio::test]
async fn the_router_orders_for_hosts_in_its_table_only() {
    let (pebble, challenges) = ca(None).await;
    let store = tempfile::tempdir().unwrap();
    let mut config = common::config();
    config.acme = acme_config(&pebble, store.path());
    let router = common::start(config).await;
    let acme = router.router.as_ref().unwrap().acme().expect("acme.enabled starts an issuer");
    let issuer = acme.clone();
    challenges.answer(move |host| issuer.challenge(host));
    router.put_app("shop", &["127.0.0.1:9".to_owned()]).await;

    let host = common::host("shop");
    acme.obtain(&host).await.unwrap();
    let refused = acme.obtain(&common::host("nope")).await;

    assert_signed_by_pebble(&pebble, &acme.certificate(&host).unwrap(), &host).await;
    assert_eq!(refused, Err(ObtainError::NotRouted(common::host("nope"))));
    let text = router.router.as_ref().unwrap().metrics_text();
    assert_eq!(metric(&text, "slipway_router_acme_orders_total{outcome=\"issued\"}"), 1.0);
    assert_eq!(metric(&text, "slipway_router_acme_orders_total{outcome=\"not_routed\"}"), 1.0);
}

/// The whole path through the router's own HTTPS listener: pebble validates against the
/// listener's port, the first handshake for a routed host waits for its order and is
/// served with the pebble-signed certificate, and the request reaches the app.
#[tokio::test]
async fn the_first_https_request_for_a_routed_host_waits_for_its_certificate_and_reaches_the_app() {
    slipway_tests::tls::install_provider();
    let port = slipway_tests::servers::free_port();
    let pebble = Pebble::start(PebbleOptions { tls_port: port, validity_secs: None, eab: None }).await;
    let store = tempfile::tempdir().unwrap();
    let mut config = common::config();
    config.listen.https = Some(format!("127.0.0.1:{port}").parse().unwrap());
    config.tls.on_demand_timeout = LONG;
    config.acme = acme_config(&pebble, store.path());
    let router = common::start(config).await;
    let backend = slipway_tests::backend::Backend::start("shop").await;
    router.put_app("shop", &[backend.endpoint()]).await;

    let mut roots = rustls::RootCertStore::empty();
    let root = pebble.issuing_root().await;
    roots.add(CertificateDer::from_pem_slice(root.as_bytes()).unwrap()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let host = common::host("shop");
    let https = router.router.as_ref().unwrap().https_addr().unwrap();
    let stream = slipway_tests::tls::connect(https, Arc::new(client), &host).await.expect("a verified handshake");
    let reply = slipway_tests::tls::get_h1(stream, &host, "/over-https").await;

    assert_eq!(reply.status, 200);
    assert_eq!(backend.seen()[0].headers["x-forwarded-proto"], "https");
    let text = router.router.as_ref().unwrap().metrics_text();
    assert_eq!(metric(&text, "slipway_router_acme_orders_total{outcome=\"issued\"}"), 1.0);
    router.stop().await;
}

/// Pebble requiring an external account binding with key id `kid-1`, and the router's
/// `[acme]` for it with `hmac_key` as `acme.eab_hmac_key`.
async fn eab_ca(hmac_key: &str) -> (Pebble, ChallengeServer, Acme, tempfile::TempDir) {
    const CA_KEY: &str = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    let challenges = ChallengeServer::start().await;
    let eab = Some(("kid-1".to_owned(), CA_KEY.to_owned()));
    let pebble = Pebble::start(PebbleOptions { tls_port: challenges.port, validity_secs: None, eab }).await;
    let store = tempfile::tempdir().unwrap();
    let mut config = acme_config(&pebble, store.path());
    config.eab_key_id = Some("kid-1".to_owned());
    config.eab_hmac_key = Some(hmac_key.replace("CA_KEY", CA_KEY));
    config.validate().unwrap();
    (pebble, challenges, config, store)
}

#[tokio::test]
async fn with_the_cas_eab_key_an_account_is_made_and_a_certificate_issued() {
    let (pebble, challenges, config, store) = eab_ca("CA_KEY").await;
    let (issuer, metrics) = issuer(&config, &["shop.example.test"]);
    serve(&challenges, &issuer);

    issuer.obtain("shop.example.test").await.unwrap();

    assert_signed_by_pebble(&pebble, &issuer.certificate("shop.example.test").unwrap(), "shop.example.test").await;
    assert_eq!(outcome(&metrics, "issued"), 1.0);
    assert!(store.path().join("account.key").exists(), "the bound account's key is stored");
}

#[tokio::test]
async fn a_wrong_eab_hmac_key_fails_the_order_with_an_error_naming_eab() {
    let (_pebble, challenges, config, _store) = eab_ca("d3JvbmcgaG1hYyBrZXkgZm9yIHBlYmJsZQ").await;
    let (issuer, metrics) = issuer(&config, &["shop.example.test"]);
    serve(&challenges, &issuer);

    let failed = issuer.obtain("shop.example.test").await;

    let Err(ObtainError::Failed { reason, .. }) = &failed else { panic!("the order fails: {failed:?}") };
    assert!(reason.contains("external account binding (EAB"), "the error names EAB: {reason}");
    assert!(reason.contains("acme.eab_key_id \"kid-1\""), "and the key id to check: {reason}");
    assert!(issuer.certificate("shop.example.test").is_none());
    assert_eq!((outcome(&metrics, "failed"), outcome(&metrics, "issued")), (1.0, 0.0));
}
