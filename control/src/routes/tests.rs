use super::*;
use std::time::Duration;

fn kinds(events: &[RouteEvent]) -> Vec<(&'static str, u64)> {
    events.iter().map(|e| (e.kind(), e.version())).collect()
}

#[test]
fn changes_bump_the_version_once_and_no_ops_do_not() {
    let hub = RouteHub::new(100, Duration::from_secs(30));
    let v0 = hub.version();
    hub.set_app("shop", vec!["shop.example.com".into()], false);
    hub.set_app("shop", vec!["shop.example.com".into()], false);
    assert!(hub.set_endpoints("shop", vec!["127.0.0.1:2".into(), "127.0.0.1:1".into()]));
    assert!(hub.set_endpoints("shop", vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()]));
    assert!(!hub.set_endpoints("nope", vec!["127.0.0.1:1".into()]), "unknown apps are not created by the runtime");
    assert_eq!(hub.version(), v0 + 2);
    let set = hub.route_set();
    assert_eq!(set.version, Some(v0 + 2));
    assert_eq!(set.apps[0].endpoints, ["127.0.0.1:1", "127.0.0.1:2"]);
    hub.remove_app("shop");
    hub.remove_app("shop");
    assert_eq!(hub.version(), v0 + 3);
    assert!(hub.route_set().apps.is_empty());
}

#[test]
fn asleep_apps_are_sleeping_only_while_they_have_no_endpoints() {
    let hub = RouteHub::new(100, Duration::from_secs(30));
    hub.set_app("nap", vec![], true);
    assert!(hub.route_set().apps[0].options.sleeping);
    hub.set_endpoints("nap", vec!["127.0.0.1:9".into()]);
    assert!(!hub.route_set().apps[0].options.sleeping, "woken: requests flow as soon as a dyno is up");
    hub.set_endpoints("nap", vec![]);
    assert!(hub.route_set().apps[0].options.sleeping);
}

#[test]
fn hosts_and_the_asleep_flag_change_independently() {
    let hub = RouteHub::new(100, Duration::from_secs(30));
    hub.set_app("nap", vec![], true);
    let v0 = hub.version();
    assert!(hub.set_hosts("nap", vec!["nap.example.com".into(), "nap.example.com".into()]));
    let app = &hub.route_set().apps[0];
    assert!(app.options.sleeping, "a domain change keeps the app asleep");
    assert_eq!(app.hosts, ["nap.example.com"]);
    assert!(hub.set_asleep("nap", false));
    assert!(hub.set_asleep("nap", false));
    let app = &hub.route_set().apps[0];
    assert!(!app.options.sleeping);
    assert_eq!(app.hosts, ["nap.example.com"], "waking keeps the domains");
    assert_eq!(hub.version(), v0 + 2);
    assert!(!hub.set_hosts("nope", vec![]) && !hub.set_asleep("nope", true), "unknown apps are not created");
}

#[test]
fn resuming_gets_the_missed_events_or_a_snapshot() {
    let hub = RouteHub::new(3, Duration::from_secs(30));
    let v0 = hub.version();
    assert!(matches!(hub.catch_up(None), CatchUp::Snapshot(RouteEvent::Snapshot { version, .. }) if version == v0));
    hub.set_app("a", vec![], false);
    hub.set_app("b", vec![], false);
    let CatchUp::Events(events) = hub.catch_up(Some(v0)) else { panic!("events expected") };
    assert_eq!(kinds(&events), [("upsert", v0 + 1), ("upsert", v0 + 2)]);
    let CatchUp::Events(events) = hub.catch_up(Some(v0 + 1)) else { panic!("events expected") };
    assert_eq!(kinds(&events), [("upsert", v0 + 2)]);
    assert_eq!(hub.catch_up(Some(v0 + 2)), CatchUp::UpToDate);
    hub.remove_app("a");
    hub.set_app("c", vec![], false);
    // The log holds v0+2..=v0+4 now: v0+1 is covered (its successor is there), v0 is not.
    assert!(matches!(hub.catch_up(Some(v0 + 1)), CatchUp::Events(e) if e.len() == 3));
    let CatchUp::Snapshot(RouteEvent::Snapshot { version, apps }) = hub.catch_up(Some(v0)) else {
        panic!("snapshot expected")
    };
    assert_eq!(version, v0 + 4);
    assert_eq!(apps.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["b", "c"]);
    // A version from the future (another run of the control plane) gets a snapshot.
    assert!(matches!(hub.catch_up(Some(v0 + 1000)), CatchUp::Snapshot(_)));
}

#[test]
fn events_are_framed_as_server_sent_events() {
    let event = RouteEvent::Remove { version: 7, name: "shop".into() };
    assert_eq!(
        &sse(&event)[..],
        b"id: 7\nevent: remove\ndata: {\"type\":\"remove\",\"version\":7,\"name\":\"shop\"}\n\n"
    );
}

#[test]
fn endpoints_carry_their_dyno_names_for_the_routers_lines() {
    let hub = RouteHub::new(100, Duration::from_secs(30));
    hub.set_app("shop", vec![], false);
    let endpoints = vec![("127.0.0.1:2".to_owned(), Some("web.2".to_owned())), ("127.0.0.1:1".to_owned(), None)];
    assert!(hub.set_dyno_endpoints("shop", endpoints));
    let app = &hub.route_set().apps[0];
    assert_eq!(app.endpoints, ["127.0.0.1:1", "127.0.0.1:2"]);
    assert_eq!(app.dynos, [("127.0.0.1:2".to_owned(), "web.2".to_owned())].into());
    assert!(app.validate().is_ok());
    hub.set_endpoints("shop", vec!["127.0.0.1:1".into()]);
    assert!(hub.route_set().apps[0].dynos.is_empty());
}
