//! The admin API: authentication, validation errors that name the field, versions,
//! ownership, health and metrics.

#![allow(clippy::unwrap_used)]

mod common;

use common::{TOKEN, start};
use slipway_tests::Backend;

#[tokio::test]
async fn the_route_api_needs_the_bearer_token() {
    let router = start(common::config()).await;
    for (method, path, body) in [
        ("GET", "/v1/routes", None),
        ("PUT", "/v1/routes/a", Some("{}")),
        ("DELETE", "/v1/routes/a", None),
        ("PUT", "/v1/routes", Some("{\"apps\":[]}")),
    ] {
        let reply = router.admin_call(method, path, body, None).await;
        assert_eq!(reply.status, 401, "{method} {path}");
        assert_eq!(reply.headers["www-authenticate"], "Bearer");
        assert_eq!(reply.json()["error"]["code"], "unauthorized");
        let reply = router.admin_call(method, path, body, Some("wrong-token-wrong-token")).await;
        assert_eq!(reply.status, 401, "{method} {path} with a wrong token");
    }
    assert_eq!(router.admin_call("GET", "/v1/routes", None, Some(TOKEN)).await.status, 200);
    // Without a configured token, the API is closed to everyone.
    let mut config = common::config();
    config.admin.token = None;
    let closed = start(config).await;
    let reply = closed.admin_call("GET", "/v1/routes", None, Some(TOKEN)).await;
    assert_eq!(reply.status, 401);
    assert!(reply.text().contains("SLIPWAY_ROUTER__ADMIN__TOKEN"), "{}", reply.text());
    router.stop().await;
    closed.stop().await;
}

#[tokio::test]
async fn bad_bodies_get_400_naming_the_field() {
    let router = start(common::config()).await;
    let cases = [
        ("/v1/routes/shop", "{not json", "bad_json", None),
        ("/v1/routes/shop", r#"{"endpoints": "127.0.0.1:1"}"#, "bad_json", None),
        ("/v1/routes/shop", r#"{"endpoints": ["127.0.0.1:1"], "color": "red"}"#, "bad_json", None),
        ("/v1/routes/shop", r#"{"endpoints": ["127.0.0.1:1", "nope"]}"#, "invalid", Some("endpoints[1]")),
        ("/v1/routes/shop", r#"{"hosts": ["Bad Host"]}"#, "invalid", Some("hosts[0]")),
        ("/v1/routes/shop", r#"{"options": {"balance": "random"}}"#, "bad_json", None),
        ("/v1/routes/Shop_1", r#"{}"#, "invalid", Some("name")),
        (
            "/v1/routes",
            r#"{"apps": [{"name": "a"}, {"name": "b", "endpoints": ["x"]}]}"#,
            "invalid",
            Some("apps[1].endpoints[0]"),
        ),
        ("/v1/routes", r#"{"apps": [{"name": "a"}, {"name": "a"}]}"#, "invalid", Some("apps[1].name")),
    ];
    for (path, body, code, field) in cases {
        let reply = router.admin("PUT", path, Some(body)).await;
        assert_eq!(reply.status, 400, "{path} {body}: {}", reply.text());
        let error = &reply.json()["error"];
        assert_eq!(error["code"], code, "{body}: {error}");
        if let Some(field) = field {
            assert_eq!(error["field"], field, "{body}: {error}");
        }
    }
    // serde names the field too for type errors.
    let reply = router.admin("PUT", "/v1/routes/shop", Some(r#"{"endpoints": [1]}"#)).await;
    assert!(reply.json()["error"]["message"].as_str().unwrap().contains("endpoints"), "{}", reply.text());
    // Nothing was applied.
    assert_eq!(router.admin("GET", "/v1/routes", None).await.json()["apps"], serde_json::json!([]));
    router.stop().await;
}

#[tokio::test]
async fn a_replace_with_an_older_version_gets_409() {
    let router = start(common::config()).await;
    let reply = router.admin("PUT", "/v1/routes", Some(r#"{"version": 7, "apps": [{"name": "a"}]}"#)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["version"], 7);
    let reply = router.admin("PUT", "/v1/routes", Some(r#"{"version": 6, "apps": []}"#)).await;
    assert_eq!(reply.status, 409);
    assert_eq!(reply.json()["error"]["code"], "stale_version");
    assert_eq!(reply.json()["error"]["current_version"], 7);
    let list = router.admin("GET", "/v1/routes", None).await.json();
    assert_eq!(list["version"], 7);
    assert_eq!(list["apps"][0]["name"], "a");
    // Single-app changes step the version.
    assert_eq!(router.put_app("b", &[]).await, 8);
    router.stop().await;
}

#[tokio::test]
async fn a_replace_with_the_current_version_is_a_no_op_or_409_never_a_change_without_a_new_version() {
    let router = start(common::config()).await;
    let set = r#"{"version": 7, "apps": [{"name": "a"}]}"#;
    assert_eq!(router.admin("PUT", "/v1/routes", Some(set)).await.status, 200);
    // A re-send of the same set (a retry) changes nothing and answers 200.
    let reply = router.admin("PUT", "/v1/routes", Some(set)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["version"], 7);
    // Another set with the same version is refused.
    let reply = router.admin("PUT", "/v1/routes", Some(r#"{"version": 7, "apps": [{"name": "b"}]}"#)).await;
    assert_eq!(reply.status, 409, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], "stale_version");
    assert_eq!(reply.json()["error"]["current_version"], 7);
    let list = router.admin("GET", "/v1/routes", None).await.json();
    assert_eq!(list["version"], 7);
    let names: Vec<&str> = list["apps"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a"]);
    router.stop().await;
}

#[tokio::test]
async fn a_replace_version_that_would_overflow_is_refused_and_the_table_keeps_counting() {
    let router = start(common::config()).await;
    let reply = router.admin("PUT", "/v1/routes", Some(r#"{"version": 18446744073709551615, "apps": []}"#)).await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.json()["error"]["field"], "version");
    assert!(reply.json()["error"]["message"].as_str().unwrap().contains("9007199254740991"), "{}", reply.text());
    assert_eq!(router.admin("GET", "/v1/routes", None).await.json()["version"], 0);
    // The highest version is accepted, and the single-app changes after it still count up.
    let reply = router.admin("PUT", "/v1/routes", Some(r#"{"version": 9007199254740991, "apps": []}"#)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(router.put_app("b", &[]).await, 9_007_199_254_740_992);
    assert_eq!(router.put_app("c", &[]).await, 9_007_199_254_740_993);
    router.stop().await;
}

#[tokio::test]
async fn apps_can_be_listed_shown_and_deleted() {
    let router = start(common::config()).await;
    let app = Backend::start("app").await;
    let body = serde_json::json!({
        "hosts": ["shop.example.com"],
        "endpoints": [app.endpoint()],
        "options": { "balance": "round_robin", "max_concurrent_requests": 5, "response_timeout": "2s" }
    });
    router.put_app_json("shop", &body.to_string()).await;
    let list = router.admin("GET", "/v1/routes", None).await.json();
    assert_eq!(list["apps"][0]["name"], "shop");
    assert_eq!(list["apps"][0]["options"], body["options"]);
    let shown = router.admin("GET", "/v1/routes/shop", None).await.json();
    assert_eq!(shown["source"], "admin");
    assert_eq!(shown["endpoints"][0]["address"], app.endpoint());
    assert_eq!(router.admin("DELETE", "/v1/routes/shop", None).await.status, 200);
    assert_eq!(router.get("shop", "/").await.status, 404);
    let reply = router.admin("DELETE", "/v1/routes/shop", None).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"]["code"], "no_such_app");
    assert_eq!(router.admin("GET", "/v1/routes/shop", None).await.status, 404);
    router.stop().await;
}

#[tokio::test]
async fn a_custom_host_cannot_take_another_apps_address() {
    let router = start(common::config()).await;
    router.put_app_json("a", r#"{"hosts": ["www.example.com"]}"#).await;
    let reply = router.admin("PUT", "/v1/routes/b", Some(r#"{"hosts": ["www.example.com"]}"#)).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["field"], "hosts[0]");
    let zone_name = format!(r#"{{"hosts": ["a.{}"]}}"#, common::ZONE);
    let reply = router.admin("PUT", "/v1/routes/b", Some(&zone_name)).await;
    assert_eq!(reply.status, 400, "app b cannot claim a.<zone>: {}", reply.text());
    router.stop().await;
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served_without_the_token() {
    let router = start(common::config()).await;
    let app = Backend::start("app").await;
    router.put_app("app", &[app.endpoint()]).await;
    for _ in 0..3 {
        router.get("app", "/").await;
    }
    assert_eq!(router.admin_call("GET", "/healthz", None, None).await.status, 200);
    assert_eq!(router.admin_call("GET", "/readyz", None, None).await.status, 200);
    let metrics = router.admin_call("GET", "/metrics", None, None).await;
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    for needle in [
        r#"slipway_router_requests_total{app="app",class="2xx"} 3"#,
        r#"slipway_router_request_duration_seconds_count{app="app"} 3"#,
        "slipway_router_route_table_version 1",
        "slipway_router_route_table_apps 1",
        "slipway_router_route_table_endpoints 1",
        "slipway_router_open_connections",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    // Removing the app removes its series.
    router.admin("DELETE", "/v1/routes/app", None).await;
    let text = router.admin_call("GET", "/metrics", None, None).await.text();
    assert!(!text.contains(r#"app="app""#), "{text}");
    router.stop().await;
}
