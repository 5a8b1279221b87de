use serde_json::json;

use super::*;

fn rules() -> Rules {
    Rules { ingress_class: "slipway".into(), legacy_annotation: true, app_mode: true, serve_terminating: true }
}

fn from<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Arc<T> {
    Arc::new(serde_json::from_value(value).expect("a valid object"))
}

fn service(name: &str, ports: serde_json::Value) -> Arc<Service> {
    from(json!({"metadata": {"name": name, "namespace": "ns"}, "spec": {"ports": ports}}))
}

fn slice(service: &str, ports: serde_json::Value, endpoints: serde_json::Value) -> Arc<EndpointSlice> {
    from(json!({
        "metadata": {"name": format!("{service}-x"), "namespace": "ns",
                     "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4", "ports": ports, "endpoints": endpoints,
    }))
}

#[test]
fn ports_resolve_by_name_and_only_ready_endpoints_serve() {
    let objects = Objects {
        ingresses: vec![from(json!({
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"ingressClassName": "slipway", "rules": [{"host": "Shop.Example", "http": {"paths": [
                {"path": "/api", "pathType": "Prefix", "backend": {"service": {"name": "api", "port": {"name": "http"}}}},
                {"path": "/", "pathType": "ImplementationSpecific", "backend": {"service": {"name": "api", "port": {"number": 81}}}},
            ]}}]},
        }))],
        classes: vec![],
        services: vec![service("api", json!([{"name": "http", "port": 80}, {"name": "admin", "port": 81}]))],
        slices: vec![slice(
            "api",
            json!([{"name": "http", "port": 8080}, {"name": "admin", "port": 9090}]),
            json!([
                {"addresses": ["10.0.0.1"], "conditions": {"ready": true}},
                {"addresses": ["10.0.0.2"], "conditions": {"ready": false}},
                {"addresses": ["10.0.0.3"]},
            ]),
        )],
    };
    let apps = apps(&objects, &rules());
    let http = &apps["k8s-ns-api-http"];
    assert_eq!(http.endpoints, ["10.0.0.1:8080", "10.0.0.3:8080"], "unset `ready` counts as ready");
    assert_eq!(http.paths, [PathRoute { host: "shop.example".into(), path: "/api".into(), kind: PathMatch::Prefix }]);
    assert_eq!(apps["k8s-ns-api-81"].endpoints, ["10.0.0.1:9090", "10.0.0.3:9090"]);
}

#[test]
fn terminating_endpoints_serve_only_when_none_is_ready() {
    let endpoints =
        json!([{"addresses": ["10.0.0.9"], "conditions": {"ready": false, "serving": true, "terminating": true}}]);
    let objects = Objects {
        services: vec![from(json!({
            "metadata": {"name": "web", "namespace": "ns", "labels": {"slipway.dev/app": "shop"}},
            "spec": {"ports": [{"port": 80}]},
        }))],
        slices: vec![slice("web", json!([{"port": 5000}]), endpoints)],
        ..Objects::default()
    };
    assert_eq!(apps(&objects, &rules())["shop"].endpoints, ["10.0.0.9:5000"]);
    let no_drain = Rules { serve_terminating: false, ..rules() };
    assert!(apps(&objects, &no_drain)["shop"].endpoints.is_empty());
}

#[test]
fn other_classes_are_ignored_and_long_names_still_make_app_names() {
    let ingress = |name: &str, class: serde_json::Value, annotations: serde_json::Value| {
        from::<Ingress>(json!({
            "metadata": {"name": name, "namespace": "ns", "annotations": annotations},
            "spec": {"ingressClassName": class, "defaultBackend": {"service": {"name": "a-very-long-service-name-that-goes-on-and-on-and-on", "port": {"number": 80}}},
                     "rules": [{"host": format!("{name}.example")}]},
        }))
    };
    let objects = Objects {
        ingresses: vec![
            ingress("nginx", json!("nginx"), json!({})),
            ingress("classed", json!("ours"), json!({})),
            ingress("legacy", json!(null), json!({"kubernetes.io/ingress.class": "slipway"})),
        ],
        classes: vec![from(json!({"metadata": {"name": "ours"}, "spec": {"controller": "slipway.dev/router"}}))],
        ..Objects::default()
    };
    let apps = apps(&objects, &rules());
    assert_eq!(apps.len(), 1, "{apps:?}");
    let (name, app) = apps.iter().next().expect("one app");
    assert!(slipway_config::app_name::is_valid(name), "{name}");
    let hosts: Vec<&str> = app.paths.iter().map(|p| p.host.as_str()).collect();
    assert_eq!(hosts, ["classed.example", "legacy.example"]);
}
