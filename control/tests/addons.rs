//! Add-ons on real servers (Debian's PostgreSQL 15 and Redis 7, started on free loopback
//! ports by `slipway_tests::servers`): what one app's URLs can and cannot reach on a
//! shared server, the plan's limits, the URLs reaching the app's processes, destroy
//! leaving nothing on the servers (checked there), concurrency, and failures.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{TestServer, start_with};
use serde_json::json;
use slipway_tests::servers::postgres::{connect as pg, message};
use slipway_tests::servers::redis::connect as redis_connect;
use slipway_tests::servers::{Postgres, Redis};

/// A control plane placing add-ons on these servers.
async fn control(pg: Option<&Postgres>, redis: Option<&Redis>) -> TestServer {
    let (pg_url, redis_url) = (pg.map(Postgres::admin_url), redis.map(Redis::admin_url));
    start_with(|c| {
        c.addons.postgres.servers.extend(pg_url);
        c.addons.redis.servers.extend(redis_url);
        let plan = c.addons.postgres.plans.get_mut("shared").unwrap();
        plan.connection_limit = 3;
        plan.statement_timeout = Duration::from_millis(500);
        plan.work_mem = "2MB".into();
    })
    .await
}

/// Creates app `app` with an add-on of `kind` (waiting until it is ready); its config vars.
async fn app_with(s: &TestServer, app: &str, kind: &str) -> serde_json::Value {
    if s.api("GET", &format!("/v1/apps/{app}"), None).await.status == 404 {
        s.ok("POST", "/v1/apps", Some(json!({ "name": app })), 201).await;
    }
    let addon = s.ok("POST", &format!("/v1/apps/{app}/addons?wait=true"), Some(json!({ "kind": kind })), 201).await;
    assert_eq!(addon["state"], "ready", "{addon}");
    s.ok("GET", &format!("/v1/apps/{app}/config"), None, 200).await
}

fn var(config: &serde_json::Value, key: &str) -> String {
    config[key].as_str().unwrap_or_else(|| panic!("no {key} in {config}")).to_owned()
}

/// The database name at the end of a URL.
fn db_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

/// Whether an ACL (`{role=UC/owner,=c/owner}`) has an entry for PUBLIC (`=...`).
fn grants_public(acl: &str) -> bool {
    acl.trim_matches(['{', '}']).split(',').any(|entry| entry.starts_with('='))
}

/// The URL with another database.
fn with_db(url: &str, db: &str) -> String {
    format!("{}/{db}", url.rsplit_once('/').unwrap().0)
}

#[tokio::test]
async fn a_shared_postgres_addon_reaches_only_its_own_database_within_its_plan_limits() {
    let server = Postgres::start().await;
    let s = control(Some(&server), None).await;
    let a = var(&app_with(&s, "a", "postgres").await, "DATABASE_URL");
    let b = var(&app_with(&s, "b", "postgres").await, "DATABASE_URL");
    assert_ne!(db_of(&a), db_of(&b));
    // 256 bits of password.
    let password = a.split(':').nth(2).unwrap().split('@').next().unwrap();
    assert_eq!(password.len(), 64, "{a}");

    let b_conn = pg(&b).await.unwrap();
    b_conn.batch_execute("CREATE TABLE secrets (v text); INSERT INTO secrets VALUES ('b only')").await.unwrap();
    let a_conn = pg(&a).await.unwrap();
    a_conn.batch_execute("CREATE TABLE notes (v text); INSERT INTO notes VALUES ('a')").await.unwrap();
    assert_eq!(a_conn.query_one("SELECT v FROM notes", &[]).await.unwrap().get::<_, String>(0), "a");

    // A's credentials on B's database: refused at connection.
    let a_on_b = with_db(&a, db_of(&b));
    let Err(refused) = pg(&a_on_b).await else { panic!("A connected to B's database") };
    assert!(message(&refused).contains("permission denied for database"), "{}", message(&refused));
    // Knowing the names does not help: no cross-database reads, no taking B's role.
    let cross = a_conn.query(&format!("SELECT * FROM \"{}\".public.secrets", db_of(&b)), &[]).await.unwrap_err();
    assert!(message(&cross).contains("cross-database references are not implemented"), "{}", message(&cross));
    let set_role = a_conn.batch_execute(&format!("SET ROLE \"{}\"", db_of(&b))).await.unwrap_err();
    assert!(message(&set_role).contains("permission denied to set role"), "{}", message(&set_role));
    // Nor can A create anything where B's role could be fooled: not in the admin's
    // database, and no other role (B's included) can create in A's.
    let admin_db = with_db(&a, "postgres");
    let in_postgres = pg(&admin_db).await.unwrap();
    let create = in_postgres.batch_execute("CREATE TABLE planted (v text)").await.unwrap_err();
    assert!(message(&create).contains("permission denied for schema public"), "{}", message(&create));

    let admin = server.admin(db_of(&a)).await;
    let public_acl: String = admin
        .query_one("SELECT coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname = 'public'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!grants_public(&public_acl), "PUBLIC has no rights on the public schema: {public_acl}");
    let db_acl: String = admin
        .query_one("SELECT coalesce(datacl::text, '') FROM pg_database WHERE datname = $1", &[&db_of(&a)])
        .await
        .unwrap()
        .get(0);
    assert!(!db_acl.is_empty() && !grants_public(&db_acl), "PUBLIC has no rights on the database: {db_acl}");

    // The plan's limits: work_mem and statement_timeout on the role...
    assert_eq!(a_conn.query_one("SHOW work_mem", &[]).await.unwrap().get::<_, String>(0), "2MB");
    let slow = a_conn.query("SELECT pg_sleep(5)", &[]).await.unwrap_err();
    assert!(message(&slow).contains("canceling statement due to statement timeout"), "{}", message(&slow));
    // ...and 3 connections (a_conn, in_postgres and this one): a 4th is refused while B
    // still connects.
    let _three = pg(&a).await.unwrap();
    let Err(over) = pg(&a).await else { panic!("a connection over the limit was accepted") };
    assert!(message(&over).contains("too many connections for role"), "{}", message(&over));
    let b_again = pg(&b).await.unwrap();
    assert_eq!(b_again.query_one("SELECT v FROM secrets", &[]).await.unwrap().get::<_, String>(0), "b only");
    s.stop().await;
}

#[tokio::test]
async fn a_shared_redis_addon_reaches_only_its_own_keys_and_channels() {
    let server = Redis::start().await;
    let s = control(None, Some(&server)).await;
    let a = app_with(&s, "a", "redis").await;
    let b = app_with(&s, "b", "redis").await;
    let (a_prefix, b_prefix) = (var(&a, "REDIS_KEY_PREFIX"), var(&b, "REDIS_KEY_PREFIX"));
    assert_ne!(a_prefix, b_prefix);
    let mut b_conn = redis_connect(&var(&b, "REDIS_URL")).await.unwrap();
    let b_key = format!("{b_prefix}secret");
    let () = redis::cmd("SET").arg(&b_key).arg("b only").query_async(&mut b_conn).await.unwrap();
    let mut a_conn = redis_connect(&var(&a, "REDIS_URL")).await.unwrap();
    let a_key = format!("{a_prefix}note");
    let () = redis::cmd("SET").arg(&a_key).arg("a").query_async(&mut a_conn).await.unwrap();
    let got: String = redis::cmd("GET").arg(&a_key).query_async(&mut a_conn).await.unwrap();
    assert_eq!(got, "a");
    let script: String = redis::cmd("EVAL")
        .arg("return redis.call('GET', KEYS[1])")
        .arg(1)
        .arg(&a_key)
        .query_async(&mut a_conn)
        .await
        .unwrap();
    assert_eq!(script, "a", "scripts work on the add-on's own keys");

    let refused: Vec<(&str, Vec<String>)> = vec![
        ("GET B's key", vec!["GET".into(), b_key.clone()]),
        ("SET B's key", vec!["SET".into(), b_key.clone(), "x".into()]),
        ("DEL B's key", vec!["DEL".into(), b_key.clone()]),
        ("an unprefixed key", vec!["SET".into(), "loose".into(), "x".into()]),
        ("FLUSHALL", vec!["FLUSHALL".into()]),
        ("FLUSHDB", vec!["FLUSHDB".into()]),
        ("CONFIG SET", vec!["CONFIG".into(), "SET".into(), "maxmemory".into(), "1".into()]),
        ("KEYS *", vec!["KEYS".into(), "*".into()]),
        ("SCAN", vec!["SCAN".into(), "0".into()]),
        ("RANDOMKEY", vec!["RANDOMKEY".into()]),
        ("SWAPDB", vec!["SWAPDB".into(), "0".into(), "1".into()]),
        ("SELECT", vec!["SELECT".into(), "1".into()]),
        ("ACL", vec!["ACL".into(), "SETUSER".into(), "x".into(), "on".into()]),
        ("DEBUG", vec!["DEBUG".into(), "SLEEP".into(), "0".into()]),
        ("SHUTDOWN", vec!["SHUTDOWN".into()]),
        ("MONITOR", vec!["MONITOR".into()]),
        ("CLIENT KILL", vec!["CLIENT".into(), "KILL".into(), "USER".into(), "default".into()]),
        ("PUBSUB CHANNELS", vec!["PUBSUB".into(), "CHANNELS".into()]),
        ("FUNCTION FLUSH", vec!["FUNCTION".into(), "FLUSH".into()]),
        (
            "EVAL reading B's key",
            vec!["EVAL".into(), "return redis.call('GET', KEYS[1])".into(), "1".into(), b_key.clone()],
        ),
        (
            "EVAL reading an undeclared key of B",
            vec!["EVAL".into(), format!("return redis.call('GET', '{b_key}')"), "0".into()],
        ),
        ("PUBLISH on B's channel", vec!["PUBLISH".into(), format!("{b_prefix}events"), "x".into()]),
    ];
    for (what, args) in refused {
        let mut cmd = redis::cmd(&args[0]);
        for arg in &args[1..] {
            cmd.arg(arg);
        }
        let result: redis::RedisResult<redis::Value> = cmd.query_async(&mut a_conn).await;
        let error = result.err().unwrap_or_else(|| panic!("{what} was allowed"));
        let text = error.to_string();
        // ACL refusals: NOPERM, or inside a script the key check's own words.
        assert!(text.to_ascii_uppercase().contains("NOPERM") || text.contains("can't access"), "{what}: {text}");
    }
    // Subscribing to B's channel is refused (on a connection of its own: it would be in
    // subscriber mode otherwise).
    let mut sub = redis_connect(&var(&a, "REDIS_URL")).await.unwrap();
    let subscribed: redis::RedisResult<redis::Value> =
        redis::cmd("SUBSCRIBE").arg(format!("{b_prefix}events")).query_async(&mut sub).await;
    let Err(error) = subscribed else { panic!("SUBSCRIBE to B's channel was allowed") };
    let error = error.to_string();
    assert!(error.to_ascii_uppercase().contains("NOPERM"), "{error}");
    // B's key is untouched.
    let still: String = redis::cmd("GET").arg(&b_key).query_async(&mut b_conn).await.unwrap();
    assert_eq!(still, "b only");
    s.stop().await;
}

#[tokio::test]
async fn the_apps_processes_get_urls_that_work() {
    let (pg_server, redis_server) = (Postgres::start().await, Redis::start().await);
    let s = control(Some(&pg_server), Some(&redis_server)).await;
    app_with(&s, "shop", "postgres").await;
    let config = app_with(&s, "shop", "redis").await;
    // The web process writes and reads back a row and a key before it listens: the
    // release only goes live if both round-trips worked.
    let web = concat!(
        "web: psql \"$DATABASE_URL\" -v ON_ERROR_STOP=1 -qc \"CREATE TABLE seen (who text); INSERT INTO seen VALUES ('web')\"",
        " && test \"$(psql \"$DATABASE_URL\" -Atc 'SELECT who FROM seen')\" = web",
        " && redis-cli -u \"$REDIS_URL\" SET \"${REDIS_KEY_PREFIX}seen\" web",
        " && test \"$(redis-cli -u \"$REDIS_URL\" GET \"${REDIS_KEY_PREFIX}seen\")\" = web",
        " && exec python3 -m http.server \"$PORT\" --bind 127.0.0.1\n"
    );
    let deployed = s.deploy_files("shop", &[("Procfile", web)]).await;
    assert_eq!(deployed.status, 201, "{}", deployed.text());
    let db = db_of(&var(&config, "DATABASE_URL")).to_owned();
    let row: String = pg_server.admin(&db).await.query_one("SELECT who FROM seen", &[]).await.unwrap().get(0);
    assert_eq!(row, "web");
    let key = format!("{}seen", var(&config, "REDIS_KEY_PREFIX"));
    let value: String = redis::cmd("GET").arg(&key).query_async(&mut redis_server.admin().await).await.unwrap();
    assert_eq!(value, "web");
    s.stop().await;
}

#[tokio::test]
async fn destroying_addons_and_their_app_leaves_nothing_on_the_servers() {
    let (pg_server, redis_server) = (Postgres::start().await, Redis::start().await);
    let s = control(Some(&pg_server), Some(&redis_server)).await;
    let first = var(&app_with(&s, "a", "postgres").await, "DATABASE_URL");
    // A second add-on of a kind gets vars named after it.
    let second = s
        .ok("POST", "/v1/apps/a/addons?wait=true", Some(json!({ "kind": "postgres", "name": "reports-db" })), 201)
        .await;
    assert_eq!(second["config_vars"], json!(["REPORTS_DB_URL"]));
    let config = app_with(&s, "a", "redis").await;
    assert!(config["REPORTS_DB_URL"].is_string(), "{config}");
    // The add-ons' vars are theirs: config set cannot change them.
    let refused = s.api("PATCH", "/v1/apps/a/config", Some(json!({ "DATABASE_URL": "postgres://elsewhere" }))).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.json()["error"]["field"], "DATABASE_URL");
    // B's Redis, which must survive A's destroy.
    let b = app_with(&s, "b", "redis").await;
    let b_key = format!("{}kept", var(&b, "REDIS_KEY_PREFIX"));
    let mut b_conn = redis_connect(&var(&b, "REDIS_URL")).await.unwrap();
    let () = redis::cmd("SET").arg(&b_key).arg("yes").query_async(&mut b_conn).await.unwrap();
    // More keys than one deletion batch.
    let mut a_conn = redis_connect(&var(&config, "REDIS_URL")).await.unwrap();
    let prefix = var(&config, "REDIS_KEY_PREFIX");
    for chunk in 0..3 {
        let mut mset = redis::cmd("MSET");
        for i in 0..500 {
            mset.arg(format!("{prefix}{chunk}-{i}")).arg("x");
        }
        let () = mset.query_async(&mut a_conn).await.unwrap();
    }
    let held = pg(&first).await.unwrap();
    held.batch_execute("CREATE TABLE t (v int)").await.unwrap();

    let addons = s.ok("GET", "/v1/apps/a/addons", None, 200).await;
    let pg_name = addons[0]["name"].as_str().unwrap().to_owned();
    s.ok("DELETE", &format!("/v1/addons/{pg_name}"), None, 204).await;
    let config = s.ok("GET", "/v1/apps/a/config", None, 200).await;
    assert!(config.get("DATABASE_URL").is_none() && config["REPORTS_DB_URL"].is_string(), "{config}");
    let releases = s.ok("GET", "/v1/apps/a/releases", None, 200).await;
    assert_eq!(releases[0]["description"], format!("Detach {pg_name} (DATABASE_URL)"));
    assert!(held.query("SELECT 1", &[]).await.is_err(), "the add-on's connections were ended");
    let (roles, dbs) = pg_server.roles_and_databases(db_of(&first)).await;
    assert!(roles.is_empty() && dbs.is_empty(), "{roles:?} {dbs:?}");
    assert_eq!(s.api("GET", &format!("/v1/addons/{pg_name}"), None).await.status, 404);

    s.ok("DELETE", "/v1/apps/a", None, 204).await;
    let (roles, dbs) = pg_server.roles_and_databases("slipway\\_%").await;
    assert!(roles.is_empty() && dbs.is_empty(), "{roles:?} {dbs:?}");
    let users = redis_server.users().await;
    assert_eq!(users.len(), 2, "default and B's user only: {users:?}");
    assert_eq!(redis_server.keys().await, std::slice::from_ref(&b_key));
    let kept: String = redis::cmd("GET").arg(&b_key).query_async(&mut b_conn).await.unwrap();
    assert_eq!(kept, "yes");
    s.stop().await;
}

#[tokio::test]
async fn fifty_addons_provisioned_at_once_all_become_ready_and_distinct() {
    let (pg_server, redis_server) = (Postgres::start().await, Redis::start().await);
    let s = control(Some(&pg_server), Some(&redis_server)).await;
    for i in 0..25 {
        s.ok("POST", "/v1/apps", Some(json!({ "name": format!("app-{i}") })), 201).await;
    }
    let creations = (0..50).map(|i| {
        let kind = if i % 2 == 0 { "postgres" } else { "redis" };
        let path = format!("/v1/apps/app-{}/addons?wait=true", i / 2);
        let s = &s;
        async move { s.ok("POST", &path, Some(json!({ "kind": kind })), 201).await }
    });
    let made = futures_util::future::join_all(creations).await;
    let mut names: Vec<&str> = made.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert!(made.iter().all(|a| a["state"] == "ready"));
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 50);
    let mut urls = Vec::new();
    for i in 0..25 {
        let config = s.ok("GET", &format!("/v1/apps/app-{i}/config"), None, 200).await;
        urls.push(var(&config, "DATABASE_URL"));
        urls.push(var(&config, "REDIS_URL"));
    }
    urls.sort();
    urls.dedup();
    assert_eq!(urls.len(), 50);
    let (roles, dbs) = pg_server.roles_and_databases("slipway\\_%").await;
    assert_eq!((roles.len(), dbs.len()), (25, 25));
    assert_eq!(redis_server.users().await.len(), 26);
    s.stop().await;
}

#[tokio::test]
async fn a_server_that_is_down_or_refuses_gives_one_clear_error_and_leaves_nothing() {
    let mut pg_server = Postgres::start().await;
    // An admin that may create roles but not databases: provisioning fails halfway.
    let limited = format!("postgres://limited:limited-password@127.0.0.1:{}/postgres", pg_server.port);
    pg_server
        .admin("postgres")
        .await
        .batch_execute("CREATE ROLE limited LOGIN CREATEROLE PASSWORD 'limited-password'")
        .await
        .unwrap();
    let s = start_with(|c| c.addons.postgres.servers.push(limited)).await;
    s.ok("POST", "/v1/apps", Some(json!({ "name": "shop" })), 201).await;
    let refused = s.api("POST", "/v1/apps/shop/addons?wait=true", Some(json!({ "kind": "postgres" }))).await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    let server = format!("127.0.0.1:{}", pg_server.port);
    assert_eq!(refused.json()["error"]["code"], "addon_unavailable");
    assert_eq!(
        refused.json()["error"]["message"],
        format!("postgres server {server}: creating the database: permission denied to create database")
    );
    // The role made before the failure is gone again; the record says why it failed.
    let (roles, dbs) = pg_server.roles_and_databases("slipway\\_%").await;
    assert!(roles.is_empty() && dbs.is_empty(), "{roles:?} {dbs:?}");
    let addons = s.ok("GET", "/v1/apps/shop/addons", None, 200).await;
    assert_eq!(addons[0]["state"], "failed");
    assert!(addons[0]["error"].as_str().unwrap().contains("permission denied to create database"));
    let config = s.ok("GET", "/v1/apps/shop/config", None, 200).await;
    assert_eq!(config, json!({}));
    // A failed add-on is destroyed like any other.
    s.ok("DELETE", &format!("/v1/addons/{}", addons[0]["name"].as_str().unwrap()), None, 204).await;

    // A server that is down: the same, without waiting, seen in the add-on's state.
    pg_server.stop();
    let accepted = s.ok("POST", "/v1/apps/shop/addons", Some(json!({ "kind": "postgres", "name": "db" })), 202).await;
    assert_eq!(accepted["state"], "provisioning");
    let failed = slipway_tests::eventually("the add-on fails", Duration::from_secs(30), async || {
        let addon = s.ok("GET", "/v1/addons/db", None, 200).await;
        (addon["state"] == "failed").then_some(addon)
    })
    .await;
    let error = failed["error"].as_str().unwrap();
    assert!(error.starts_with(&format!("postgres server {server}: cannot connect: ")), "{error}");
    // A kind with no server at all.
    let none = s.api("POST", "/v1/apps/shop/addons", Some(json!({ "kind": "redis" }))).await;
    assert_eq!(none.status, 503);
    assert_eq!(
        none.json()["error"]["message"],
        "no redis server is configured (addons.redis.servers in the control plane's config)"
    );
    let bad = s.api("POST", "/v1/apps/shop/addons", Some(json!({ "kind": "mysql" }))).await;
    assert_eq!((bad.status.as_u16(), bad.json()["error"]["field"].as_str()), (400, Some("kind")));
    s.stop().await;
}

#[tokio::test]
async fn a_control_plane_killed_mid_provisioning_removes_the_half_made_addon_and_leftovers_on_restart() {
    let pg_server = Postgres::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut first, api) = common::server_process(dir.path(), Some(&pg_server), None).await;
    let s = TestServer { server: None, api, dir: tempfile::tempdir().unwrap(), logd: None };
    s.ok("POST", "/v1/apps", Some(json!({ "name": "shop" })), 201).await;
    // Hold the catalog the role's settings go to against writes (EXCLUSIVE: logins,
    // which read it, go on): provisioning stops after CREATE ROLE.
    let watcher = pg_server.admin("postgres").await;
    let mut locker = pg_server.admin("postgres").await;
    let lock = locker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE pg_catalog.pg_db_role_setting IN EXCLUSIVE MODE").await.unwrap();
    s.ok("POST", "/v1/apps/shop/addons", Some(json!({ "kind": "postgres", "name": "db" })), 202).await;
    slipway_tests::eventually("provisioning waits for the lock", Duration::from_secs(30), async || {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'ALTER ROLE%' AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        (waiting == 1).then_some(())
    })
    .await;
    first.signal(9);
    first.wait_exit(Duration::from_secs(30)).await;
    lock.rollback().await.unwrap();
    let (roles, _) = pg_server.roles_and_databases("slipway\\_%").await;
    assert_eq!(roles.len(), 1, "the role was made before the kill: {roles:?}");
    // And something named like this control plane's with no record at all.
    let orphan = roles[0].replace("_db", "_postgres_lost_1");
    let admin = pg_server.admin("postgres").await;
    admin.batch_execute(&format!("CREATE ROLE \"{orphan}\"")).await.unwrap();
    admin.batch_execute(&format!("CREATE DATABASE \"{orphan}\" OWNER \"{orphan}\"")).await.unwrap();

    let (mut second, api) = common::server_process(dir.path(), Some(&pg_server), None).await;
    let s = TestServer { api, ..s };
    second.wait_for_line("half-made by a previous run: removed", Duration::from_secs(30)).await;
    second.wait_for_line("leftover add-on with no record", Duration::from_secs(30)).await;
    slipway_tests::eventually("nothing is left on the server", Duration::from_secs(30), async || {
        let (roles, dbs) = pg_server.roles_and_databases("slipway\\_%").await;
        (roles.is_empty() && dbs.is_empty()).then_some(())
    })
    .await;
    assert_eq!(s.api("GET", "/v1/addons/db", None).await.status, 404);
    assert_eq!(s.ok("GET", "/v1/apps/shop/config", None, 200).await, json!({}));
    second.signal(15);
    second.wait_exit(Duration::from_secs(30)).await;
}

/// A control plane whose dedicated Redis plan has 2 MiB, and dedicated PostgreSQL 3
/// connections; `data` (if given) is its data directory.
fn dedicated(c: &mut slipway_control::Config) {
    c.addons.redis.plans.get_mut("dedicated").unwrap().maxmemory = Some(2 * 1024 * 1024);
    c.addons.postgres.plans.get_mut("dedicated").unwrap().connection_limit = 3;
}

async fn create(s: &TestServer, app: &str, kind: &str, plan: &str) -> serde_json::Value {
    if s.api("GET", &format!("/v1/apps/{app}"), None).await.status == 404 {
        s.ok("POST", "/v1/apps", Some(json!({ "name": app })), 201).await;
    }
    let body = json!({ "kind": kind, "plan": plan });
    let addon = s.ok("POST", &format!("/v1/apps/{app}/addons?wait=true"), Some(body), 201).await;
    assert_eq!(addon["state"], "ready", "{addon}");
    s.ok("GET", &format!("/v1/apps/{app}/config"), None, 200).await
}

#[tokio::test]
async fn a_dedicated_redis_has_its_own_memory_limit_and_server_and_goes_with_its_addon() {
    let shared_server = Redis::start().await;
    let url = shared_server.admin_url();
    let s = start_with(|c| {
        dedicated(c);
        c.addons.redis.servers.push(url);
    })
    .await;
    let a = create(&s, "a", "redis", "dedicated").await;
    let b = create(&s, "b", "redis", "shared").await;
    let a_url = var(&a, "REDIS_URL");
    let mut a_conn = redis_connect(&a_url).await.unwrap();
    // A dedicated server lets its app list its keys.
    let () = redis::cmd("SET").arg("k").arg("v").query_async(&mut a_conn).await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut a_conn).await.unwrap();
    assert_eq!(keys, ["k"]);
    // But not raise its own memory limit.
    let raise: redis::RedisResult<()> =
        redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("0").query_async(&mut a_conn).await;
    assert!(raise.is_err());
    // Fill A's server past its 2 MiB: writes are refused (noeviction) ...
    let chunk = "x".repeat(64 * 1024);
    let mut refused = None;
    for i in 0..200 {
        let set: redis::RedisResult<()> =
            redis::cmd("SET").arg(format!("fill-{i}")).arg(&chunk).query_async(&mut a_conn).await;
        if let Err(e) = set {
            refused = Some(e.to_string());
            break;
        }
    }
    let refused = refused.expect("writes over maxmemory are refused");
    assert!(refused.contains("OOM"), "{refused}");
    // ... while B's Redis, elsewhere, takes them.
    let mut b_conn = redis_connect(&var(&b, "REDIS_URL")).await.unwrap();
    let b_key = format!("{}big", var(&b, "REDIS_KEY_PREFIX"));
    let () = redis::cmd("SET").arg(&b_key).arg(&chunk).query_async(&mut b_conn).await.unwrap();
    // B's credentials are nothing on A's server.
    let port = a_url.rsplit(':').next().unwrap();
    let b_on_a = format!("{}:{port}", var(&b, "REDIS_URL").rsplit_once(':').unwrap().0);
    assert!(redis_connect(&b_on_a).await.is_err(), "B's user does not exist on A's server");

    // A crashed server is started again, on the same URL.
    let dir = s.dir.path().join("data/addons/redis");
    let name = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().file_name();
    let admin = std::fs::read_to_string(dir.join(&name).join("admin-password")).unwrap();
    let mut admin_conn = redis_connect(&format!("redis://:{admin}@127.0.0.1:{port}")).await.unwrap();
    let info: String = redis::cmd("INFO").arg("server").query_async(&mut admin_conn).await.unwrap();
    let pid: u32 = info.lines().find_map(|l| l.strip_prefix("process_id:")).unwrap().trim().parse().unwrap();
    slipway_tests::process::send_signal(pid, 9).unwrap();
    slipway_tests::eventually("the server is back", Duration::from_secs(30), async || {
        let mut conn = redis_connect(&a_url).await.ok()?;
        redis::cmd("GET").arg("k").query_async::<Option<String>>(&mut conn).await.ok()
    })
    .await;

    // Destroyed: its process and directory are gone.
    let addon = s.ok("GET", "/v1/apps/a/addons", None, 200).await[0]["name"].as_str().unwrap().to_owned();
    s.ok("DELETE", &format!("/v1/addons/{addon}"), None, 204).await;
    assert!(!dir.join(&name).exists());
    assert!(tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await.is_err(), "the server is stopped");
    s.stop().await;
}

#[tokio::test]
async fn a_dedicated_postgres_is_a_server_of_its_own_that_starts_again_with_the_control_plane() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    dedicated(&mut config);
    let server = slipway_control::server::Server::start(config.clone()).await.unwrap();
    let s = TestServer { api: server.api_addr(), server: Some(server), dir: tempfile::tempdir().unwrap(), logd: None };
    let a = var(&create(&s, "a", "postgres", "dedicated").await, "DATABASE_URL");
    let b = var(&create(&s, "b", "postgres", "dedicated").await, "DATABASE_URL");
    let port = |url: &str| url.rsplit(':').next().unwrap().split('/').next().unwrap().to_owned();
    assert_ne!(port(&a), port(&b), "each on a server of its own");
    let a_conn = pg(&a).await.unwrap();
    a_conn.batch_execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('a')").await.unwrap();
    // A's role is unknown on B's server, and not a superuser on its own.
    let a_on_b = a.replace(&format!(":{}/", port(&a)), &format!(":{}/", port(&b)));
    assert!(pg(&a_on_b).await.is_err());
    let superuser: bool =
        a_conn.query_one("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", &[]).await.unwrap().get(0);
    assert!(!superuser);
    // The plan's connection limit (a_conn, then two more; a fourth is refused).
    let (_two, _three) = (pg(&a).await.unwrap(), pg(&a).await.unwrap());
    let Err(over) = pg(&a).await else { panic!("a connection over the limit was accepted") };
    assert!(message(&over).contains("too many connections for role"), "{}", message(&over));
    drop((a_conn, _two, _three));

    // The control plane stops (its servers with it) and starts again: so do they.
    let TestServer { server, dir: other, .. } = s;
    server.unwrap().stop().await;
    assert!(pg(&a).await.is_err(), "stopped with the control plane");
    let server = slipway_control::server::Server::start(config).await.unwrap();
    let s = TestServer { api: server.api_addr(), server: Some(server), dir: other, logd: None };
    let row = slipway_tests::eventually("A's server is back", Duration::from_secs(60), async || {
        let conn = pg(&a).await.ok()?;
        conn.query_one("SELECT v FROM kept", &[]).await.ok().map(|r| r.get::<_, String>(0))
    })
    .await;
    assert_eq!(row, "a");

    // The app's destroy stops A's server and removes its data.
    s.ok("DELETE", "/v1/apps/a", None, 204).await;
    let root = dir.path().join("data/addons/postgres");
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 1, "only B's directory is left");
    assert!(tokio::net::TcpStream::connect(format!("127.0.0.1:{}", port(&a))).await.is_err());
    s.stop().await;
    assert!(tokio::net::TcpStream::connect(format!("127.0.0.1:{}", port(&b))).await.is_err());
}

#[tokio::test]
async fn in_managed_mode_the_control_plane_runs_the_shared_servers_itself_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.addons.managed = true;
    let server = slipway_control::server::Server::start(config.clone()).await.unwrap();
    let s = TestServer { api: server.api_addr(), server: Some(server), dir: tempfile::tempdir().unwrap(), logd: None };
    app_with(&s, "shop", "postgres").await;
    let config_vars = app_with(&s, "shop", "redis").await;
    let (db, cache) = (var(&config_vars, "DATABASE_URL"), var(&config_vars, "REDIS_URL"));
    pg(&db).await.unwrap().batch_execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('x')").await.unwrap();
    let key = format!("{}k", var(&config_vars, "REDIS_KEY_PREFIX"));
    let () = redis::cmd("SET").arg(&key).arg("v").query_async(&mut redis_connect(&cache).await.unwrap()).await.unwrap();
    let TestServer { server, dir: other, .. } = s;
    server.unwrap().stop().await;
    assert!(pg(&db).await.is_err(), "the managed servers stop with the control plane");
    let server = slipway_control::server::Server::start(config).await.unwrap();
    let s = TestServer { api: server.api_addr(), server: Some(server), dir: other, logd: None };
    let row: String = pg(&db).await.unwrap().query_one("SELECT v FROM kept", &[]).await.unwrap().get(0);
    assert_eq!(row, "x");
    let value: String =
        redis::cmd("GET").arg(&key).query_async(&mut redis_connect(&cache).await.unwrap()).await.unwrap();
    assert_eq!(value, "v", "the managed Redis keeps its data (append-only file)");
    s.ok("DELETE", "/v1/apps/shop", None, 204).await;
    s.stop().await;
}

#[tokio::test]
async fn the_release_phase_migrates_before_the_web_process_serves_and_a_failing_one_keeps_the_old_release() {
    let pg_server = Postgres::start().await;
    let url = pg_server.admin_url();
    let s = common::start_with_logd(|c| c.addons.postgres.servers.push(url)).await;
    app_with(&s, "shop", "postgres").await;
    let app_py = std::fs::read_to_string(common::echo_app().join("app.py")).unwrap();
    let procfile = concat!(
        "release: psql \"$DATABASE_URL\" -v ON_ERROR_STOP=1 -qc \"CREATE TABLE greetings (v text); INSERT INTO greetings VALUES ('migrated')\" && echo migrated v=$SLIPWAY_RELEASE\n",
        "web: test \"$(psql \"$DATABASE_URL\" -Atc 'SELECT v FROM greetings')\" = migrated && exec python3 app.py\n",
    );
    let deployed = s.deploy_files("shop", &[("Procfile", procfile), ("app.py", &app_py)]).await;
    assert_eq!(deployed.status, 201, "{}", deployed.text());
    let version = deployed.json()["version"].as_u64().unwrap();
    let port = s.up_port("shop", "web.1").await;
    assert_eq!(common::get_port(port, "/").await.json()["release"], format!("v{version}"));
    // The release command is no process of the app, and its output is in the log.
    assert!(s.dynos("shop").await.iter().all(|d| d["type"] == "web"));
    let mut logs = s.logs("shop", "").await;
    let line =
        logs.wait_log("the release phase's output", |l| l["source"] == "release" && l["stream"] == "stdout").await;
    assert_eq!(line["message"], format!("migrated v=v{version}"));

    let failing = "release: echo 'migration failed' >&2; exit 3\nweb: exec python3 app.py\n";
    let refused = s.deploy_files("shop", &[("Procfile", failing), ("app.py", &app_py)]).await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert_eq!(refused.json()["error"]["code"], "release_failed");
    assert_eq!(
        refused.json()["error"]["message"],
        format!(
            "release v{} failed in its release phase: the release command exited with status 3; v{version} keeps running",
            version + 1
        )
    );
    assert_eq!(s.ok("GET", "/v1/apps/shop", None, 200).await["release"], version);
    assert_eq!(common::get_port(port, "/").await.json()["release"], format!("v{version}"));
    logs.wait_log("the failing release phase's stderr", |l| {
        l["source"] == "release" && l["message"] == "migration failed"
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn a_rollback_past_an_addons_destroy_does_not_bring_its_vars_back() {
    let redis_server = Redis::start().await;
    let s = control(None, Some(&redis_server)).await;
    s.ok("POST", "/v1/apps", Some(json!({ "name": "shop" })), 201).await;
    s.ok("PATCH", "/v1/apps/shop/config", Some(json!({ "KEEP": "1" })), 200).await;
    let with = app_with(&s, "shop", "redis").await;
    let url = var(&with, "REDIS_URL");
    let addons = s.ok("GET", "/v1/apps/shop/addons", None, 200).await;
    let name = addons[0]["name"].as_str().unwrap().to_owned();
    // The release to go back to had the add-on's vars.
    s.ok("PATCH", "/v1/apps/shop/config", Some(json!({ "OTHER": "2" })), 200).await;
    let target = s.ok("GET", "/v1/apps/shop/config", None, 200).await;
    assert_eq!(target["REDIS_URL"], url.as_str(), "{target}");
    let releases = s.ok("GET", "/v1/apps/shop/releases", None, 200).await;
    let version = releases.as_array().unwrap().iter().map(|r| r["version"].as_u64().unwrap()).max().unwrap();
    s.ok("DELETE", &format!("/v1/addons/{name}"), None, 204).await;
    s.ok("POST", "/v1/apps/shop/releases/rollback", Some(json!({ "version": version })), 201).await;
    let config = s.ok("GET", "/v1/apps/shop/config", None, 200).await;
    assert_eq!(config["KEEP"], "1", "{config}");
    assert_eq!(config["OTHER"], "2", "{config}");
    assert!(config.get("REDIS_URL").is_none(), "the destroyed add-on's URL is back: {config}");
    assert!(config.get("REDIS_KEY_PREFIX").is_none(), "{config}");
}
