//! App setups (`POST /v1/app-setups`) from a source with an `app.json`, against real
//! PostgreSQL and Redis servers: what a successful setup makes (add-ons, generated
//! secrets, the formation, the postdeploy script run once), and that a failing one —
//! missing config vars, an add-on server that is down, a failing postdeploy script, a
//! malformed `app.json` — leaves nothing behind, checked on the servers themselves.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use common::{TOKEN, TestServer, start_with, start_with_logd};
use serde_json::json;
use slipway_tests::Reply;
use slipway_tests::servers::{Postgres, Redis};

/// Writes a source (files: name → content, plus the echo app's `app.py`) under the
/// server's temporary directory.
fn source(s: &TestServer, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = s.dir.path().join(format!("src-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(common::echo_app().join("app.py"), dir.join("app.py")).unwrap();
    for (file, content) in files {
        std::fs::write(dir.join(file), content).unwrap();
    }
    dir
}

/// Sets app `name` up from `dir`, uploaded as a tarball, with `env` overrides.
async fn setup(s: &TestServer, name: &str, dir: &Path, env: serde_json::Value) -> Reply {
    slipway_tests::client::send(s.api, setup_request(name, dir, env)).await.unwrap()
}

/// The request of [`setup`].
fn setup_request(name: &str, dir: &Path, env: serde_json::Value) -> http::Request<http_body_util::Full<Bytes>> {
    let tarball = slipway_control::slug::pack_dir(dir).unwrap();
    let header = json!({ "name": name, "overrides": { "env": env } }).to_string();
    let header = slipway_control::model::setup_header_engine().encode(header);
    http::Request::post("/v1/app-setups")
        .header("host", "control")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/gzip")
        .header(slipway_control::model::SETUP_HEADER, header)
        .body(http_body_util::Full::new(Bytes::from(tarball)))
        .unwrap()
}

/// A control plane placing add-ons on these servers (with logd when `logs`).
async fn control(pg: &Postgres, redis: &Redis, logs: bool) -> TestServer {
    let (pg_url, redis_url) = (pg.admin_url(), redis.admin_url());
    let change = move |c: &mut slipway_control::Config| {
        c.addons.postgres.servers.push(pg_url);
        c.addons.redis.servers.push(redis_url);
    };
    if logs { start_with_logd(change).await } else { start_with(change).await }
}

/// Whether the app is unknown to the control plane, and its slugs are gone.
async fn app_is_gone(s: &TestServer, app: &str) {
    assert_eq!(s.api("GET", &format!("/v1/apps/{app}"), None).await.status, 404);
    assert_eq!(s.ok("GET", "/v1/apps", None, 200).await, json!([]));
    assert!(!s.dir.path().join("data/slugs").join(app).exists(), "the app's slugs are removed");
}

/// Nothing of any add-on on either server.
async fn servers_are_empty(pg: &Postgres, redis: &Redis) {
    let (roles, dbs) = pg.roles_and_databases("slipway\\_%").await;
    assert!(roles.is_empty() && dbs.is_empty(), "{roles:?} {dbs:?}");
    assert_eq!(redis.users().await, ["default"], "only the default user");
    assert!(redis.keys().await.is_empty());
}

const APP_JSON: &str = r#"{
    "name": "Shop",
    "description": "A shop with a database and a cache",
    "env": {
        "SECRET_KEY": {"description": "signs the cookies", "generator": "secret"},
        "GREETING": "hello from app.json",
        "API_KEY": {"description": "the vendor's key", "required": true}
    },
    "addons": ["heroku-postgresql:hobby-dev", {"plan": "heroku-redis", "options": {"version": "7"}}],
    "formation": {"web": {"quantity": 1, "size": "basic"}},
    "scripts": {"postdeploy": "psql \"$DATABASE_URL\" -v ON_ERROR_STOP=1 -qc \"CREATE TABLE seeded (who text, release text); INSERT INTO seeded VALUES ('postdeploy', '$SLIPWAY_RELEASE')\" && echo seeded $DYNO"},
    "buildpacks": [{"url": "heroku/python"}]
}"#;

/// The web process serves only once it has used both add-ons' URLs.
const PROCFILE: &str = concat!(
    "web: test \"$(psql \"$DATABASE_URL\" -Atc 'SELECT 1')\" = 1",
    " && redis-cli -u \"$REDIS_URL\" SET \"${REDIS_KEY_PREFIX}web\" up",
    " && exec python3 app.py\n"
);

#[tokio::test]
async fn an_app_json_setup_makes_its_addons_and_secrets_then_runs_postdeploy_once() {
    let (pg, redis) = (Postgres::start().await, Redis::start().await);
    let s = control(&pg, &redis, true).await;
    let dir = source(&s, "shop", &[("app.json", APP_JSON), ("Procfile", PROCFILE)]);
    let made = setup(&s, "shop", &dir, json!({ "API_KEY": "key-123" })).await;
    assert_eq!(made.status, 201, "{}", made.text());
    let made = made.json();
    assert_eq!(made["release"]["version"], 2, "{made}");
    assert_eq!(made["release"]["status"], "succeeded");
    assert_eq!(made["generated"], json!(["SECRET_KEY"]));
    assert_eq!(made["postdeploy"], true);
    assert_eq!(
        made["notes"],
        json!(["heroku-postgresql:hobby-dev: postgres has no plan \"hobby-dev\", so it gets \"shared\""])
    );
    let addons = made["addons"].as_array().unwrap();
    assert_eq!(addons.len(), 2);
    assert!(addons.iter().all(|a| a["state"] == "ready"), "{made}");
    assert_eq!(addons[0]["config_vars"], json!(["DATABASE_URL"]));
    assert_eq!(addons[1]["config_vars"], json!(["REDIS_KEY_PREFIX", "REDIS_URL"]));

    let config = s.ok("GET", "/v1/apps/shop/config", None, 200).await;
    assert_eq!(config["GREETING"], "hello from app.json");
    assert_eq!(config["API_KEY"], "key-123");
    let secret = config["SECRET_KEY"].as_str().unwrap().to_owned();
    assert!(secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()), "32 random bytes, hex: {secret}");

    // The web process is up with the release's config (it used both URLs to get there).
    let port = s.up_port("shop", "web.1").await;
    let answer = common::get_port(port, "/").await.json();
    assert_eq!((answer["greeting"].as_str(), answer["release"].as_str()), (Some("hello from app.json"), Some("v2")));
    let prefix = config["REDIS_KEY_PREFIX"].as_str().unwrap();
    let web: String =
        redis::cmd("GET").arg(format!("{prefix}web")).query_async(&mut redis.admin().await).await.unwrap();
    assert_eq!(web, "up");
    // The postdeploy script ran once, with the new release's code and config.
    let db = config["DATABASE_URL"].as_str().unwrap().rsplit('/').next().unwrap();
    let rows = pg.admin(db).await.query("SELECT who, release FROM seeded", &[]).await.unwrap();
    let rows: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(rows, [("postdeploy".to_owned(), "v2".to_owned())]);
    let mut logs = s.logs("shop", "").await;
    let line = logs.wait_log("the postdeploy script's output", |l| l["source"] == "postdeploy").await;
    assert_eq!((line["dyno"].as_str(), line["message"].as_str()), (Some("postdeploy"), Some("seeded postdeploy")));
    assert_eq!(s.dynos("shop").await.len(), 1, "postdeploy is no process of the app");

    // Another app from the same source gets secrets (and add-ons) of its own.
    let other = setup(&s, "shop-2", &dir, json!({ "API_KEY": "key-456" })).await;
    assert_eq!(other.status, 201, "{}", other.text());
    let other_config = s.ok("GET", "/v1/apps/shop-2/config", None, 200).await;
    assert_ne!(other_config["SECRET_KEY"], secret);
    assert_ne!(other_config["DATABASE_URL"], config["DATABASE_URL"]);
    s.stop().await;
}

#[tokio::test]
async fn missing_required_config_vars_are_all_named_and_nothing_is_created() {
    let (pg, redis) = (Postgres::start().await, Redis::start().await);
    let s = control(&pg, &redis, false).await;
    let app_json = r#"{
        "env": {"A": {"required": true}, "B": {"description": "no value"}, "C": {"value": "c"}, "D": {"required": false}},
        "addons": ["postgres", "redis"]
    }"#;
    let dir = source(&s, "shop", &[("app.json", app_json), ("Procfile", "web: exec python3 app.py\n")]);
    let refused = setup(&s, "shop", &dir, json!({})).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    let error = &refused.json()["error"];
    assert_eq!((error["code"].as_str(), error["field"].as_str()), (Some("invalid"), Some("env")));
    assert_eq!(error["missing"], json!(["A", "B"]));
    assert_eq!(error["message"], "app.json requires a value for A, B: give them as overrides (`--set KEY=VALUE`)");
    let still = setup(&s, "shop", &dir, json!({ "A": "a" })).await;
    assert_eq!(still.json()["error"]["missing"], json!(["B"]), "{}", still.text());
    app_is_gone(&s, "shop").await;
    servers_are_empty(&pg, &redis).await;
    // With every value given, the same source sets up.
    let made = setup(&s, "shop", &dir, json!({ "A": "a", "B": "b" })).await;
    assert_eq!(made.status, 201, "{}", made.text());
    s.stop().await;
}

#[tokio::test]
async fn an_addon_whose_server_is_down_fails_the_setup_naming_it_and_leaves_nothing() {
    let (pg, mut redis) = (Postgres::start().await, Redis::start().await);
    let s = control(&pg, &redis, false).await;
    redis.stop();
    let app_json =
        r#"{"addons": ["heroku-postgresql", "heroku-redis:premium-0"], "env": {"S": {"generator": "secret"}}}"#;
    let dir = source(&s, "shop", &[("app.json", app_json), ("Procfile", PROCFILE)]);
    let failed = setup(&s, "shop", &dir, json!({})).await;
    assert_eq!(failed.status, 422, "{}", failed.text());
    let error = &failed.json()["error"];
    assert_eq!(error["code"], "setup_failed");
    assert_eq!(error["step"], "add-on heroku-redis:premium-0 (app.json addons[1])");
    let message = error["message"].as_str().unwrap();
    let expected = format!(
        "app setup failed at add-on heroku-redis:premium-0 (app.json addons[1]): redis server 127.0.0.1:{}: cannot connect: ",
        redis.port
    );
    assert!(message.starts_with(&expected), "{message}");
    assert!(message.ends_with("; nothing of the app is kept"), "{message}");
    // The PostgreSQL add-on made before it is gone from its server, and so is the app.
    let (roles, dbs) = pg.roles_and_databases("slipway\\_%").await;
    assert!(roles.is_empty() && dbs.is_empty(), "{roles:?} {dbs:?}");
    app_is_gone(&s, "shop").await;
    // Nothing is left for the next start either: no add-on record of any state.
    let again = setup(&s, "shop", &dir, json!({})).await;
    assert_eq!(again.json()["error"]["code"], "setup_failed", "the name is free again: {}", again.text());
    s.stop().await;
}

#[tokio::test]
async fn a_failing_postdeploy_script_undoes_the_whole_setup() {
    let (pg, redis) = (Postgres::start().await, Redis::start().await);
    let s = control(&pg, &redis, true).await;
    let app_json = r#"{"addons": ["postgres", "redis"], "scripts": {"postdeploy": "echo 'seed failed' >&2; exit 3"}}"#;
    let procfile = format!("web: echo $$ > \"$PID_FILE\" && {}", PROCFILE.trim_start_matches("web: "));
    let dir = source(&s, "shop", &[("app.json", app_json), ("Procfile", &procfile)]);
    let pid_file = s.dir.path().join("web.pid");
    let failed = setup(&s, "shop", &dir, json!({ "PID_FILE": pid_file.to_str().unwrap() })).await;
    assert_eq!(failed.status, 422, "{}", failed.text());
    let error = &failed.json()["error"];
    assert_eq!((error["code"].as_str(), error["step"].as_str()), (Some("setup_failed"), Some("postdeploy")));
    assert_eq!(
        error["message"],
        "app setup failed at postdeploy: the postdeploy script of release v2 failed: the postdeploy script exited with status 3; nothing of the app is kept"
    );
    // The web process had started (the release went live before postdeploy) and is gone.
    let pid: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "web process {pid} is stopped");
    app_is_gone(&s, "shop").await;
    servers_are_empty(&pg, &redis).await;
    // Its output is in the app's log (read with a token signed here: the app is gone).
    let signer = slipway_logd::Signer::new(common::SIGNING_KEY.as_bytes()).unwrap();
    let token = signer.sign(&slipway_logd::Claims::for_app("shop", std::time::Duration::from_secs(60)));
    let mut logs = slipway_tests::stream::app_logs(s.logd.as_ref().unwrap().http_addr(), "shop", &token, "").await;
    logs.wait_log("the script's stderr", |l| l["source"] == "postdeploy" && l["message"] == "seed failed").await;
    s.stop().await;
}

#[tokio::test]
async fn a_malformed_app_json_is_refused_naming_the_key_and_creates_nothing() {
    let s = common::start().await;
    let cases = [
        (
            r#"{"env": {"SECRET_KEY": {"generator": "uuid"}}}"#,
            "env.SECRET_KEY.generator: unknown variant `uuid`, expected `secret` at line 1 column 43",
        ),
        (r#"{"env": {"PORT": "5000"}}"#, "env.PORT: PORT is set by the runtime for each process"),
        (r#"{"addons": ["heroku-kafka"]}"#, "addons[0]: \"heroku-kafka\" is not an add-on Slipway provides"),
        (
            r#"{"formation": {"worker": {"quantity": 1}}}"#,
            "formation.worker: the Procfile declares no process type \"worker\" (it has: web)",
        ),
        (r#"{"env": {"A": "a",}}"#, "trailing comma at line 1 column 19"),
    ];
    for (i, (app_json, problem)) in cases.into_iter().enumerate() {
        let dir = source(&s, &format!("case-{i}"), &[("app.json", app_json), ("Procfile", PROCFILE)]);
        let refused = setup(&s, "shop", &dir, json!({})).await;
        assert_eq!(refused.status, 400, "{app_json}: {}", refused.text());
        let error = &refused.json()["error"];
        assert_eq!(error["field"], "app.json", "{error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.starts_with(problem), "{app_json}: {message}");
    }
    app_is_gone(&s, "shop").await;
    s.stop().await;
}

#[tokio::test]
async fn a_control_plane_killed_mid_setup_removes_the_half_made_app_and_its_addons_at_its_next_start() {
    let (pg, redis) = (Postgres::start().await, Redis::start().await);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let (mut first, api) = common::server_process(&root, Some(&pg), Some(&redis)).await;
    let s = TestServer { server: None, api, dir, logd: None };
    // The postdeploy script says it runs (its pid), then hangs: the kill comes then, with
    // the add-ons made and the web process up.
    let mark = root.join("postdeploy.pid");
    let app_json =
        r#"{"addons": ["postgres", "redis"], "scripts": {"postdeploy": "echo $$ > \"$MARK\" && exec sleep 600"}}"#;
    let src = source(&s, "shop", &[("app.json", app_json), ("Procfile", PROCFILE)]);
    let pending = tokio::spawn(slipway_tests::client::send(
        api,
        setup_request("shop", &src, json!({ "MARK": mark.to_str().unwrap() })),
    ));
    let pid: u32 = slipway_tests::eventually("the postdeploy script runs", Duration::from_secs(60), async || {
        std::fs::read_to_string(&mark).ok()?.trim().parse().ok()
    })
    .await;
    let (roles, _) = pg.roles_and_databases("slipway\\_%").await;
    assert_eq!((roles.len(), redis.users().await.len()), (1, 2), "both add-ons are made");
    first.signal(9);
    first.wait_exit(Duration::from_secs(30)).await;
    assert!(pending.await.unwrap().is_err(), "the setup never answered");

    let (mut second, api) = common::server_process(&root, Some(&pg), Some(&redis)).await;
    let s = TestServer { api, ..s };
    // The app is removed before the API serves; its add-ons then as leftovers.
    app_is_gone(&s, "shop").await;
    second.wait_for_line("leftover add-on with no record", Duration::from_secs(30)).await;
    slipway_tests::eventually("nothing is left on the servers", Duration::from_secs(30), async || {
        let (roles, dbs) = pg.roles_and_databases("slipway\\_%").await;
        (roles.is_empty() && dbs.is_empty() && redis.users().await == ["default"]).then_some(())
    })
    .await;
    // Stopped by the new control plane (from the ledger), then reaped by whoever adopted
    // it when the old one died.
    slipway_tests::eventually("the postdeploy script is stopped", Duration::from_secs(30), async || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        (stat.is_empty() || stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')))
            .then_some(())
    })
    .await;
    second.signal(15);
    second.wait_exit(Duration::from_secs(30)).await;
}
