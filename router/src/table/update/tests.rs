use std::time::Duration;

use super::*;
use crate::spec::{AppOptions, PathMatch, PathRoute};

fn writer() -> (Arc<Routes>, RouteWriter) {
    let routes = Arc::new(Routes::new(&["zone.test".to_owned()]));
    let defaults = Defaults::for_tests();
    let writer = spawn_writer(routes.clone(), Arc::new(Metrics::new()), defaults);
    (routes, writer)
}

fn app(name: &str, hosts: &[&str], endpoints: &[&str]) -> AppRoutes {
    AppRoutes {
        name: name.into(),
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        endpoints: endpoints.iter().map(|e| e.to_string()).collect(),
        dynos: Default::default(),
        paths: Vec::new(),
        options: AppOptions::default(),
    }
}

#[tokio::test]
async fn an_upsert_is_served_when_apply_returns() {
    let (routes, w) = writer();
    let v = w.apply(Source::Admin, Change::Upsert(app("shop", &["shop.example"], &["127.0.0.1:1"]))).await.unwrap();
    assert_eq!(v, 1);
    assert_eq!(&*routes.lookup("shop.zone.test", "/").unwrap().name, "shop");
    assert_eq!(&*routes.lookup("shop.example", "/").unwrap().name, "shop");
    assert!(routes.lookup("other.zone.test", "/").is_none());
    assert_eq!(routes.snapshot().version, 1);
}

#[tokio::test]
async fn changing_endpoints_keeps_the_app_and_the_endpoints_that_stay() {
    let (routes, w) = writer();
    w.apply(Source::Admin, Change::Upsert(app("a", &[], &["127.0.0.1:1", "127.0.0.1:2"]))).await.unwrap();
    let before = routes.lookup("a.zone.test", "/").unwrap();
    let kept = before.state().endpoints[1].clone();
    w.apply(Source::Admin, Change::Upsert(app("a", &[], &["127.0.0.1:2", "127.0.0.1:3"]))).await.unwrap();
    let after = routes.lookup("a.zone.test", "/").unwrap();
    assert!(Arc::ptr_eq(&before, &after), "the app is updated in place");
    let state = after.state();
    assert!(Arc::ptr_eq(&state.endpoints[0], &kept), "127.0.0.1:2 keeps its Endpoint (pool, health)");
    assert_eq!(state.endpoints[1].addr.to_string(), "127.0.0.1:3");
}

#[tokio::test]
async fn replace_all_only_replaces_the_sources_own_apps() {
    let (routes, w) = writer();
    w.apply(Source::File, Change::Replace { version: None, apps: vec![app("f1", &[], &[]), app("f2", &[], &[])] })
        .await
        .unwrap();
    w.apply(Source::Admin, Change::Upsert(app("a1", &[], &[]))).await.unwrap();
    w.apply(Source::File, Change::Replace { version: None, apps: vec![app("f2", &[], &[])] }).await.unwrap();
    let table = routes.snapshot();
    let mut names: Vec<_> = table.apps().map(|a| a.name.to_string()).collect();
    names.sort();
    assert_eq!(names, ["a1", "f2"]);
    // An admin replace takes over f2 and drops a1 (its own), leaving nothing from the file.
    w.apply(Source::Admin, Change::Replace { version: None, apps: vec![app("f2", &[], &[])] }).await.unwrap();
    let table = routes.snapshot();
    assert_eq!(table.len(), 1);
    assert_eq!(table.app("f2").unwrap().state().source, Source::Admin);
}

#[tokio::test]
async fn an_older_version_is_refused_and_changes_nothing() {
    let (routes, w) = writer();
    let v =
        w.apply(Source::Admin, Change::Replace { version: Some(10), apps: vec![app("a", &[], &[])] }).await.unwrap();
    assert_eq!(v, 10);
    let err =
        w.apply(Source::Admin, Change::Replace { version: Some(9), apps: vec![app("b", &[], &[])] }).await.unwrap_err();
    assert_eq!(err, UpdateError::Stale { given: 9, current: 10 });
    assert!(routes.snapshot().app("a").is_some());
    // The same version again: a re-send of exactly what is served is a no-op...
    let again = Change::Replace { version: Some(10), apps: vec![app("a", &[], &[])] };
    assert_eq!(w.apply(Source::Admin, again).await.unwrap(), 10);
    // ...and any other set with it is refused: the routes never change without a new version.
    for apps in [vec![], vec![app("a", &[], &["127.0.0.1:1"])], vec![app("a", &[], &[]), app("b", &[], &[])]] {
        let err = w.apply(Source::Admin, Change::Replace { version: Some(10), apps }).await.unwrap_err();
        assert_eq!(err, UpdateError::Stale { given: 10, current: 10 });
    }
    let table = routes.snapshot();
    assert_eq!((table.version, table.len()), (10, 1));
    assert!(table.app("a").unwrap().state().endpoints.is_empty());
}

#[tokio::test]
async fn versions_that_would_overflow_are_refused_and_the_writer_keeps_going() {
    let (routes, w) = writer();
    let too_high = Change::Replace { version: Some(u64::MAX), apps: vec![app("a", &[], &[])] };
    let err = w.apply(Source::Admin, too_high).await.unwrap_err();
    assert!(matches!(&err, UpdateError::Invalid(e) if e.field == "version"), "{err}");
    assert!(routes.snapshot().is_empty());
    let highest = Change::Replace { version: Some(MAX_VERSION), apps: vec![] };
    assert_eq!(w.apply(Source::Admin, highest).await.unwrap(), MAX_VERSION);
    assert_eq!(w.apply(Source::Admin, Change::Upsert(app("b", &[], &[]))).await.unwrap(), MAX_VERSION + 1);

    // A table at u64::MAX (out of the API's reach) refuses every change instead of wrapping.
    routes.publish(RouteTable { version: u64::MAX, ..RouteTable::clone(&routes.snapshot()) });
    let exhausted = Err(UpdateError::VersionExhausted(u64::MAX));
    assert_eq!(w.apply(Source::Admin, Change::Upsert(app("c", &[], &[]))).await, exhausted);
    assert_eq!(w.apply(Source::Admin, Change::Remove("b".into())).await, exhausted);
    assert_eq!(w.apply(Source::Control, Change::Replace { version: None, apps: vec![] }).await, exhausted);
    let table = routes.snapshot();
    assert!(table.app("b").is_some() && table.app("c").is_none());
    assert_eq!(table.version, u64::MAX);
}

#[tokio::test]
async fn removing_an_app_wakes_whoever_waits_on_it() {
    let (routes, w) = writer();
    w.apply(Source::Admin, Change::Upsert(app("nap", &[], &[]))).await.unwrap();
    let app = routes.snapshot().app("nap").unwrap().clone();
    let changed = app.changed();
    let mut changed = std::pin::pin!(changed);
    changed.as_mut().enable();
    assert!(!app.is_removed());
    w.apply(Source::Admin, Change::Remove("nap".into())).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), changed).await.expect("the removal notifies the app's waiters");
    assert!(app.is_removed());
}

#[tokio::test]
async fn hosts_cannot_be_taken_from_another_app_or_its_zone_name() {
    let (routes, w) = writer();
    w.apply(Source::Admin, Change::Upsert(app("a", &["www.example"], &[]))).await.unwrap();
    let err = w.apply(Source::Admin, Change::Upsert(app("b", &["www.example"], &[]))).await.unwrap_err();
    assert!(matches!(&err, UpdateError::Invalid(e) if e.field == "hosts[0]"), "{err}");
    let err = w.apply(Source::Admin, Change::Upsert(app("b", &["a.zone.test"], &[]))).await.unwrap_err();
    assert!(matches!(&err, UpdateError::Invalid(e) if e.field == "hosts[0]"), "{err}");
    // Moving a host between two apps in one replace is fine.
    let swap = vec![app("a", &[], &[]), app("b", &["www.example"], &[])];
    w.apply(Source::Admin, Change::Replace { version: None, apps: swap }).await.unwrap();
    assert_eq!(&*routes.lookup("www.example", "/").unwrap().name, "b");
    // Within one replace, a host may be listed once.
    let twice = vec![app("a", &["x.example"], &[]), app("b", &["x.example"], &[])];
    let err = w.apply(Source::Admin, Change::Replace { version: None, apps: twice }).await.unwrap_err();
    assert!(matches!(&err, UpdateError::Invalid(e) if e.field == "apps[1].hosts[0]"), "{err}");
}

#[tokio::test]
async fn an_invalid_app_in_a_replace_names_it_and_changes_nothing() {
    let (routes, w) = writer();
    w.apply(Source::Admin, Change::Upsert(app("keep", &[], &[]))).await.unwrap();
    let bad = vec![app("ok", &[], &[]), app("bad", &[], &["nope"])];
    let err = w.apply(Source::Admin, Change::Replace { version: None, apps: bad }).await.unwrap_err();
    assert!(matches!(&err, UpdateError::Invalid(e) if e.field == "apps[1].endpoints[0]"), "{err}");
    let table = routes.snapshot();
    assert!(table.app("keep").is_some() && table.app("ok").is_none());
    assert_eq!(table.version, 1);
}

#[tokio::test]
async fn removing_an_unknown_app_is_not_found() {
    let (_routes, w) = writer();
    assert_eq!(
        w.apply(Source::Admin, Change::Remove("ghost".into())).await,
        Err(UpdateError::NotFound("ghost".into()))
    );
}

#[tokio::test]
async fn concurrent_changes_are_batched_and_each_answered() {
    let (routes, w) = writer();
    let tasks: Vec<_> = (0..500)
        .map(|i| {
            let w = w.clone();
            tokio::spawn(
                async move { w.apply(Source::Admin, Change::Upsert(app(&format!("app-{i}"), &[], &[]))).await },
            )
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let table = routes.snapshot();
    assert_eq!(table.len(), 500);
    assert_eq!(table.version, 500, "one version step per change, whatever the batching");
}

fn with_paths(name: &str, rules: &[(&str, &str, PathMatch)]) -> AppRoutes {
    let mut spec = app(name, &[], &["127.0.0.1:1"]);
    spec.paths = rules
        .iter()
        .map(|(host, path, kind)| PathRoute { host: (*host).into(), path: (*path).into(), kind: *kind })
        .collect();
    spec
}

fn routed(routes: &Routes, host: &str, path: &str) -> Option<String> {
    routes.lookup(host, path).map(|app| app.name.to_string())
}

#[tokio::test]
async fn path_rules_route_by_longest_match_with_exact_before_prefix() {
    let (routes, w) = writer();
    let changes = vec![
        Change::Upsert(with_paths("root", &[("shop.example", "/", PathMatch::Prefix)])),
        Change::Upsert(with_paths("api", &[("shop.example", "/api/", PathMatch::Prefix)])),
        Change::Upsert(with_paths("v1", &[("shop.example", "/api/v1", PathMatch::Prefix)])),
        Change::Upsert(with_paths("exact", &[("shop.example", "/api", PathMatch::Exact)])),
    ];
    w.apply(Source::Admin, Change::Batch(changes)).await.unwrap();
    assert_eq!(routed(&routes, "shop.example", "/").as_deref(), Some("root"));
    assert_eq!(routed(&routes, "shop.example", "/apis").as_deref(), Some("root"), "prefixes match whole segments");
    assert_eq!(routed(&routes, "shop.example", "/api").as_deref(), Some("exact"), "exact wins at equal length");
    assert_eq!(routed(&routes, "shop.example", "/api/").as_deref(), Some("api"));
    assert_eq!(routed(&routes, "shop.example", "/api/v1/users").as_deref(), Some("v1"));
    assert_eq!(routed(&routes, "shop.example", "/api/v10").as_deref(), Some("api"));
    assert_eq!(routes.snapshot().version, 4, "a batch raises the version per change");

    w.apply(Source::Admin, Change::Remove("root".into())).await.unwrap();
    assert_eq!(routed(&routes, "shop.example", "/other"), None, "no rule matches once `/` is gone");
    for name in ["api", "v1", "exact"] {
        w.apply(Source::Admin, Change::Remove(name.into())).await.unwrap();
    }
    assert!(routes.snapshot().hosts.get("shop.example").is_none(), "the host leaves with its last rule");
}

#[tokio::test]
async fn a_custom_domain_serves_the_paths_no_rule_matches_and_survives_the_rules() {
    let (routes, w) = writer();
    w.apply(Source::Admin, Change::Upsert(app("site", &["shop.example"], &["127.0.0.1:1"]))).await.unwrap();
    w.apply(Source::Admin, Change::Upsert(with_paths("api", &[("shop.example", "/api", PathMatch::Prefix)])))
        .await
        .unwrap();
    assert_eq!(routed(&routes, "shop.example", "/api/x").as_deref(), Some("api"));
    assert_eq!(routed(&routes, "shop.example", "/cart").as_deref(), Some("site"));
    w.apply(Source::Admin, Change::Remove("api".into())).await.unwrap();
    assert_eq!(routed(&routes, "shop.example", "/api/x").as_deref(), Some("site"));
    // A lone `/` rule is stored as a whole-host route; it is no custom domain, so the host
    // can still be taken by another app's `hosts`, and leaves with the rule.
    w.apply(Source::Admin, Change::Upsert(with_paths("lone", &[("lone.example", "/", PathMatch::Prefix)])))
        .await
        .unwrap();
    assert_eq!(routed(&routes, "lone.example", "/x").as_deref(), Some("lone"));
    w.apply(Source::Admin, Change::Remove("lone".into())).await.unwrap();
    assert_eq!(routed(&routes, "lone.example", "/x"), None);
}

#[tokio::test]
async fn a_wildcard_rule_serves_one_label_and_exact_hosts_win() {
    let (routes, w) = writer();
    w.apply(Source::Admin, Change::Upsert(with_paths("any", &[("*.apps.example", "/", PathMatch::Prefix)])))
        .await
        .unwrap();
    w.apply(Source::Admin, Change::Upsert(app("own", &["own.apps.example"], &["127.0.0.1:1"]))).await.unwrap();
    assert_eq!(routed(&routes, "a.apps.example", "/").as_deref(), Some("any"));
    assert_eq!(routed(&routes, "own.apps.example", "/").as_deref(), Some("own"));
    assert_eq!(routed(&routes, "a.b.apps.example", "/"), None, "one label only");
    assert_eq!(routed(&routes, "apps.example", "/"), None);
    w.apply(Source::Admin, Change::Remove("any".into())).await.unwrap();
    assert_eq!(routed(&routes, "a.apps.example", "/"), None);
    assert_eq!(routes.snapshot().wildcards, 0);
}

#[tokio::test]
async fn a_path_rule_another_app_holds_is_refused() {
    let (routes, w) = writer();
    w.apply(Source::Admin, Change::Upsert(with_paths("a", &[("x.example", "/api", PathMatch::Prefix)]))).await.unwrap();
    let taken = w.apply(Source::Admin, Change::Upsert(with_paths("b", &[("x.example", "/api/", PathMatch::Prefix)])));
    assert!(matches!(taken.await, Err(UpdateError::Invalid(e)) if e.problem.contains("already routes to app \"a\"")));
    let zone = w.apply(Source::Admin, Change::Upsert(with_paths("b", &[("a.zone.test", "/", PathMatch::Prefix)])));
    assert!(matches!(zone.await, Err(UpdateError::Invalid(e)) if e.field == "paths[0].host"));
    assert_eq!(routed(&routes, "x.example", "/api").as_deref(), Some("a"));
}
