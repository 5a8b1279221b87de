//! Backups of PostgreSQL add-ons on a real PostgreSQL 15 (`slipway_tests::servers`):
//! a backup restores the rows it holds (shared and dedicated plans), a restore is done
//! as the add-on's own role and cannot reach another app's database, the schedule
//! follows the recorded times and keeps `backup_keep`, backups go with their add-on,
//! and the errors (Redis, unknown backup, one at a time).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{TestServer, start_with};
use serde_json::json;
use slipway_control::server::Server;
use slipway_tests::servers::postgres::connect as pg;
use slipway_tests::servers::{Postgres, Redis};

const HOUR: i64 = 3600 * 1000;

fn with_servers(c: &mut slipway_control::Config, pg: Option<&Postgres>, redis: Option<&Redis>) {
    c.addons.postgres.servers.extend(pg.map(Postgres::admin_url));
    c.addons.redis.servers.extend(redis.map(Redis::admin_url));
}

/// Creates app `app` (if needed) with an add-on of `kind` and `plan`; the add-on and
/// its URL.
async fn addon(s: &TestServer, app: &str, kind: &str, plan: &str) -> (serde_json::Value, String) {
    if s.api("GET", &format!("/v1/apps/{app}"), None).await.status == 404 {
        s.ok("POST", "/v1/apps", Some(json!({ "name": app })), 201).await;
    }
    let body = json!({ "kind": kind, "plan": plan });
    let addon = s.ok("POST", &format!("/v1/apps/{app}/addons?wait=true"), Some(body), 201).await;
    let config = s.ok("GET", &format!("/v1/apps/{app}/config"), None, 200).await;
    let var = addon["config_vars"].as_array().unwrap().iter().find(|v| v.as_str().unwrap().ends_with("_URL")).unwrap();
    let url = config[var.as_str().unwrap()].as_str().unwrap().to_owned();
    (addon, url)
}

fn name(addon: &serde_json::Value) -> String {
    addon["name"].as_str().unwrap().to_owned()
}

fn backups_dir(s: &TestServer, addon: &str) -> PathBuf {
    s.dir.path().join("data").join("backups").join(addon)
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

async fn ids(s: &TestServer, addon: &str) -> Vec<String> {
    let list = s.ok("GET", &format!("/v1/addons/{addon}/backups"), None, 200).await;
    list.as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap().to_owned()).collect()
}

async fn rows(url: &str) -> Vec<(i32, String)> {
    let conn = pg(url).await.unwrap();
    let rows = conn.query("SELECT id, v FROM items ORDER BY id", &[]).await.unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

#[tokio::test]
async fn a_backup_then_restore_brings_the_rows_back_on_shared_and_dedicated_plans() {
    let server = Postgres::start().await;
    let s = start_with(|c| with_servers(c, Some(&server), None)).await;
    for (app, plan) in [("shop", "shared"), ("big", "dedicated")] {
        let (addon, url) = addon(&s, app, "postgres", plan).await;
        let addon = name(&addon);
        let conn = pg(&url).await.unwrap();
        conn.batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, v text); INSERT INTO items VALUES (1, 'one'), (2, 'two')",
        )
        .await
        .unwrap();

        let backup = s.ok("POST", &format!("/v1/addons/{addon}/backups"), None, 201).await;
        assert_eq!((backup["id"].as_str(), backup["state"].as_str()), (Some("b001"), Some("completed")), "{backup}");
        assert!(backup["size"].as_u64().unwrap() > 0, "{backup}");
        assert_eq!(files(&backups_dir(&s, &addon)), vec!["b001.dump"], "the complete file only, no partial one");

        conn.batch_execute("DELETE FROM items WHERE id = 1; UPDATE items SET v = 'changed' WHERE id = 2; INSERT INTO items VALUES (3, 'new')")
            .await
            .unwrap();
        drop(conn);
        let restored = s.ok("POST", &format!("/v1/addons/{addon}/backups/b001/restore"), None, 200).await;
        assert_eq!(restored["id"], "b001");
        assert_eq!(rows(&url).await, vec![(1, "one".to_owned()), (2, "two".to_owned())], "{plan}: the backup's rows");
        assert_eq!(ids(&s, &addon).await, vec!["b001"]);
    }
    s.stop().await;
}

#[tokio::test]
async fn a_dump_taken_from_another_app_restores_as_the_apps_own_role_and_leaves_the_other_untouched() {
    let server = Postgres::start().await;
    let s = start_with(|c| with_servers(c, Some(&server), None)).await;
    let (a, a_url) = addon(&s, "a", "postgres", "shared").await;
    let (_, b_url) = addon(&s, "b", "postgres", "shared").await;
    let (a, b_db) = (name(&a), b_url.rsplit('/').next().unwrap().to_owned());
    let a_db = a_url.rsplit('/').next().unwrap().to_owned();
    let b = pg(&b_url).await.unwrap();
    b.batch_execute("CREATE TABLE items (id int PRIMARY KEY, v text); INSERT INTO items VALUES (1, 'b'); GRANT SELECT ON items TO PUBLIC")
        .await
        .unwrap();
    pg(&a_url).await.unwrap().batch_execute("CREATE TABLE notes (v text)").await.unwrap();
    s.ok("POST", &format!("/v1/addons/{a}/backups"), None, 201).await;

    // A dump of B's database made by B's server admin, owners and grants included, put
    // in place of A's backup: what an operator (or an attacker with the files) could do.
    let file = backups_dir(&s, &a).join("b001.dump");
    let dumped = tokio::process::Command::new("/usr/lib/postgresql/15/bin/pg_dump")
        .args(["--format=custom", "--host", "127.0.0.1", "--port", &server.port.to_string()])
        .args(["--username", "postgres", "--dbname", &b_db, "--file"])
        .arg(&file)
        .env("PGPASSWORD", &server.password)
        .output()
        .await
        .unwrap();
    assert!(dumped.status.success(), "{}", String::from_utf8_lossy(&dumped.stderr));

    let restored = s.api("POST", &format!("/v1/addons/{a}/backups/b001/restore"), None).await;
    assert_eq!(restored.status, 200, "{}", restored.text());
    // A has B's rows, in objects A's role owns, open to no one else...
    assert_eq!(rows(&a_url).await, vec![(1, "b".to_owned())]);
    let admin_a = server.admin(&a_db).await;
    let objects = admin_a
        .query(
            "SELECT c.relname::text, pg_get_userbyid(c.relowner)::text, coalesce(c.relacl::text, '') FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'",
            &[],
        )
        .await
        .unwrap();
    assert!(!objects.is_empty());
    for row in &objects {
        let (object, owner, acl): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        assert_eq!(owner, a_db, "{object} is owned by A's role");
        assert!(!acl.contains(&b_db) && !acl.contains("=r/"), "{object} is open to no other role: {acl}");
    }
    let schema: (String, String) = {
        let row = admin_a
            .query_one("SELECT pg_get_userbyid(nspowner)::text, coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname = 'public'", &[])
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(schema.0, a_db, "the public schema stays A's");
    assert!(!schema.1.contains(&b_db) && !schema.1.contains("{=") && !schema.1.contains(",="), "{}", schema.1);
    // ...and B's database is as it was.
    let admin_b = server.admin(&b_db).await;
    let owner: String = admin_b
        .query_one("SELECT tableowner::text FROM pg_tables WHERE tablename = 'items'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, b_db);
    assert_eq!(rows(&b_url).await, vec![(1, "b".to_owned())]);
    s.stop().await;
}

/// A control plane on `dir` (kept across restarts) placing add-ons on `server`, keeping 2
/// backups per add-on.
async fn control_on(dir: &Path, server: &Postgres) -> Server {
    let mut config = common::config(dir);
    with_servers(&mut config, Some(server), None);
    config.addons.postgres.plans.get_mut("shared").unwrap().backup_keep = 2;
    config.validate().unwrap();
    Server::start(config).await.unwrap()
}

fn ms(rfc3339: &str) -> i64 {
    let t = humantime::parse_rfc3339(rfc3339).unwrap();
    i64::try_from(t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// The ids the schedule made at `now`.
async fn scheduled(server: &Server, now: i64) -> Vec<String> {
    let made = server.platform().run_scheduled_backups(now).await;
    made.into_iter().map(|b| b.unwrap().id).collect()
}

#[tokio::test]
async fn the_schedule_counts_from_recorded_times_across_restarts_and_keeps_backup_keep() {
    let pg_server = Postgres::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = control_on(dir.path(), &pg_server).await;
    let s = TestServer { api: server.api_addr(), server: Some(server), dir, logd: None };
    let (addon, _) = addon(&s, "shop", "postgres", "shared").await;
    // The API shows seconds: the recorded time is up to a second later.
    let (name, created) = (name(&addon), ms(addon["created_at"].as_str().unwrap()) + 1000);
    let server = s.server.as_ref().unwrap();

    // Every 24h (the default plan), counted from the add-on's creation...
    assert!(scheduled(server, created + 23 * HOUR).await.is_empty());
    assert_eq!(scheduled(server, created + 24 * HOUR).await, vec!["b001"]);
    // ...then from the last scheduled backup.
    assert!(scheduled(server, created + 47 * HOUR).await.is_empty());
    assert_eq!(scheduled(server, created + 48 * HOUR).await, vec!["b002"]);
    // An asked-for backup counts towards backup_keep (2) but not the schedule.
    s.ok("POST", &format!("/v1/addons/{name}/backups"), None, 201).await;
    assert_eq!(ids(&s, &name).await, vec!["b002", "b003"], "b001 pruned");
    assert_eq!(files(&backups_dir(&s, &name)), vec!["b002.dump", "b003.dump"]);
    let list = s.ok("GET", &format!("/v1/addons/{name}/backups"), None, 200).await;
    assert_eq!((list[0]["scheduled"].as_bool(), list[1]["scheduled"].as_bool()), (Some(true), Some(false)));

    // A restart (3 days later) catches up from the recorded time at once: one backup,
    // and the next one 24h after it, not 24h after the start.
    let TestServer { server, dir, .. } = s;
    server.unwrap().stop().await;
    let server = control_on(dir.path(), &pg_server).await;
    let s = TestServer { api: server.api_addr(), server: Some(server), dir, logd: None };
    let server = s.server.as_ref().unwrap();
    let later = created + 5 * 24 * HOUR;
    assert_eq!(scheduled(server, later).await, vec!["b004"]);
    assert!(scheduled(server, later + 23 * HOUR).await.is_empty());
    assert_eq!(ids(&s, &name).await, vec!["b003", "b004"]);
    assert_eq!(files(&backups_dir(&s, &name)), vec!["b003.dump", "b004.dump"]);
    s.stop().await;
}

#[tokio::test]
async fn destroying_an_addon_or_its_app_removes_its_backups_files_and_records() {
    let server = Postgres::start().await;
    let s = start_with(|c| with_servers(c, Some(&server), None)).await;
    let (first, _) = addon(&s, "shop", "postgres", "shared").await;
    let first = name(&first);
    s.ok("POST", &format!("/v1/addons/{first}/backups"), None, 201).await;
    s.ok("POST", &format!("/v1/addons/{first}/backups"), None, 201).await;
    assert_eq!(files(&backups_dir(&s, &first)).len(), 2);
    s.ok("DELETE", &format!("/v1/addons/{first}"), None, 204).await;
    assert!(!backups_dir(&s, &first).exists(), "the files are gone");
    // The records too: an add-on made again under the same name has no backups.
    let again = json!({ "kind": "postgres", "name": first });
    s.ok("POST", "/v1/apps/shop/addons?wait=true", Some(again), 201).await;
    assert!(ids(&s, &first).await.is_empty());
    s.ok("POST", &format!("/v1/addons/{first}/backups"), None, 201).await;
    assert_eq!(ids(&s, &first).await, vec!["b001"], "numbered from 1 again");

    // The app's destroy takes its add-ons' backups with them.
    s.ok("DELETE", "/v1/apps/shop", None, 204).await;
    assert!(!backups_dir(&s, &first).exists());
    assert!(files(&s.dir.path().join("data").join("backups")).is_empty());
    s.stop().await;
}

/// A `pg_dump` that records its arguments and whether it got PGPASSWORD, starts its
/// file (the last argument), then waits for the file `go` before running the real one.
fn slow_pg_dump(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = format!(
        "#!/bin/sh\necho \"$@\" > {d}/args\n[ -n \"$PGPASSWORD\" ] && echo yes > {d}/env\nfor a; do file=$a; done\necho half > \"$file\"\ntouch {d}/started\nwhile [ ! -e {d}/go ]; do sleep 0.02; done\nexec /usr/lib/postgresql/15/bin/pg_dump \"$@\"\n",
        d = dir.display()
    );
    std::fs::write(bin.join("pg_dump"), script).unwrap();
    let executable = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
    std::fs::set_permissions(bin.join("pg_dump"), executable).unwrap();
    std::os::unix::fs::symlink("/usr/lib/postgresql/15/bin/pg_restore", bin.join("pg_restore")).unwrap();
    bin
}

#[tokio::test]
async fn backups_run_one_at_a_time_with_the_password_out_of_sight_and_errors_name_the_problem() {
    let (pg_server, redis_server) = (Postgres::start().await, Redis::start().await);
    let tools = tempfile::tempdir().unwrap();
    let bin = slow_pg_dump(tools.path());
    let s = start_with(|c| {
        with_servers(c, Some(&pg_server), Some(&redis_server));
        c.addons.postgres.bin_dir = bin;
    })
    .await;
    let (pg_addon, url) = addon(&s, "shop", "postgres", "shared").await;
    let pg_addon = name(&pg_addon);
    let first = {
        let client = s.client();
        let path = format!("/v1/addons/{pg_addon}/backups");
        tokio::spawn(async move { client.json("POST", &path, None).await })
    };
    let started = tools.path().join("started");
    slipway_tests::eventually("pg_dump started", Duration::from_secs(30), async || started.exists().then_some(()))
        .await;

    // While it runs: a second backup, a restore and a destroy are refused.
    let second = s.api("POST", &format!("/v1/addons/{pg_addon}/backups"), None).await;
    assert_eq!(second.status, 409, "{}", second.text());
    assert!(
        second.text().contains("backup b001 is still running") || second.text().contains("being backed up"),
        "{}",
        second.text()
    );
    let destroy = s.api("DELETE", &format!("/v1/addons/{pg_addon}"), None).await;
    assert_eq!(destroy.status, 409, "{}", destroy.text());
    let list = s.ok("GET", &format!("/v1/addons/{pg_addon}/backups"), None, 200).await;
    assert_eq!(list[0]["state"], "running");
    // The half-written file is not the backup: not under its name, not restorable.
    assert_eq!(files(&backups_dir(&s, &pg_addon)), vec!["b001.dump.partial"]);
    let early = s.api("POST", &format!("/v1/addons/{pg_addon}/backups/b001/restore"), None).await;
    assert_eq!(early.status, 409, "{}", early.text());

    std::fs::write(tools.path().join("go"), "").unwrap();
    let first = first.await.unwrap();
    assert_eq!(first.status, 201, "{}", first.text());
    // The password went in PGPASSWORD, not on the command line.
    let password = url.split(':').nth(2).unwrap().split('@').next().unwrap();
    let args = std::fs::read_to_string(tools.path().join("args")).unwrap();
    assert!(!args.contains(password), "pg_dump {args}");
    assert_eq!(std::fs::read_to_string(tools.path().join("env")).unwrap().trim(), "yes");

    // Unknown backups and add-ons, and Redis: one clear error each.
    let unknown = s.api("POST", &format!("/v1/addons/{pg_addon}/backups/b009/restore"), None).await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.text().contains(&format!("add-on \\\"{pg_addon}\\\" has no backup b009")), "{}", unknown.text());
    let bad = s.api("POST", &format!("/v1/addons/{pg_addon}/backups/latest/restore"), None).await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.text().contains("is not a backup id like b001"), "{}", bad.text());
    assert_eq!(s.api("GET", "/v1/addons/postgres-none-1/backups", None).await.status, 404);
    let (redis_addon, _) = addon(&s, "shop", "redis", "shared").await;
    let redis_addon = name(&redis_addon);
    let refused = s.api("POST", &format!("/v1/addons/{redis_addon}/backups"), None).await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(refused.text().contains("redis add-ons have no backups (only postgres add-ons do)"), "{}", refused.text());
    assert_eq!(s.api("GET", &format!("/v1/addons/{redis_addon}/backups"), None).await.status, 422);

    // A failing pg_dump: its last stderr lines in the error, recorded as failed.
    let role = url.rsplit('/').next().unwrap();
    pg_server.admin("postgres").await.batch_execute(&format!("ALTER ROLE \"{role}\" NOLOGIN")).await.unwrap();
    let failed = s.api("POST", &format!("/v1/addons/{pg_addon}/backups"), None).await;
    assert_eq!(failed.status, 503, "{}", failed.text());
    assert!(
        failed.text().contains("pg_dump: exit status: 1") && failed.text().contains("is not permitted to log in"),
        "{}",
        failed.text()
    );
    let list = s.ok("GET", &format!("/v1/addons/{pg_addon}/backups"), None, 200).await;
    assert_eq!((list[1]["id"].as_str(), list[1]["state"].as_str()), (Some("b002"), Some("failed")));
    assert_eq!(files(&backups_dir(&s, &pg_addon)), vec!["b001.dump"]);
    s.stop().await;
}

#[tokio::test]
async fn a_backup_past_backup_timeout_is_stopped_recorded_failed_and_leaves_no_file() {
    let pg_server = Postgres::start().await;
    let tools = tempfile::tempdir().unwrap();
    // The stand-in waits for a `go` that never comes.
    let bin = slow_pg_dump(tools.path());
    let s = start_with(|c| {
        with_servers(c, Some(&pg_server), None);
        c.addons.postgres.bin_dir = bin;
        c.addons.backup_timeout = Duration::from_secs(1);
    })
    .await;
    let (pg_addon, _) = addon(&s, "shop", "postgres", "shared").await;
    let pg_addon = name(&pg_addon);
    let failed = s.api("POST", &format!("/v1/addons/{pg_addon}/backups"), None).await;
    assert_eq!(failed.status, 503, "{}", failed.text());
    assert!(failed.text().contains("not done within 1s (addons.backup_timeout): stopped"), "{}", failed.text());
    assert!(tools.path().join("started").exists(), "the stand-in ran");
    let list = s.ok("GET", &format!("/v1/addons/{pg_addon}/backups"), None, 200).await;
    assert_eq!(list[0]["state"], "failed", "{list}");
    assert!(files(&backups_dir(&s, &pg_addon)).is_empty(), "the half-written dump is gone");
    // And the add-on is free again: a destroy is not refused as busy.
    assert_eq!(s.api("DELETE", &format!("/v1/addons/{pg_addon}"), None).await.status, 204);
}

#[tokio::test]
async fn at_start_partial_dumps_and_backups_of_addons_with_no_record_are_removed() {
    let pg_server = Postgres::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = control_on(dir.path(), &pg_server).await;
    let s = TestServer { api: server.api_addr(), server: Some(server), dir, logd: None };
    let (addon, _) = addon(&s, "shop", "postgres", "shared").await;
    let name = name(&addon);
    s.ok("POST", &format!("/v1/addons/{name}/backups"), None, 201).await;
    let TestServer { server, dir, .. } = s;
    server.unwrap().stop().await;
    // What a killed control plane may leave: a half-written dump, and the backups of an
    // add-on whose record is gone.
    let own = dir.path().join("data").join("backups").join(&name);
    std::fs::write(own.join("b002.dump.partial"), "half").unwrap();
    let orphan = dir.path().join("data").join("backups").join("postgres-gone-1");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("b001.dump"), "someone's data").unwrap();

    let server = control_on(dir.path(), &pg_server).await;
    let s = TestServer { api: server.api_addr(), server: Some(server), dir, logd: None };
    assert_eq!(files(&backups_dir(&s, &name)), vec!["b001.dump"], "the completed backup stays");
    assert!(!orphan.exists(), "the backups of an add-on with no record are removed");
    s.stop().await;
}
