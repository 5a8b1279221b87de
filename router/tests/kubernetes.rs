//! The router as an ingress controller: its Kubernetes source against the stand-in API
//! server of `slipway_tests::servers::kube` (real HTTP, the real list/watch protocol,
//! kube-rs's watchers on the router's side) and real backends.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{TestRouter, config, start};
use serde_json::{Value, json};
use slipway_tests::servers::{KubeApi, KubeKind};
use slipway_tests::{Backend, client, eventually};

const WAIT: Duration = Duration::from_secs(30);

async fn router_for(api: &KubeApi, tune: impl FnOnce(&mut slipway_router::Config)) -> TestRouter {
    let mut config = config();
    config.kubernetes.enabled = true;
    config.kubernetes.api_url = Some(api.url());
    config.kubernetes.batch_delay = Duration::from_millis(50);
    tune(&mut config);
    let router = start(config).await;
    eventually("the kubernetes source is synced", WAIT, async || {
        (router.admin_call("GET", "/readyz", None, None).await.status == 200).then_some(())
    })
    .await;
    router
}

fn port_of(backend: &Backend) -> u16 {
    backend.endpoint().rsplit_once(':').unwrap().1.parse().unwrap()
}

fn service(name: &str, ports: Value, labels: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": "shop", "labels": labels},
           "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "ports": ports}})
}

/// An EndpointSlice of `service` with one backend per endpoint (all on the port named
/// `port_name`; a slice has one port list, so each backend, on its own port, is a slice).
fn slice(name: &str, service: &str, port_name: &str, backend: &Backend, conditions: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": "shop",
                        "labels": {"kubernetes.io/service-name": service, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
           "addressType": "IPv4",
           "ports": [{"name": port_name, "port": port_of(backend), "protocol": "TCP"}],
           "endpoints": [{"addresses": ["127.0.0.1"], "conditions": conditions, "nodeName": "node-1"}]})
}

fn ready() -> Value {
    json!({"ready": true, "serving": true, "terminating": false})
}

fn ingress(name: &str, class: &str, host: &str, paths: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": "shop"},
           "spec": {"ingressClassName": class, "rules": [{"host": host, "http": {"paths": paths}}]}})
}

fn path(path: &str, kind: &str, service: &str, port: Value) -> Value {
    json!({"path": path, "pathType": kind, "backend": {"service": {"name": service, "port": port}}})
}

/// Which backend answered `GET path` for `host`, or the status when none did.
async fn backend_of(router: &TestRouter, host: &str, path: &str) -> String {
    let reply = client::get(router.http, host, path).await;
    if reply.status != 200 {
        return reply.status.as_u16().to_string();
    }
    reply.json()["backend"].as_str().unwrap().to_owned()
}

async fn until_served(router: &TestRouter, host: &str, path: &str, backend: &str) {
    eventually(&format!("{host}{path} served by {backend}"), WAIT, async || {
        (backend_of(router, host, path).await == backend).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_ingress_routes_host_and_paths_to_its_services_longest_match_first() {
    let api = KubeApi::start().await;
    let (web, api_backend, health) =
        (Backend::start("web").await, Backend::start("api").await, Backend::start("health").await);
    api.apply_all(vec![
        (KubeKind::Service, service("web", json!([{"name": "http", "port": 80, "targetPort": "http"}]), json!({}))),
        (KubeKind::Service, service("api", json!([{"name": "api", "port": 8080, "targetPort": 9000}]), json!({}))),
        (KubeKind::Service, service("health", json!([{"port": 81}]), json!({}))),
        (KubeKind::EndpointSlice, slice("web-1", "web", "http", &web, ready())),
        (KubeKind::EndpointSlice, slice("api-1", "api", "api", &api_backend, ready())),
        (KubeKind::EndpointSlice, slice("health-1", "health", "", &health, ready())),
        (
            KubeKind::Ingress,
            ingress(
                "shop",
                "slipway",
                "shop.example",
                json!([
                    path("/", "Prefix", "web", json!({"name": "http"})),
                    path("/api", "ImplementationSpecific", "api", json!({"number": 8080})),
                    path("/api/v1/health", "Exact", "health", json!({"number": 81})),
                ]),
            ),
        ),
    ]);
    let router = router_for(&api, |_| {}).await;
    until_served(&router, "shop.example", "/cart", "web").await;
    assert_eq!(backend_of(&router, "shop.example", "/api").await, "api");
    assert_eq!(backend_of(&router, "shop.example", "/api/users").await, "api");
    assert_eq!(backend_of(&router, "shop.example", "/apix").await, "web", "prefixes match whole segments");
    assert_eq!(backend_of(&router, "shop.example", "/api/v1/health").await, "health");
    assert_eq!(backend_of(&router, "shop.example", "/api/v1/health/deep").await, "api", "Exact is exact");
    assert_eq!(backend_of(&router, "other.example", "/").await, "404");
    router.stop().await;
}

#[tokio::test]
async fn an_endpoint_turning_not_ready_leaves_the_rotation() {
    let api = KubeApi::start().await;
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    api.apply_all(vec![
        (KubeKind::Service, service("web", json!([{"name": "http", "port": 80}]), json!({}))),
        (KubeKind::EndpointSlice, slice("web-a", "web", "http", &a, ready())),
        (KubeKind::EndpointSlice, slice("web-b", "web", "http", &b, ready())),
        (
            KubeKind::Ingress,
            ingress("web", "slipway", "web.example", json!([path("/", "Prefix", "web", json!({"number": 80}))])),
        ),
    ]);
    let router = router_for(&api, |_| {}).await;
    until_served(&router, "web.example", "/", "a").await;
    until_served(&router, "web.example", "/", "b").await;

    api.apply(KubeKind::EndpointSlice, slice("web-b", "web", "http", &b, json!({"ready": false, "serving": false})));
    let app = "/v1/routes/k8s-shop-web-80";
    eventually("b leaves the app's endpoints", WAIT, async || {
        let endpoints = router.admin("GET", app, None).await.json()["endpoints"].clone();
        (endpoints.as_array().map(Vec::len) == Some(1)).then_some(())
    })
    .await;
    let before = b.hits();
    for _ in 0..10 {
        assert_eq!(backend_of(&router, "web.example", "/").await, "a");
    }
    assert_eq!(b.hits(), before, "a not-ready endpoint gets no request");
    router.stop().await;
}

#[tokio::test]
async fn an_ingress_of_another_class_is_ignored() {
    let api = KubeApi::start().await;
    let web = Backend::start("web").await;
    let only_path = json!([path("/", "Prefix", "web", json!({"number": 80}))]);
    api.apply_all(vec![
        (KubeKind::Service, service("web", json!([{"port": 80}]), json!({}))),
        (KubeKind::EndpointSlice, slice("web-1", "web", "", &web, ready())),
        (KubeKind::Ingress, ingress("theirs", "nginx", "theirs.example", only_path.clone())),
        (KubeKind::IngressClass, json!({"metadata": {"name": "edge"}, "spec": {"controller": "slipway.dev/router"}})),
        (KubeKind::Ingress, ingress("ours", "edge", "ours.example", only_path)),
    ]);
    let router = router_for(&api, |_| {}).await;
    until_served(&router, "ours.example", "/", "web").await;
    assert_eq!(backend_of(&router, "theirs.example", "/").await, "404");
    router.stop().await;
}

#[tokio::test]
async fn an_app_mode_service_routes_app_dot_zone_without_an_ingress() {
    let api = KubeApi::start().await;
    let web = Backend::start("pr-7").await;
    api.apply_all(vec![
        (
            KubeKind::Service,
            service("pr-7-web", json!([{"name": "web", "port": 80}]), json!({"slipway.dev/app": "pr-7"})),
        ),
        (KubeKind::EndpointSlice, slice("pr-7-web-1", "pr-7-web", "web", &web, ready())),
    ]);
    let router = router_for(&api, |_| {}).await;
    until_served(&router, &common::host("pr-7"), "/", "pr-7").await;
    api.delete(KubeKind::Service, "shop", "pr-7-web");
    until_served(&router, &common::host("pr-7"), "/", "404").await;
    router.stop().await;
}

#[tokio::test]
async fn a_410_gone_makes_the_source_relist_and_converge() {
    let api = KubeApi::start().await;
    let (old, new) = (Backend::start("old").await, Backend::start("new").await);
    api.apply_all(vec![
        (KubeKind::Service, service("web", json!([{"port": 80}]), json!({"slipway.dev/app": "web"}))),
        (KubeKind::EndpointSlice, slice("web-1", "web", "", &old, ready())),
    ]);
    let router = router_for(&api, |_| {}).await;
    until_served(&router, &common::host("web"), "/", "old").await;
    let lists = api.lists(KubeKind::EndpointSlice);

    // The change lands while the router is cut off, and the history it would resume from
    // is compacted away: only a new list can show it.
    api.set_available(false);
    api.apply(KubeKind::EndpointSlice, slice("web-1", "web", "", &new, ready()));
    api.compact();
    api.set_available(true);
    until_served(&router, &common::host("web"), "/", "new").await;
    assert!(api.lists(KubeKind::EndpointSlice) > lists, "the endpointslices were listed again");
    router.stop().await;
}

#[tokio::test]
async fn an_api_server_outage_keeps_serving_and_readyz_reports_the_source_stale() {
    let api = KubeApi::start().await;
    let web = Backend::start("web").await;
    api.apply_all(vec![
        (KubeKind::Service, service("web", json!([{"port": 80}]), json!({"slipway.dev/app": "web"}))),
        (KubeKind::EndpointSlice, slice("web-1", "web", "", &web, ready())),
    ]);
    let router = router_for(&api, |c| c.kubernetes.stale_after = Duration::from_millis(500)).await;
    until_served(&router, &common::host("web"), "/", "web").await;

    api.set_available(false);
    let readyz = eventually("/readyz reports the source stale", WAIT, async || {
        let reply = router.admin_call("GET", "/readyz", None, None).await;
        reply.text().contains("kubernetes: stale").then_some(reply)
    })
    .await;
    assert_eq!(readyz.status, 200, "a stale source leaves the router ready: {}", readyz.text());
    assert_eq!(backend_of(&router, &common::host("web"), "/").await, "web", "the last routes keep serving");
    assert!(router.metric("slipway_router_kubernetes_watch_errors_total{kind=\"endpointslice\"}") >= 1.0);

    api.set_available(true);
    eventually("/readyz no longer reports the source stale", WAIT, async || {
        let reply = router.admin_call("GET", "/readyz", None, None).await;
        (!reply.text().contains("stale")).then_some(())
    })
    .await;
    router.stop().await;
}

#[tokio::test]
async fn a_burst_of_changes_makes_a_bounded_number_of_table_updates() {
    const BURST: usize = 50;
    let api = KubeApi::start().await;
    let mut backends = Vec::with_capacity(BURST);
    for i in 0..BURST {
        backends.push(Backend::start(&format!("b{i}")).await);
    }
    api.apply(KubeKind::Service, service("web", json!([{"port": 80}]), json!({"slipway.dev/app": "web"})));
    let router = router_for(&api, |c| c.kubernetes.batch_delay = Duration::from_millis(500)).await;
    let updates = router.metric("slipway_router_kubernetes_table_updates_total");
    let events = router.metric("slipway_router_kubernetes_events_total{kind=\"endpointslice\"}");

    // One EndpointSlice per backend, all in one burst (back to back on the watch).
    let slices = backends
        .iter()
        .enumerate()
        .map(|(i, b)| (KubeKind::EndpointSlice, slice(&format!("web-{i}"), "web", "", b, ready())));
    api.apply_all(slices.collect());
    eventually("all the burst's endpoints are in the table", WAIT, async || {
        let endpoints = router.admin("GET", "/v1/routes/web", None).await.json()["endpoints"].clone();
        (endpoints.as_array().map(Vec::len) == Some(BURST)).then_some(())
    })
    .await;
    let events = router.metric("slipway_router_kubernetes_events_total{kind=\"endpointslice\"}") - events;
    let updates = router.metric("slipway_router_kubernetes_table_updates_total") - updates;
    assert!(events >= BURST as f64, "{events} events");
    assert!(updates <= 3.0, "{BURST} changes made {updates} table updates");
    router.stop().await;
}
