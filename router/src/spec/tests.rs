use super::*;

fn app(name: &str) -> AppRoutes {
    AppRoutes {
        name: name.into(),
        hosts: vec![],
        endpoints: vec![],
        dynos: Default::default(),
        paths: Vec::new(),
        options: AppOptions::default(),
    }
}

#[test]
fn endpoints_parse_addresses_and_names() {
    assert_eq!("127.0.0.1:3000".parse(), Ok(EndpointAddr::Socket("127.0.0.1:3000".parse().unwrap())));
    assert_eq!("[::1]:80".parse(), Ok(EndpointAddr::Socket("[::1]:80".parse().unwrap())));
    assert_eq!("Web:3000".parse(), Ok(EndpointAddr::Named("web".into(), 3000)));
    for bad in ["", "3000", "host", "host:0", "host:99999", "a b:80", "1.2.3.4:0"] {
        assert!(bad.parse::<EndpointAddr>().is_err(), "{bad:?} accepted");
    }
}

#[test]
fn validation_names_the_field() {
    let mut a = app("shop");
    a.endpoints = vec!["127.0.0.1:1".into(), "nope".into()];
    assert_eq!(a.validate().unwrap_err().field, "endpoints[1]");
    let mut a = app("shop");
    a.hosts = vec!["x.example".into(), "x.example".into()];
    assert_eq!(a.validate().unwrap_err().field, "hosts[1]");
    let a = app("Shop");
    let err = a.validate().unwrap_err().within("apps[4]");
    assert_eq!(err.field, "apps[4].name");
}

#[test]
fn route_events_are_tagged_json() {
    let event = RouteEvent::Remove { version: 9, name: "shop".into() };
    let json = serde_json::to_string(&event).unwrap();
    assert_eq!(json, r#"{"type":"remove","version":9,"name":"shop"}"#);
    assert_eq!(serde_json::from_str::<RouteEvent>(&json).unwrap(), event);
    let snapshot: RouteEvent = serde_json::from_str(r#"{"type":"snapshot","version":1,"apps":[]}"#).unwrap();
    assert_eq!((snapshot.kind(), snapshot.version()), ("snapshot", 1));
}

#[test]
fn json_shape_is_stable() {
    let json = r#"{"name":"shop","hosts":["shop.example.com"],"endpoints":["127.0.0.1:3000"],
            "options":{"balance":"round_robin","max_concurrent_requests":5,"response_timeout":"1m 30s"}}"#;
    let a: AppRoutes = serde_json::from_str(json).unwrap();
    assert_eq!(a.options.balance, Some(Balance::RoundRobin));
    assert_eq!(a.options.response_timeout, Some(Duration::from_secs(90)));
    let back: AppRoutes = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
    assert_eq!(a, back);
    assert!(serde_json::from_str::<AppRoutes>(r#"{"name":"a","endpoint":[]}"#).is_err());
}

#[test]
fn dyno_names_must_name_an_endpoint_and_be_plain() {
    let mut a = app("shop");
    a.endpoints = vec!["127.0.0.1:3000".into()];
    a.dynos = [("127.0.0.1:3000".to_owned(), "web.1".to_owned())].into();
    assert!(a.validate().is_ok());
    let json = serde_json::to_string(&a).unwrap();
    assert!(json.contains(r#""dynos":{"127.0.0.1:3000":"web.1"}"#), "{json}");
    assert!(!serde_json::to_string(&app("quiet")).unwrap().contains("dynos"), "omitted when empty");

    a.dynos = [("127.0.0.1:4000".to_owned(), "web.1".to_owned())].into();
    assert_eq!(a.validate().unwrap_err().field, "dynos.127.0.0.1:4000");
    a.dynos = [("127.0.0.1:3000".to_owned(), "web 1\"".to_owned())].into();
    assert_eq!(a.validate().unwrap_err().field, "dynos.127.0.0.1:3000");
}
