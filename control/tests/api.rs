//! The API over real HTTP: authentication, validation, JSON errors, resources, the route
//! stream and log tokens. (Running apps: `runtime.rs`; the whole platform: `tests/`.)

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{ROUTER_TOKEN, SIGNING_KEY, TOKEN, start, start_with};
use serde_json::json;
use slipway_tests::stream;

fn code(reply: &slipway_tests::Reply) -> (u16, String) {
    (reply.status.as_u16(), reply.json()["error"]["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn requests_without_the_right_token_get_401_and_the_router_token_only_reaches_router_endpoints() {
    let s = start().await;
    let none = s.call("GET", "/v1/apps", None, Bytes::new(), None).await;
    assert_eq!(code(&none), (401, "unauthorized".into()));
    assert_eq!(none.headers["www-authenticate"], "Bearer");
    assert!(none.json()["error"]["message"].as_str().unwrap().contains("missing bearer token"));
    let wrong = s.call("GET", "/v1/apps", None, Bytes::new(), Some("not-the-token-at-all")).await;
    assert_eq!(code(&wrong), (401, "unauthorized".into()));
    let router = s.call("GET", "/v1/apps", None, Bytes::new(), Some(ROUTER_TOKEN)).await;
    assert_eq!(code(&router), (403, "forbidden".into()));
    assert_eq!(s.call("GET", "/v1/routes", None, Bytes::new(), Some(ROUTER_TOKEN)).await.status, 200);
    assert_eq!(s.call("GET", "/v1/routes", None, Bytes::new(), None).await.status, 401);
    let activity = Bytes::from(r#"{"apps":{"x":3}}"#);
    let reported = s.call("POST", "/v1/router/activity", Some("application/json"), activity, Some(ROUTER_TOKEN)).await;
    assert_eq!(reported.status, 204);
    // Health needs no token.
    assert_eq!(s.call("GET", "/healthz", None, Bytes::new(), None).await.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn app_names_must_be_dns_labels_of_at_most_63_characters() {
    let s = start().await;
    let long = "a".repeat(64);
    for bad in ["", "Shop", "-shop", "shop-", "a_b", "a.b", "ça", long.as_str()] {
        let reply = s.api("POST", "/v1/apps", Some(json!({ "name": bad }))).await;
        assert_eq!(code(&reply), (400, "invalid".into()), "{bad:?}: {}", reply.text());
        assert_eq!(reply.json()["error"]["field"], "name");
    }
    let ok = s.ok("POST", "/v1/apps", Some(json!({ "name": "a".repeat(63) })), 201).await;
    assert_eq!(ok["release"], 1);
    let app = s.ok("POST", "/v1/apps", Some(json!({ "name": "pr-42-shop", "sleep_after": "30m" })), 201).await;
    assert_eq!(app["url"], "http://pr-42-shop.test.localhost:8080");
    assert_eq!(app["sleep_after"], "30m");
    let taken = s.api("POST", "/v1/apps", Some(json!({ "name": "pr-42-shop" }))).await;
    assert_eq!(code(&taken), (409, "conflict".into()));
    let bad_sleep = s.api("POST", "/v1/apps", Some(json!({ "name": "x", "sleep_after": "soon" }))).await;
    assert_eq!(code(&bad_sleep), (400, "invalid".into()));
    assert_eq!(bad_sleep.json()["error"]["field"], "sleep_after");
    let names: Vec<String> = s
        .ok("GET", "/v1/apps", None, 200)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["a".repeat(63), "pr-42-shop".into()]);
    s.stop().await;
}

#[tokio::test]
async fn unknown_apps_get_404_everywhere() {
    let s = start().await;
    let calls = [
        ("GET", "/v1/apps/nope", None),
        ("PATCH", "/v1/apps/nope", Some(json!({}))),
        ("DELETE", "/v1/apps/nope", None),
        ("GET", "/v1/apps/nope/config", None),
        ("PATCH", "/v1/apps/nope/config", Some(json!({ "A": "1" }))),
        ("GET", "/v1/apps/nope/releases", None),
        ("GET", "/v1/apps/nope/releases/1", None),
        ("POST", "/v1/apps/nope/releases/rollback", Some(json!({}))),
        ("POST", "/v1/apps/nope/deploys", Some(json!({ "url": "/nowhere" }))),
        ("GET", "/v1/apps/nope/formation", None),
        ("PATCH", "/v1/apps/nope/formation", Some(json!({ "web": 1 }))),
        ("GET", "/v1/apps/nope/dynos", None),
        ("POST", "/v1/apps/nope/dynos/restart", Some(json!({}))),
        ("GET", "/v1/apps/nope/domains", None),
        ("POST", "/v1/apps/nope/domains", Some(json!({ "hostname": "x.example.com" }))),
        ("POST", "/v1/apps/nope/log-token", None),
        ("POST", "/v1/apps/nope/wake", None),
    ];
    for (method, path, body) in calls {
        let reply = s.api(method, path, body).await;
        assert_eq!(code(&reply), (404, "not_found".into()), "{method} {path}: {}", reply.text());
        assert_eq!(reply.json()["error"]["message"], "app \"nope\" not found");
    }
    let tarball =
        s.call("POST", "/v1/apps/nope/deploys", Some("application/gzip"), Bytes::from_static(b"x"), Some(TOKEN)).await;
    assert_eq!(code(&tarball), (404, "not_found".into()));
    s.stop().await;
}

#[tokio::test]
async fn bad_json_gets_400_and_other_mistakes_their_own_status() {
    let s = start().await;
    let send =
        |body: &'static str| s.call("POST", "/v1/apps", Some("application/json"), Bytes::from(body), Some(TOKEN));
    for body in ["{", "[]", r#"{"name": 7}"#, r#"{"name": "a", "colour": "red"}"#, ""] {
        let reply = send(body).await;
        assert_eq!(code(&reply), (400, "bad_json".into()), "{body:?}: {}", reply.text());
    }
    let untyped = s.call("POST", "/v1/apps", None, Bytes::from(r#"{"name":"a"}"#), Some(TOKEN)).await;
    assert_eq!(code(&untyped), (415, "unsupported_media_type".into()));
    let huge = Bytes::from(format!(r#"{{"name":"{}"}}"#, "a".repeat(2 * 1024 * 1024)));
    let too_large = s.call("POST", "/v1/apps", Some("application/json"), huge, Some(TOKEN)).await;
    assert_eq!(code(&too_large), (413, "too_large".into()));
    assert_eq!(code(&s.api("GET", "/v1/nothing-here", None).await), (404, "not_found".into()));
    assert_eq!(code(&s.api("PUT", "/v1/apps", None).await), (405, "method_not_allowed".into()));
    s.ok("POST", "/v1/apps", Some(json!({ "name": "shop" })), 201).await;
    assert_eq!(code(&s.api("GET", "/v1/apps/shop/releases/latest", None).await), (400, "invalid".into()));
    assert_eq!(code(&s.api("GET", "/v1/apps/shop/releases/99", None).await), (404, "not_found".into()));
    let scale = s.api("PATCH", "/v1/apps/shop/formation", Some(json!({ "web": "two" }))).await;
    assert_eq!(code(&scale), (400, "bad_json".into()));
    s.stop().await;
}

#[tokio::test]
async fn config_changes_make_releases_and_no_change_makes_none() {
    let s = start().await;
    s.ok("POST", "/v1/apps", Some(json!({ "name": "shop" })), 201).await;
    assert_eq!(s.ok("GET", "/v1/apps/shop/config", None, 200).await, json!({}));
    let set = s
        .ok("PATCH", "/v1/apps/shop/config", Some(json!({ "GREETING": "hi", "DATABASE_URL": "postgres://x" })), 200)
        .await;
    assert_eq!(set["changed"], true);
    assert_eq!(set["release"]["version"], 2);
    assert_eq!(set["release"]["description"], "Set DATABASE_URL, GREETING");
    assert_eq!(set["release"]["current"], true);
    let same = s.ok("PATCH", "/v1/apps/shop/config", Some(json!({ "GREETING": "hi" })), 200).await;
    assert_eq!((same["changed"].as_bool(), same["release"]["version"].as_u64()), (Some(false), Some(2)));
    let unset = s.ok("PATCH", "/v1/apps/shop/config", Some(json!({ "GREETING": null, "B": "2" })), 200).await;
    assert_eq!(unset["release"]["description"], "Set B; Unset GREETING");
    assert_eq!(unset["config"], json!({ "B": "2", "DATABASE_URL": "postgres://x" }));

    for (body, field) in
        [(json!({ "1X": "a" }), "1X"), (json!({ "PORT": "80" }), "PORT"), (json!({ "A-B": "a" }), "A-B")]
    {
        let reply = s.api("PATCH", "/v1/apps/shop/config", Some(body)).await;
        assert_eq!(code(&reply), (400, "invalid".into()));
        assert_eq!(reply.json()["error"]["field"], field);
    }
    assert_eq!(code(&s.api("PATCH", "/v1/apps/shop/config", Some(json!({}))).await), (400, "invalid".into()));

    // Releases keep their own config: v2's snapshot did not move.
    let v2 = s.ok("GET", "/v1/apps/shop/releases/v2", None, 200).await;
    assert_eq!(v2["config"], json!({ "DATABASE_URL": "postgres://x", "GREETING": "hi" }));
    assert_eq!(v2["current"], false);
    let rolled = s.ok("POST", "/v1/apps/shop/releases/rollback", Some(json!({})), 201).await;
    assert_eq!((rolled["version"].as_u64(), rolled["description"].as_str()), (Some(4), Some("Rollback to v2")));
    assert_eq!(s.ok("GET", "/v1/apps/shop/config", None, 200).await["GREETING"], "hi");
    let states: Vec<(u64, bool)> = s
        .ok("GET", "/v1/apps/shop/releases", None, 200)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["version"].as_u64().unwrap(), r["current"].as_bool().unwrap()))
        .collect();
    assert_eq!(states, [(4, true), (3, false), (2, false), (1, false)]);
    s.stop().await;
}

#[tokio::test]
async fn a_first_release_has_nothing_to_roll_back_to_or_scale() {
    let s = start().await;
    s.ok("POST", "/v1/apps", Some(json!({ "name": "shop" })), 201).await;
    let rollback = s.api("POST", "/v1/apps/shop/releases/rollback", Some(json!({}))).await;
    assert_eq!(code(&rollback), (400, "invalid".into()));
    assert!(rollback.json()["error"]["message"].as_str().unwrap().contains("nothing to roll back to"));
    let scale = s.api("PATCH", "/v1/apps/shop/formation", Some(json!({ "web": 1 }))).await;
    assert_eq!(code(&scale), (400, "invalid".into()));
    assert!(scale.json()["error"]["message"].as_str().unwrap().contains("deploy first"));
    assert_eq!(s.ok("GET", "/v1/apps/shop/formation", None, 200).await, json!([]));
    let restart = s.api("POST", "/v1/apps/shop/dynos/restart", Some(json!({ "target": "web.1" }))).await;
    assert_eq!(code(&restart), (404, "not_found".into()));
    let bad_target = s.api("POST", "/v1/apps/shop/dynos/restart", Some(json!({ "target": "web.x" }))).await;
    assert_eq!(code(&bad_target), (400, "invalid".into()));
    s.stop().await;
}

#[tokio::test]
async fn domains_are_checked_unique_and_published_as_route_hosts() {
    let s = start().await;
    s.ok("POST", "/v1/apps", Some(json!({ "name": "shop" })), 201).await;
    s.ok("POST", "/v1/apps", Some(json!({ "name": "blog" })), 201).await;
    let added = s.ok("POST", "/v1/apps/shop/domains", Some(json!({ "hostname": "Shop.Example.COM." })), 201).await;
    assert_eq!(added["hostname"], "shop.example.com");
    for bad in ["localhost", "bad host.com", "blog.test.localhost", "test.localhost", "-x.example.com"] {
        let reply = s.api("POST", "/v1/apps/shop/domains", Some(json!({ "hostname": bad }))).await;
        assert_eq!(code(&reply), (400, "invalid".into()), "{bad:?}: {}", reply.text());
        assert_eq!(reply.json()["error"]["field"], "hostname");
    }
    let taken = s.api("POST", "/v1/apps/blog/domains", Some(json!({ "hostname": "shop.example.com" }))).await;
    assert_eq!(code(&taken), (409, "conflict".into()));
    let routes = s.ok("GET", "/v1/routes", None, 200).await;
    let shop = routes["apps"].as_array().unwrap().iter().find(|a| a["name"] == "shop").unwrap().clone();
    assert_eq!(shop, json!({ "name": "shop", "hosts": ["shop.example.com"], "endpoints": [], "options": {} }));
    s.ok("DELETE", "/v1/apps/shop/domains/shop.example.com", None, 204).await;
    assert_eq!(code(&s.api("DELETE", "/v1/apps/shop/domains/shop.example.com", None).await), (404, "not_found".into()));
    assert_eq!(s.ok("GET", "/v1/apps/shop/domains", None, 200).await, json!([]));
    s.stop().await;
}

#[tokio::test]
async fn the_route_stream_starts_with_a_snapshot_then_changes_and_resumes_from_a_version() {
    let s = start().await;
    s.ok("POST", "/v1/apps", Some(json!({ "name": "before" })), 201).await;
    let auth = format!("Bearer {ROUTER_TOKEN}");
    let mut first = stream::sse(s.api, "/v1/routes?watch=true", &[("authorization", &auth)]).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.headers["content-type"], "text/event-stream");
    let snapshot = first.next_data().await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    let v0: u64 = snapshot.id.clone().unwrap().parse().unwrap();
    let data = snapshot.json();
    assert_eq!((data["type"].as_str(), data["version"].as_u64()), (Some("snapshot"), Some(v0)));
    assert_eq!(data["apps"][0]["name"], "before");
    // The body parses as the router's own type.
    serde_json::from_str::<slipway_router::spec::RouteEvent>(&snapshot.data).unwrap();

    s.ok("POST", "/v1/apps", Some(json!({ "name": "shop" })), 201).await;
    s.ok("POST", "/v1/apps/shop/domains", Some(json!({ "hostname": "shop.example.com" })), 201).await;
    s.ok("DELETE", "/v1/apps/before", None, 204).await;
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = first.next_data().await.unwrap();
        seen.push((event.event.clone(), event.id.clone().unwrap().parse::<u64>().unwrap(), event.json()));
    }
    assert_eq!(
        seen.iter().map(|(k, v, _)| (k.as_str(), *v)).collect::<Vec<_>>(),
        [("upsert", v0 + 1), ("upsert", v0 + 2), ("remove", v0 + 3)]
    );
    assert_eq!(seen[1].2["app"]["hosts"], json!(["shop.example.com"]));
    assert_eq!(seen[2].2, json!({ "type": "remove", "version": v0 + 3, "name": "before" }));

    // A router resuming from v0+1 gets exactly what it missed.
    let resume = (v0 + 1).to_string();
    let mut resumed =
        stream::sse(s.api, "/v1/routes?watch=true", &[("authorization", &auth), ("last-event-id", &resume)]).await;
    let missed = [resumed.next_data().await.unwrap(), resumed.next_data().await.unwrap()];
    assert_eq!(
        missed.iter().map(|e| (e.event.as_str(), e.id.clone().unwrap())).collect::<Vec<_>>(),
        [("upsert", (v0 + 2).to_string()), ("remove", (v0 + 3).to_string())]
    );
    // One resuming from a version the log does not cover (older, or another run's) gets a snapshot.
    for stale in ["1", &(v0 + 1000).to_string(), "garbage"] {
        let mut fresh =
            stream::sse(s.api, "/v1/routes?watch=true", &[("authorization", &auth), ("last-event-id", stale)]).await;
        let event = fresh.next_data().await.unwrap();
        assert_eq!((event.event.as_str(), event.id.clone().unwrap()), ("snapshot", (v0 + 3).to_string()), "{stale}");
        assert_eq!(event.json()["apps"].as_array().unwrap().len(), 1);
    }
    // Without watch: the current set.
    let set = s.ok("GET", "/v1/routes", None, 200).await;
    assert_eq!(set["version"], v0 + 3);
    assert_eq!(set["apps"][0]["name"], "shop");
    s.stop().await;
}

#[tokio::test]
async fn idle_route_streams_get_heartbeats() {
    let s = start_with(|c| c.routes.heartbeat = Duration::from_millis(100)).await;
    let auth = format!("Bearer {TOKEN}");
    let mut routes = stream::sse(s.api, "/v1/routes?watch=true", &[("authorization", &auth)]).await;
    assert_eq!(routes.next_data().await.unwrap().event, "snapshot");
    let beat = tokio::time::timeout(Duration::from_secs(10), routes.next_event()).await.unwrap().unwrap();
    assert_eq!((beat.data.as_str(), beat.comments.as_slice()), ("", &["heartbeat".to_owned()][..]));
    s.stop().await;
}

#[tokio::test]
async fn log_tokens_are_signed_with_logds_signer_for_one_app() {
    let s = start().await;
    s.ok("POST", "/v1/apps", Some(json!({ "name": "shop" })), 201).await;
    let missing = s.api("POST", "/v1/apps/shop/log-token", None).await;
    assert_eq!(code(&missing), (503, "not_configured".into()));
    s.stop().await;

    let s = start_with(|c| {
        c.logd.url = Some("http://127.0.0.1:8090/".into());
        c.logd.signing_key = Some(SIGNING_KEY.into());
        c.logd.token_ttl = Duration::from_secs(600);
    })
    .await;
    s.ok("POST", "/v1/apps", Some(json!({ "name": "shop" })), 201).await;
    let token = s.ok("POST", "/v1/apps/shop/log-token", None, 200).await;
    let text = token["token"].as_str().unwrap();
    let signer = slipway_logd::Signer::new(SIGNING_KEY.as_bytes()).unwrap();
    let now = slipway_logd::token::now();
    let claims = signer.verify(text, now).unwrap();
    assert_eq!(claims.app, "shop");
    assert_eq!(claims.scope.as_deref(), Some("logs:read"));
    assert!(claims.exp > now + 590 && claims.exp <= now + 601, "{claims:?}");
    assert_eq!(token["stream_url"], "http://127.0.0.1:8090/v1/apps/shop/logs");
    assert_eq!(token["viewer_url"], format!("http://127.0.0.1:8090/apps/shop?token={text}"));
    assert!(slipway_logd::Signer::new(b"another key, thirty-two bytes long!").unwrap().verify(text, now).is_err());
    s.stop().await;
}

#[tokio::test]
async fn deploys_refuse_bad_sources_with_clear_errors() {
    let s = start().await;
    s.ok("POST", "/v1/apps", Some(json!({ "name": "shop" })), 201).await;
    let no_procfile = s.deploy_files("shop", &[("app.py", "print('hi')")]).await;
    assert_eq!(code(&no_procfile), (422, "bad_source".into()));
    assert!(no_procfile.json()["error"]["message"].as_str().unwrap().contains("no Procfile"));
    let bad_procfile = s.deploy_files("shop", &[("Procfile", "web python3 app.py\n")]).await;
    assert_eq!(code(&bad_procfile), (422, "bad_source".into()));
    assert!(
        bad_procfile.json()["error"]["message"].as_str().unwrap().contains("Procfile: line 1"),
        "{}",
        bad_procfile.text()
    );
    let not_gzip = s
        .call("POST", "/v1/apps/shop/deploys", Some("application/gzip"), Bytes::from_static(b"plain"), Some(TOKEN))
        .await;
    assert_eq!(code(&not_gzip), (422, "bad_source".into()));
    let empty = s.call("POST", "/v1/apps/shop/deploys", Some("application/gzip"), Bytes::new(), Some(TOKEN)).await;
    assert_eq!(code(&empty), (400, "bad_request".into()));
    let text = s.call("POST", "/v1/apps/shop/deploys", Some("text/plain"), Bytes::from_static(b"x"), Some(TOKEN)).await;
    assert_eq!(code(&text), (415, "unsupported_media_type".into()));
    let helper = s.api("POST", "/v1/apps/shop/deploys", Some(json!({ "url": "ext::sh -c touch% /tmp/pwned" }))).await;
    assert_eq!(code(&helper), (400, "invalid".into()));
    assert_eq!(helper.json()["error"]["field"], "url");
    let bad_ref =
        s.api("POST", "/v1/apps/shop/deploys", Some(json!({ "url": "/srv/repo", "ref": "--upload-pack=x" }))).await;
    assert_eq!((code(&bad_ref), bad_ref.json()["error"]["field"].as_str()), ((400, "invalid".into()), Some("ref")));
    let missing = s
        .api("POST", "/v1/apps/shop/deploys", Some(json!({ "url": s.dir.path().join("no-repo").to_str().unwrap() })))
        .await;
    assert_eq!(code(&missing), (422, "bad_source".into()));
    assert!(missing.json()["error"]["message"].as_str().unwrap().starts_with("git clone: "), "{}", missing.text());
    // Nothing was released.
    assert_eq!(s.ok("GET", "/v1/apps/shop/releases", None, 200).await.as_array().unwrap().len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn uploads_over_the_limit_are_refused() {
    let s = start_with(|c| c.deploy.max_upload_bytes = 4096).await;
    s.ok("POST", "/v1/apps", Some(json!({ "name": "shop" })), 201).await;
    let big = Bytes::from(vec![7u8; 64 * 1024]);
    let reply = s.call("POST", "/v1/apps/shop/deploys", Some("application/gzip"), big, Some(TOKEN)).await;
    assert_eq!(code(&reply), (413, "too_large".into()));
    s.stop().await;
}

#[tokio::test]
async fn waking_an_awake_app_is_a_no_op_and_activity_is_accepted() {
    let s = start().await;
    s.ok("POST", "/v1/apps", Some(json!({ "name": "shop" })), 201).await;
    let woken = s.call("POST", "/v1/apps/shop/wake", None, Bytes::new(), Some(ROUTER_TOKEN)).await;
    assert_eq!(woken.status, 202);
    assert_eq!(woken.json(), json!({ "waking": false }));
    let bad = s
        .call(
            "POST",
            "/v1/router/activity",
            Some("application/json"),
            Bytes::from_static(b"{\"apps\":[]}"),
            Some(ROUTER_TOKEN),
        )
        .await;
    assert_eq!(code(&bad), (400, "bad_json".into()));
    // Routers name themselves and the route version they applied; a bad id is refused.
    let report = |body: &'static str| {
        s.call(
            "POST",
            "/v1/router/activity",
            Some("application/json"),
            Bytes::from_static(body.as_bytes()),
            Some(ROUTER_TOKEN),
        )
    };
    let named = report(r#"{"apps":{},"router":"router-1","routes_version":5}"#).await;
    assert_eq!(named.status, 204, "{}", named.text());
    assert_eq!(s.server.as_ref().unwrap().platform().routes.routers().count(), 1);
    let badly_named = report(r#"{"apps":{},"router":"no spaces please"}"#).await;
    assert_eq!(code(&badly_named), (400, "invalid".into()));
    assert_eq!(badly_named.json()["error"]["field"], "router");
    s.stop().await;
}

/// The per-app locks that order one app's operations leave nothing behind: destroyed
/// apps, and names that never were apps, have no entry once their calls answered.
#[tokio::test]
async fn destroyed_apps_leave_no_per_app_lock_behind() {
    let s = start().await;
    let platform = s.server.as_ref().unwrap().platform().clone();
    for i in 0..5 {
        let app = format!("short-lived-{i}");
        s.ok("POST", "/v1/apps", Some(json!({ "name": app })), 201).await;
        s.ok("PATCH", &format!("/v1/apps/{app}"), Some(json!({ "sleep_after": "2h" })), 200).await;
        s.ok("PATCH", &format!("/v1/apps/{app}/config"), Some(json!({ "A": "1" })), 200).await;
        s.ok("DELETE", &format!("/v1/apps/{app}"), None, 204).await;
    }
    assert_eq!(s.api("PATCH", "/v1/apps/never-was/formation", Some(json!({ "web": 1 }))).await.status, 404);
    assert_eq!(platform.app_locks(), 0);
    s.stop().await;
}
