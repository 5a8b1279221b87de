use std::io::Write;

use super::*;

fn load_str(toml: &str) -> Result<Config, ConfigError> {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(toml.as_bytes()).unwrap();
    Config::load(file.path())
}

#[test]
fn defaults_are_valid_and_documented_values() {
    let config = Config::default();
    config.validate().unwrap();
    assert_eq!(config.listen.http.to_string(), "0.0.0.0:8080");
    assert_eq!(config.listen.admin.to_string(), "127.0.0.1:9080");
    assert_eq!(config.zones, ["reviewapp.localhost"]);
}

#[test]
fn the_example_config_file_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/router.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let config = load_str(&text).unwrap();
    assert_eq!(config.zones, ["reviewapp.localhost"]);
}

#[test]
fn values_are_read_from_the_file() {
    let config = load_str(
        r#"
        workers = 2
        zones = ["apps.example.com"]
        [listen]
        http = "127.0.0.1:8081"
        [timeouts]
        connect = "250ms"
        [upstream]
        balance = "round_robin"
        "#,
    )
    .unwrap();
    assert_eq!(config.workers, 2);
    assert_eq!(config.listen.http.port(), 8081);
    assert_eq!(config.timeouts.connect, Duration::from_millis(250));
    assert_eq!(config.upstream.balance, Balance::RoundRobin);
    assert_eq!(config.listen.admin.port(), 9080, "unset keys keep their defaults");
}

#[test]
fn a_bad_address_names_the_key_the_value_and_the_file() {
    let err = load_str("[listen]\nhttp = \"8080\"\n").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("listen.http"));
    let text = err.to_string();
    assert!(text.contains("\"8080\"") && text.contains("0.0.0.0:8080"), "{text}");
    assert!(err.origin.as_deref().is_some_and(|o| o.ends_with(".toml")), "{err:?}");
}

#[test]
fn an_unknown_key_is_named_with_the_valid_ones() {
    let err = load_str("[listen]\nhtp = \"0.0.0.0:1\"\n").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("listen.htp"));
    assert!(err.problem.contains("http") && err.problem.contains("admin"), "{err}");
}

#[test]
fn bad_durations_and_enums_are_explained() {
    let err = load_str("[timeouts]\nidle = \"soon\"\n").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("timeouts.idle"));
    assert!(err.problem.contains("10s"), "{err}");
    let err = load_str("[upstream]\nbalance = \"random\"\n").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("upstream.balance"));
    assert!(err.problem.contains("round_robin"), "{err}");
}

#[test]
fn semantic_checks_name_the_key() {
    for (toml, key) in [
        ("zones = []", "zones"),
        ("zones = [\"ok.example\", \"Bad Zone\"]", "zones[1]"),
        ("[admin]\ntoken = \"short\"", "admin.token"),
        ("[timeouts]\nconnect = \"0s\"", "timeouts.connect"),
        ("log_level = \"info,=,\"", "log_level"),
        ("[upstream]\neject_after_failures = 0", "upstream.eject_after_failures"),
    ] {
        let err = load_str(toml).unwrap_err();
        assert_eq!(err.key.as_deref(), Some(key), "{toml}: {err}");
    }
}

#[test]
fn a_zero_control_duration_names_its_own_key() {
    for (toml, key) in [
        ("[control]\nactivity_interval = \"0s\"", "control.activity_interval"),
        ("[control]\nwake_timeout = \"0s\"", "control.wake_timeout"),
        ("[control]\nconnect_timeout = \"0s\"", "control.connect_timeout"),
        ("[control]\nresponse_timeout = \"0s\"", "control.response_timeout"),
    ] {
        let err = load_str(toml).unwrap_err();
        assert_eq!(err.key.as_deref(), Some(key), "{toml}: {err}");
    }
}

#[test]
fn bad_router_line_settings_name_their_key() {
    for (toml, key) in [
        ("[lines]\nsample = 1.5", "lines.sample"),
        ("[lines]\nsample_apps = { shop = -0.1 }", "lines.sample_apps.shop"),
        ("[lines]\nsample_apps = { \"Not An App\" = 0.5 }", "lines.sample_apps.Not An App"),
        ("[lines]\nqueue = 0", "lines.queue"),
        ("[lines]\nflush_interval = \"0s\"", "lines.flush_interval"),
        ("[lines]\nshared_key = \"\"", "lines.shared_key"),
        ("[lines]\nlogd = \"24224\"", "lines.logd"),
    ] {
        let err = load_str(toml).unwrap_err();
        assert_eq!(err.key.as_deref(), Some(key), "{toml}: {err}");
    }
    let ok = load_str("[lines]\nenabled = true\nlogd = \"127.0.0.1:24224\"\nsample_apps = { shop = 0.25 }").unwrap();
    assert!(ok.lines.enabled);
    assert!(!Config::default().lines.enabled, "off by default");
}

#[test]
fn a_missing_file_is_one_clear_error() {
    let err = Config::load(Path::new("/nonexistent/router.toml")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/router.toml"), "{err}");
}

#[test]
fn max_headers_is_capped_at_what_the_smuggling_check_reads() {
    assert_eq!(load_str("[limits]\nmax_headers = 128").unwrap().limits.max_headers, MAX_HEADERS);
    let err = load_str("[limits]\nmax_headers = 129").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("limits.max_headers"), "{err}");
    assert!(err.problem.contains("128"), "{err}");
}

#[test]
fn trusted_proxies_are_parsed_once_at_load() {
    let config = load_str("[clients]\ntrusted_proxies = [\"10.0.0.0/8\", \"2001:db8::/32\", \"192.0.2.7\"]").unwrap();
    let clients = &config.clients;
    assert!(clients.is_trusted("10.20.30.40".parse().unwrap()));
    assert!(clients.is_trusted("2001:db8::1".parse().unwrap()));
    assert!(clients.is_trusted("192.0.2.7".parse().unwrap()));
    assert!(!clients.is_trusted("192.0.2.8".parse().unwrap()));
    assert!(!Clients::default().is_trusted("127.0.0.1".parse().unwrap()), "nobody is trusted by default");

    let err = load_str("[clients]\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/40\"]").unwrap_err();
    assert!(err.key.as_deref().is_some_and(|k| k.starts_with("clients.trusted_proxies")), "{err}");
    assert!(err.problem.contains("10.0.0.0/40"), "{err}");
}

#[test]
fn allowed_upgrades_default_to_websocket_and_are_checked() {
    let clients = Clients::default();
    assert!(clients.allows_upgrade(b"websocket") && clients.allows_upgrade(b"WebSocket/13"));
    assert!(!clients.allows_upgrade(b"h2c") && !clients.allows_upgrade(b"websocket, h2c"));
    assert!(!clients.allows_upgrade(b"") && !clients.allows_upgrade(b" , "));
    let none = load_str("[clients]\nupgrades = []").unwrap();
    assert!(!none.clients.allows_upgrade(b"websocket"));
    let err = load_str("[clients]\nupgrades = [\"websocket\", \"h2c over tls\"]").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("clients.upgrades[1]"), "{err}");
}

#[test]
fn a_certificate_host_with_a_misplaced_wildcard_names_the_key() {
    let err = load_str("[[tls.certificates]]\nhosts = [\"a.*.example.com\"]\ncert = \"c\"\nkey = \"k\"\n").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("tls.certificates[0].hosts[0]") && text.contains("wildcard"), "{text}");
}

#[test]
fn tls_zone_settings_for_a_zone_the_router_does_not_serve_are_refused() {
    let err = load_str("[tls.zones.\"other.example\"]\nredirect = false\n").unwrap_err();
    assert!(err.to_string().contains("tls.zones.other.example"), "{err}");
    let err = load_str("[tls]\nhsts = \"forever\"\n").unwrap_err();
    assert!(err.to_string().contains("tls.hsts"), "{err}");
}

#[test]
fn bad_acme_values_are_refused_naming_the_key() {
    let cases = [
        ("directory = \"http://ca.example/dir\"", "acme.directory"),
        ("email = \"not-an-address\"", "acme.email"),
        ("eab_key_id = \"kid-1\"", "acme.eab_hmac_key"),
        ("eab_key_id = \"kid-1\"\neab_hmac_key = \"***\"", "acme.eab_hmac_key"),
        ("roots = [\"/nonexistent/ca.pem\"]", "acme.roots[0]"),
        ("renew_at = 1.0", "acme.renew_at"),
        ("backoff = \"10m\"\nbackoff_max = \"1m\"", "acme.backoff_max"),
        ("[acme.rate_limit]\nper_host = 0", "acme.rate_limit"),
        ("[acme.store]\nlock_ttl = \"1m\"", "acme.store.lock_ttl"),
        ("[acme.store]\nlock_ttl = \"25h\"", "acme.store.lock_ttl"),
        ("[acme.store]\nkind = \"control\"", "acme.store.kind"),
        ("[acme.store]\nkind = \"control\"\n[control]\nurl = \"http://127.0.0.1:9000\"", "acme.store.kind"),
    ];
    for (body, key) in cases {
        let err = load_str(&format!("[acme]\nenabled = true\n{body}\n")).unwrap_err().to_string();
        assert!(err.contains(&format!("\"{key}\"")), "{body}: {err}");
    }
    // Off, the section is not checked: the defaults of a router without ACME stay valid.
    load_str("[acme]\nrenew_at = 1.0\n").unwrap();
    let on = load_str("[acme]\nenabled = true\nemail = \"ops@example.com\"\n").unwrap();
    assert!((on.acme.renew_at - 2.0 / 3.0).abs() < 1e-9);
    let control = "[acme]\nenabled = true\n[acme.store]\nkind = \"control\"\n\
                   [control]\nurl = \"http://127.0.0.1:9000\"\ntoken = \"router-token-0123456789\"\n";
    assert_eq!(load_str(control).unwrap().acme.store.kind, super::acme::StoreKind::Control);
}
