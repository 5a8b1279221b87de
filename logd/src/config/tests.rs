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
    assert_eq!(config.listen.forward.to_string(), "0.0.0.0:24224");
    assert_eq!(config.listen.http.to_string(), "0.0.0.0:8090");
    assert_eq!(config.forward.max_frame_bytes, 16 * 1024 * 1024);
}

#[test]
fn the_example_config_file_loads_with_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/logd.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let config = load_str(&text).unwrap();
    let d = Config::default();
    assert_eq!(config.listen.forward, d.listen.forward);
    assert_eq!(config.listen.http, d.listen.http);
    assert_eq!(config.rules.app, d.rules.app);
    assert_eq!(config.rules.dyno, d.rules.dyno);
    assert_eq!(config.history.max_bytes_total, d.history.max_bytes_total);
    assert_eq!(config.persistence.fsync, d.persistence.fsync);
    assert_eq!(config.http.heartbeat, d.http.heartbeat);
    assert_eq!(config.forward.idle_timeout, d.forward.idle_timeout);
    assert_eq!(config.forward.frame_timeout, d.forward.frame_timeout);
    assert_eq!(config.forward.frame_min_rate, d.forward.frame_min_rate);
    assert_eq!(config.forward.max_buffered_bytes, d.forward.max_buffered_bytes);
    assert_eq!(
        config.rules.tag_pattern.as_ref().map(|r| r.as_str().to_owned()),
        d.rules.tag_pattern.as_ref().map(|r| r.as_str().to_owned())
    );
}

#[test]
fn values_are_read_from_the_file() {
    let config = load_str(
        r#"
        [listen]
        forward = "127.0.0.1:24000"
        [rules]
        app = ["namespace", "key:kubernetes.labels.app"]
        fallback_app = "unassigned"
        [persistence]
        dir = "/var/lib/slipway/logd"
        fsync = "interval"
        fsync_interval = "250ms"
        "#,
    )
    .unwrap();
    assert_eq!(config.listen.forward.port(), 24000);
    assert_eq!(
        config.rules.app,
        [RuleSource::Namespace, RuleSource::Key(vec!["kubernetes".into(), "labels".into(), "app".into()])]
    );
    assert_eq!(config.persistence.fsync, Fsync::Interval);
    assert_eq!(config.persistence.fsync_interval, Duration::from_millis(250));
    assert_eq!(config.listen.http.port(), 8090, "unset keys keep their defaults");
}

#[test]
fn bad_values_name_the_key_the_value_and_the_file() {
    let err = load_str("[listen]\nforward = \"24224\"\n").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("listen.forward"));
    assert!(err.to_string().contains("\"24224\""), "{err}");
    assert!(err.origin.as_deref().is_some_and(|o| o.ends_with(".toml")), "{err:?}");
    let err = load_str("[rules]\napp = [\"podname\"]\n").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("rules.app.0"), "{err}");
    assert!(err.problem.contains("key:<path>"), "{err}");
    let err = load_str("[rules]\ntag_pattern = \"(\"\n").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("rules.tag_pattern"));
    let err = load_str("[persistence]\nfsync = \"sometimes\"\n").unwrap_err();
    assert!(err.problem.contains("always"), "{err}");
}

#[test]
fn an_unknown_key_is_named_with_the_valid_ones() {
    let err = load_str("[listen]\nforwrd = \"0.0.0.0:1\"\n").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("listen.forwrd"));
    assert!(err.problem.contains("forward") && err.problem.contains("http"), "{err}");
}

#[test]
fn semantic_checks_name_the_key() {
    for (toml, key) in [
        ("[auth]\nsigning_key = \"short\"", "auth.signing_key"),
        ("[auth]\nadmin_token = \"short\"", "auth.admin_token"),
        ("[forward]\nmax_frame_bytes = 10", "forward.max_frame_bytes"),
        ("[forward]\nusers = [{ username = \"a\", password = \"b\" }]", "forward.users"),
        ("[listen]\nforward_tls = \"0.0.0.0:24225\"", "forward.tls"),
        ("[rules]\ntag_pattern = \"^x$\"", "rules.app"),
        ("[rules]\nfallback_app = \"Not An App\"", "rules.fallback_app"),
        ("[http]\ncors_origins = [\"example.com\"]", "http.cors_origins[0]"),
        ("[http]\nheartbeat = \"0s\"", "http.heartbeat"),
        ("[history]\nmax_bytes_total = 2000", "history.max_bytes_total"),
        ("[forward]\nidle_timeout = \"0s\"", "forward.idle_timeout"),
        ("[forward]\nframe_timeout = \"0s\"", "forward.frame_timeout"),
        ("[forward]\nmax_buffered_bytes = 1000000", "forward.max_buffered_bytes"),
        ("log_level = \"info,=,\"", "log_level"),
    ] {
        let err = load_str(toml).unwrap_err();
        assert_eq!(err.key.as_deref(), Some(key), "{toml}: {err}");
    }
}

#[test]
fn a_missing_file_is_one_clear_error() {
    let err = Config::load(Path::new("/nonexistent/logd.toml")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/logd.toml"), "{err}");
}

#[test]
fn the_forward_buffer_cap_must_leave_room_for_every_connections_read() {
    let err = load_str("[forward]\nmax_connections = 100\nmax_buffered_bytes = 400000").unwrap_err();
    assert!(err.problem.contains("at least 475136"), "{err}");
    let config = load_str("[forward]\nmax_connections = 100\nmax_buffered_bytes = 475136").unwrap();
    assert_eq!(config.forward.max_buffered_bytes, 475_136);
}
