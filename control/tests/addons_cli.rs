//! The add-on commands that need real servers, run as the real binary against a real
//! control plane with add-ons on Debian's PostgreSQL 15 and Redis 7: `addons backup`,
//! `backups` and `restore` (what they print, the confirmation), and `addons psql` and
//! `addons redis-cli` (the client reaches the add-on as its own role or ACL user,
//! arguments and stdin reach it, its exit status is slipway's; the wrong kind and a client
//! that is not installed are one clear error; the password is never on the client's
//! command line).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::cli::{self, Run};
use common::{TestServer, start_with};
use serde_json::json;
use slipway_tests::servers::{Postgres, Redis};

/// Runs `slipway args` against `s` with `stdin`, and `PATH` = `path` when given.
async fn slipway(s: &TestServer, args: &[&str], stdin: &str, path: Option<&Path>) -> Run {
    let path: Vec<_> = path.map(|p| ("PATH", p.to_str().unwrap())).into_iter().collect();
    cli::against(s, &path, args, stdin.as_bytes()).await
}

/// A control plane on these servers with app `shop`, its add-on of `kind` named `name`;
/// the app's config vars.
async fn shop_with(s: &TestServer, kind: &str, name: &str) -> serde_json::Value {
    if s.api("GET", "/v1/apps/shop", None).await.status == 404 {
        s.ok("POST", "/v1/apps", Some(json!({ "name": "shop" })), 201).await;
    }
    s.ok("POST", "/v1/apps/shop/addons?wait=true", Some(json!({ "kind": kind, "name": name })), 201).await;
    s.ok("GET", "/v1/apps/shop/config", None, 200).await
}

#[track_caller]
fn prints(run: &Run, expected: &str) {
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "stdout: {}", run.stdout);
    assert_eq!(run.stdout, expected);
}

#[tokio::test]
async fn addons_psql_runs_psql_as_the_addons_role_with_its_args_and_stdin_and_exits_with_its_status() {
    let server = Postgres::start().await;
    let url = server.admin_url();
    let s = start_with(|c| c.addons.postgres.servers.push(url)).await;
    shop_with(&s, "postgres", "db").await;

    prints(&slipway(&s, &["addons", "psql", "db", "--", "-tAc", "select 42"], "", None).await, "42\n");
    let own = "select current_user = current_database() and not rolsuper from pg_roles where rolname = current_user";
    prints(&slipway(&s, &["addons", "psql", "db", "--", "-tAc", own], "", None).await, "t\n");
    // Piped stdin reaches psql.
    prints(&slipway(&s, &["addons", "psql", "db", "--", "-tA"], "select 6 * 7;\n", None).await, "42\n");
    // psql's own failure: its message, its exit status, nothing added.
    let failed = slipway(&s, &["addons", "psql", "db", "--", "-c", "select nope"], "", None).await;
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(failed.stderr.contains("column \"nope\" does not exist"), "{}", failed.stderr);
    assert!(!failed.stderr.contains("error: "), "{}", failed.stderr);
    // The wrong client for the kind.
    let wrong = slipway(&s, &["addons", "redis-cli", "db"], "", None).await;
    assert_eq!((wrong.code, wrong.stdout.as_str()), (2, ""));
    assert_eq!(wrong.stderr, "error: db is a postgres add-on, not redis (hint: use `slipway addons psql db`)\n");
    s.stop().await;
}

#[tokio::test]
async fn addons_redis_cli_runs_as_the_addons_acl_user_within_its_key_prefix() {
    let server = Redis::start().await;
    let url = server.admin_url();
    let s = start_with(|c| c.addons.redis.servers.push(url)).await;
    let config = shop_with(&s, "redis", "cache").await;
    let prefix = config["REDIS_KEY_PREFIX"].as_str().unwrap();
    let key = format!("{prefix}greeting");

    prints(&slipway(&s, &["addons", "redis-cli", "cache", "--", "SET", &key, "hello"], "", None).await, "OK\n");
    prints(&slipway(&s, &["addons", "redis-cli", "cache", "--", "GET", &key], "", None).await, "hello\n");
    prints(&slipway(&s, &["addons", "redis-cli", "cache"], &format!("GET {key}\n"), None).await, "hello\n");
    let whoami = slipway(&s, &["addons", "redis-cli", "cache", "--", "ACL", "WHOAMI"], "", None).await;
    assert_ne!(whoami.stdout.trim(), "default", "{}", whoami.stdout);
    // Outside its prefix: refused by the server, as for the app.
    let other = slipway(&s, &["addons", "redis-cli", "cache", "--", "GET", "someone-else:key"], "", None).await;
    assert!(format!("{}{}", other.stdout, other.stderr).contains("NOPERM"), "{}{}", other.stdout, other.stderr);
    s.stop().await;
}

#[tokio::test]
async fn a_client_that_is_not_installed_names_its_package_and_no_password_reaches_the_command_line() {
    let (pg_server, redis_server) = (Postgres::start().await, Redis::start().await);
    let (pg_url, redis_url) = (pg_server.admin_url(), redis_server.admin_url());
    let s = start_with(|c| {
        c.addons.postgres.servers.push(pg_url);
        c.addons.redis.servers.push(redis_url);
    })
    .await;
    let pg_config = shop_with(&s, "postgres", "db").await;
    let redis_config = shop_with(&s, "redis", "cache").await;

    let empty = s.dir.path().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let psql = slipway(&s, &["addons", "psql", "db"], "", Some(&empty)).await;
    assert_eq!((psql.code, psql.stdout.as_str()), (1, ""));
    assert_eq!(
        psql.stderr,
        "error: psql is not installed (or not on PATH) (hint: on Debian: sudo apt-get install postgresql-client)\n"
    );
    let redis_cli = slipway(&s, &["addons", "redis-cli", "cache"], "", Some(&empty)).await;
    assert_eq!(
        redis_cli.stderr,
        "error: redis-cli is not installed (or not on PATH) (hint: on Debian: sudo apt-get install redis-tools)\n"
    );

    // Stand-ins that show what they were given: the password only in the environment.
    let fakes = s.dir.path().join("fake-bin");
    std::fs::create_dir_all(&fakes).unwrap();
    for program in ["psql", "redis-cli"] {
        let script = "#!/bin/sh\necho \"args: $*\"\necho \"env: ${PGPASSWORD}${REDISCLI_AUTH}\"\nexit 3\n";
        std::fs::write(fakes.join(program), script).unwrap();
        let executable = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
        std::fs::set_permissions(fakes.join(program), executable).unwrap();
    }
    for (client, name, url) in [
        ("psql", "db", pg_config["DATABASE_URL"].as_str().unwrap()),
        ("redis-cli", "cache", redis_config["REDIS_URL"].as_str().unwrap()),
    ] {
        let password = url.split(':').nth(2).unwrap().split('@').next().unwrap();
        let user = url.split("//").nth(1).unwrap().split(':').next().unwrap();
        let run = slipway(&s, &["addons", client, name, "--", "-x"], "", Some(&fakes)).await;
        assert_eq!(run.code, 3, "the client's exit status: {}", run.stderr);
        let (args, env) = run.stdout.split_once('\n').unwrap();
        assert!(!args.contains(password) && args.contains(user) && args.ends_with(" -x"), "{client} {args}");
        assert_eq!(env.trim(), format!("env: {password}"), "{client}");
    }
    s.stop().await;
}

#[tokio::test]
async fn addons_backup_backups_and_restore_print_what_they_did_and_restore_needs_the_apps_name() {
    let server = Postgres::start().await;
    let url = server.admin_url();
    let s = start_with(|c| c.addons.postgres.servers.push(url)).await;
    shop_with(&s, "postgres", "db").await;
    let none = slipway(&s, &["addons", "backups", "db"], "", None).await;
    prints(&none, "db has no backups (hint: `slipway addons backup db`)\n");
    let made = slipway(&s, &["addons", "backup", "db"], "", None).await;
    assert_eq!(made.code, 0, "{}", made.stderr);
    assert!(made.stdout.starts_with("Backed up db: b001 (") && made.stdout.ends_with("B)\n"), "{}", made.stdout);
    let listed = slipway(&s, &["addons", "backups", "db"], "", None).await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("STATE") && lines[0].contains("MADE BY"),
        "{}",
        listed.stdout
    );
    assert!(
        lines[1].starts_with("b001") && lines[1].contains("completed") && lines[1].contains("manual"),
        "{}",
        listed.stdout
    );
    let json = slipway(&s, &["addons", "backups", "db", "--json"], "", None).await;
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!((parsed[0]["id"].as_str(), parsed[0]["state"].as_str()), (Some("b001"), Some("completed")));

    let unconfirmed = slipway(&s, &["addons", "restore", "db", "b001"], "", None).await;
    assert_eq!((unconfirmed.code, unconfirmed.stdout.as_str()), (2, ""));
    assert_eq!(
        unconfirmed.stderr,
        "error: restoring db from b001 replaces what its database has of what the backup holds (hint: confirm with `--confirm shop` (the app's name))\n"
    );
    let restored = slipway(&s, &["addons", "restore", "db", "b001", "--confirm", "shop"], "", None).await;
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    assert!(restored.stdout.starts_with("Restored db of shop from b001 ("), "{}", restored.stdout);
    let missing = slipway(&s, &["addons", "restore", "db", "b007", "--confirm", "shop"], "", None).await;
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.stderr,
        "error: add-on \"db\" has no backup b007 (list them with `slipway addons backups db`)\n"
    );
    s.stop().await;
}
