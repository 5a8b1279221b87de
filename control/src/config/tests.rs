use std::io::Write;

use super::*;

fn load(toml: &str) -> Result<Config, ConfigError> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(toml.as_bytes()).unwrap();
    Config::load(file.path())
}

#[test]
fn the_shipped_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/control.toml");
    let text = std::fs::read_to_string(path).unwrap();
    // The shipped file leaves the token to the environment; give one here.
    assert!(text.contains("# token = \"...\""), "the [auth] section shows the token commented out");
    let text = text.replacen("# token = \"...\"", "token = \"0123456789abcdef\"", 1);
    let config = load(&text).unwrap_or_else(|e| panic!("{e}"));
    let defaults = Config { auth: config.auth.clone(), ..Config::default() };
    assert_eq!(format!("{config:?}"), format!("{defaults:?}"), "config/control.toml shows the defaults");
}

#[test]
fn a_token_is_required() {
    let e = load("").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("auth.token"));
    let e = load("[auth]\ntoken = \"short\"\n").unwrap_err();
    assert!(e.to_string().contains("at least 16"), "{e}");
    assert!(load("[auth]\ntoken = \"0123456789abcdef\"\n").is_ok());
}

#[test]
fn bad_values_name_the_key() {
    let cases = [
        ("[listen]\napi = \"9000\"\n", "listen.api"),
        ("[runtime]\nboot_timeout = \"soon\"\n", "runtime.boot_timeout"),
        ("[runtime]\nstop_grace = \"0s\"\n", "runtime.stop_grace"),
        ("[apps]\nurl = \"http://example.com\"\n", "apps.url"),
        ("[apps]\nzones = [\"Bad Zone\"]\n", "apps.zones[0]"),
        ("[logd]\nforward = \"nope\"\n", "logd.forward"),
        ("[logd]\nsigning_key = \"short\"\n", "logd.signing_key"),
        ("[logd]\nurl = \"ftp://x\"\n", "logd.url"),
        ("[routes]\nheartbeat = \"30s\"\n", "routes.heartbeat"),
        ("[routes]\nrouter_timeout = \"0s\"\n", "routes.router_timeout"),
        ("[runtime]\ndrain_delay = \"5s\"\ndrain_timeout = \"1s\"\n", "runtime.drain_timeout"),
        ("[database]\nurl = \"postgres://x\"\n", "database.url"),
        ("[nope]\nx = 1\n", "nope"),
        ("[runtime]\nshel = \"/bin/sh\"\n", "runtime.shel"),
        ("[runtime]\none_off_limit = 0\n", "runtime.one_off_limit"),
        ("[runtime]\none_off_timeout = \"0s\"\n", "runtime.one_off_timeout"),
        ("[runtime]\nattach_timeout = \"0s\"\n", "runtime.attach_timeout"),
        ("[runtime]\nattach_idle_timeout = \"1s\"\n", "runtime.attach_idle_timeout"),
        ("[runtime]\nattach_max_frame_bytes = 100\n", "runtime.attach_max_frame_bytes"),
    ];
    for (toml, key) in cases {
        let e = load(&format!("{toml}\n[auth]\ntoken = \"0123456789abcdef\"\n")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(key), "{toml}: {e}");
    }
}

#[test]
fn app_urls_and_database_urls() {
    let config = Config { data_dir: "/srv/slipway".into(), ..Config::default() };
    assert_eq!(config.app_url("shop"), "http://shop.reviewapp.localhost:8080");
    assert_eq!(config.database_url(), "sqlite:///srv/slipway/control.db");
}

#[test]
fn bad_addon_servers_and_plans_name_the_key() {
    let auth = "[auth]\ntoken = \"0123456789abcdef\"\n";
    let cases = [
        ("[addons.postgres]\nservers = [\"mysql://x\"]\n", "addons.postgres.servers[0]"),
        ("[addons.redis]\nservers = [\"http://x\"]\n", "addons.redis.servers[0]"),
        ("[addons.postgres]\ndefault_plan = \"big\"\n", "addons.postgres.default_plan"),
        ("[addons.postgres.plans.shared]\nwork_mem = \"lots\"\n", "addons.postgres.plans.shared.work_mem"),
        ("[addons.postgres.plans.shared]\nconnection_limit = 0\n", "addons.postgres.plans.shared.connection_limit"),
        ("[addons]\ntimeout = \"0s\"\n", "addons.timeout"),
        ("[addons]\nbackup_timeout = \"0s\"\n", "addons.backup_timeout"),
        ("[addons]\nbackup_check_interval = \"0s\"\n", "addons.backup_check_interval"),
        ("[addons.postgres.plans.shared]\nbackup_every = \"daily\"\n", "addons.postgres.plans.shared.backup_every"),
        ("[addons.postgres.plans.shared]\nbackup_every = \"5s\"\n", "addons.postgres.plans.shared.backup_every"),
        ("[addons.postgres.plans.shared]\nbackup_keep = 0\n", "addons.postgres.plans.shared.backup_keep"),
    ];
    for (toml, key) in cases {
        let e = load(&format!("{auth}{toml}")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(key), "{toml}: {e}");
    }
    let ok = load(&format!(
        "{auth}[addons.postgres]\nservers = [\"postgres://postgres:pw@127.0.0.1:5432/postgres\"]\n[addons.redis]\nservers = [\"redis://:pw@127.0.0.1:6379\"]\n"
    ));
    assert!(ok.is_ok(), "{ok:?}");
}
