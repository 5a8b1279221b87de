use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Values {
    #[serde(deserialize_with = "super::addr")]
    addr: SocketAddr,
    #[serde(default, deserialize_with = "super::opt_addr")]
    maybe: Option<SocketAddr>,
    #[serde(deserialize_with = "super::duration")]
    wait: Duration,
}

fn parse(text: &str) -> Result<Values, String> {
    toml::from_str::<Values>(text).map_err(|e| e.message().to_owned())
}

#[test]
fn good_values_parse() {
    let v = parse("addr = \"[::1]:80\"\nmaybe = \"127.0.0.1:9\"\nwait = \"1m 30s\"").unwrap();
    assert_eq!(v.addr.to_string(), "[::1]:80");
    assert_eq!(v.maybe.map(|a| a.to_string()).as_deref(), Some("127.0.0.1:9"));
    assert_eq!(v.wait, Duration::from_secs(90));
}

#[test]
fn an_empty_optional_address_is_unset() {
    assert_eq!(parse("addr = \"0.0.0.0:1\"\nmaybe = \"\"\nwait = \"1s\"").unwrap().maybe, None);
    assert_eq!(parse("addr = \"0.0.0.0:1\"\nwait = \"1s\"").unwrap().maybe, None);
}

#[test]
fn bad_values_are_shown_with_an_example() {
    let e = parse("addr = \"8080\"\nwait = \"1s\"").unwrap_err();
    assert_eq!(e, "\"8080\" is not an address like \"0.0.0.0:8080\" or \"[::1]:8080\"");
    let e = parse("addr = \"0.0.0.0:1\"\nwait = \"soon\"").unwrap_err();
    assert!(e.starts_with("\"soon\" is not a duration like \"500ms\", \"10s\" or \"2m\""), "{e}");
}

#[derive(Debug, Deserialize)]
struct Every {
    #[serde(deserialize_with = "super::duration_or_off")]
    every: Option<Duration>,
}

#[test]
fn a_duration_or_off_is_none_for_off_and_names_a_bad_value() {
    let every = |text: &str| toml::from_str::<Every>(text).map(|v| v.every).map_err(|e| e.message().to_owned());
    assert_eq!(every("every = \"off\"").unwrap(), None);
    assert_eq!(every("every = \"24h\"").unwrap(), Some(Duration::from_secs(86400)));
    let bad = every("every = \"daily\"").unwrap_err();
    assert!(bad.starts_with("\"daily\" is not \"off\" or a duration like \"24h\""), "{bad}");
}
