use super::*;

fn host_of(req: Request<()>) -> Result<String, HostError> {
    routing_host(&req).map(Cow::into_owned)
}

fn with_host(value: &str) -> Request<()> {
    Request::builder().uri("/").header(HOST, value).body(()).unwrap()
}

#[test]
fn host_header_is_lower_cased_without_port() {
    assert_eq!(host_of(with_host("Shop.Reviewapp.Localhost:8080")).unwrap(), "shop.reviewapp.localhost");
    assert_eq!(host_of(with_host("shop.reviewapp.localhost.")).unwrap(), "shop.reviewapp.localhost");
    assert_eq!(host_of(with_host("[::1]:8080")).unwrap(), "[::1]");
}

#[test]
fn authority_wins_over_host_header() {
    let req = Request::builder().uri("http://a.zone:80/x").header(HOST, "b.zone").body(()).unwrap();
    assert_eq!(host_of(req).unwrap(), "a.zone");
}

#[test]
fn unusable_hosts_are_refused() {
    assert_eq!(host_of(Request::builder().uri("/").body(()).unwrap()), Err(HostError::Missing));
    let two = Request::builder().uri("/").header(HOST, "a.zone").header(HOST, "b.zone").body(()).unwrap();
    assert_eq!(host_of(two), Err(HostError::Duplicate));
    for bad in ["", ":80", "a zone", "a/b", "a.zone:http", "a.zone:123456", "[::1", "a\u{e9}.zone"] {
        assert!(host_of(with_host(bad)).is_err(), "{bad:?} accepted");
    }
}
