//! The `slipway` CLI, run as the real binary against a real control plane: the output of
//! the main commands, `--json`, errors (one line with a hint, non-zero exit), login, logs
//! and completions.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::cli::{self, Run};
use common::{TOKEN, TestServer, echo_app, get_port, start, start_with_logd};
use slipway_tests::process::Process;

/// Runs `slipway args` with `env` (and a private HOME), nothing inherited that matters.
async fn run(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    cli::run(home, env, args, b"").await
}

/// Runs `slipway args` against `s`.
async fn slipway(s: &TestServer, args: &[&str]) -> Run {
    cli::against(s, &[], args, b"").await
}

/// Succeeds with exactly `expected` on stdout and nothing on stderr.
#[track_caller]
fn prints(run: &Run, expected: &str) {
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "stdout: {}", run.stdout);
    assert_eq!(normalize(&run.stdout), expected);
}

/// Fails with `code` and exactly one stderr line.
#[track_caller]
fn fails(run: &Run, code: i32, expected: &str) {
    assert_eq!(run.code, code, "stdout: {}\nstderr: {}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, format!("{expected}\n"));
}

/// Replaces what changes from run to run by same-length placeholders: RFC 3339 times
/// and the tarball hash.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let shape = "dddd-dd-ddTdd:dd:ddZ";
    let mut i = 0;
    while i < chars.len() {
        let is_time = chars.len() - i >= shape.len()
            && shape.chars().zip(&chars[i..]).all(|(s, c)| if s == 'd' { c.is_ascii_digit() } else { s == *c });
        if is_time {
            out.push_str("YYYY-MM-DDThh:mm:ssZ");
            i += shape.len();
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    // `tarball 3f2a9c1d`: the upload's hash changes with the files' times.
    let mut rest = out.as_str();
    let mut result = String::with_capacity(out.len());
    while let Some(at) = rest.find("tarball ") {
        let (head, tail) = rest.split_at(at + "tarball ".len());
        result.push_str(head);
        let hex = tail.chars().take(8).filter(char::is_ascii_hexdigit).count() == 8;
        rest = if hex {
            result.push_str("HASHHASH");
            &tail[8..]
        } else {
            tail
        };
    }
    result.push_str(rest);
    result
}

#[tokio::test]
async fn the_main_commands_print_what_people_expect() {
    let s = start().await;
    prints(&slipway(&s, &["apps"]).await, "No apps yet (hint: `slipway apps create NAME`)\n");
    prints(&slipway(&s, &["apps", "create", "shop"]).await, "Created app shop: http://shop.test.localhost:8080\n");
    fails(
        &slipway(&s, &["apps", "create", "shop"]).await,
        1,
        "error: an app named \"shop\" already exists (hint: pick another name)",
    );
    prints(
        &slipway(&s, &["apps"]).await,
        "NAME  RELEASE  STATE  URL\nshop  v1       awake  http://shop.test.localhost:8080\n",
    );

    prints(
        &slipway(&s, &["config", "set", "GREETING=hello world", "-a", "shop"]).await,
        "Set GREETING on shop: release v2 is live\n",
    );
    prints(
        &slipway(&s, &["config", "set", "GREETING=hello world", "--app", "shop"]).await,
        "No change on shop: release v2 stays live\n",
    );
    prints(&slipway(&s, &["config", "-a", "shop"]).await, "=== shop config vars\nGREETING: hello world\n");
    prints(&slipway(&s, &["config", "get", "GREETING", "-a", "shop"]).await, "hello world\n");

    let echo = echo_app();
    let deployed = slipway(&s, &["deploy", echo.to_str().unwrap(), "-a", "shop"]).await;
    prints(
        &deployed,
        "Deployed shop: release v3 is live (Deploy tarball HASHHASH; processes: web, worker)\nhttp://shop.test.localhost:8080\n",
    );
    let port = s.up_port("shop", "web.1").await;
    prints(
        &slipway(&s, &["ps", "-a", "shop"]).await,
        &format!(
            "PROCESS  STATE  RELEASE  PORT   RESTARTS  SINCE                 COMMAND\n\
             web.1    up     v3       {port}  0         YYYY-MM-DDThh:mm:ssZ  python3 app.py\n"
        ),
    );
    prints(&slipway(&s, &["ps", "scale", "web=2", "-a", "shop"]).await, "Scaled shop to web=2, worker=0\n");
    prints(&slipway(&s, &["ps", "restart", "web.2", "-a", "shop"]).await, "Restarted web.2 of shop\n");

    prints(
        &slipway(&s, &["releases", "-a", "shop"]).await,
        "RELEASE  STATE      CREATED               DESCRIPTION\n\
         v3       live       YYYY-MM-DDThh:mm:ssZ  Deploy tarball HASHHASH\n\
         v2       succeeded  YYYY-MM-DDThh:mm:ssZ  Set GREETING\n\
         v1       succeeded  YYYY-MM-DDThh:mm:ssZ  Initial release\n",
    );
    let worker =
        "python3 -c \"import time, os; print('worker', os.environ['DYNO'], 'up', flush=True); time.sleep(100000)\"";
    prints(
        &slipway(&s, &["releases", "info", "v3", "-a", "shop"]).await,
        &format!(
            "=== shop v3\nDescription: Deploy tarball HASHHASH\nState:       live\nCreated:     YYYY-MM-DDThh:mm:ssZ\n\
             Source:      tarball HASHHASH\nProcesses:   web: python3 app.py; worker: {worker}\nConfig vars: GREETING\n"
        ),
    );
    prints(&slipway(&s, &["releases", "rollback", "-a", "shop"]).await, "Rollback to v2 of shop: release v4 is live\n");
    prints(
        &slipway(&s, &["releases", "rollback", "3", "-a", "shop"]).await,
        "Rollback to v3 of shop: release v5 is live\n",
    );

    prints(&slipway(&s, &["domains", "-a", "shop"]).await, "shop has no custom domains\n");
    prints(
        &slipway(&s, &["domains", "add", "shop.example.com", "-a", "shop"]).await,
        "Added shop.example.com to shop\n",
    );
    prints(
        &slipway(&s, &["domains", "-a", "shop"]).await,
        "DOMAIN            ADDED\nshop.example.com  YYYY-MM-DDThh:mm:ssZ\n",
    );
    prints(
        &slipway(&s, &["apps", "info", "-a", "shop"]).await,
        "=== shop\nURL:          http://shop.test.localhost:8080\nRelease:      v5\nProcesses:    web=2, worker=0\n\
         Domains:      shop.example.com\nSleeps after: never\nState:        awake\nCreated:      YYYY-MM-DDThh:mm:ssZ\n",
    );
    prints(
        &slipway(&s, &["apps", "update", "--sleep-after", "15m", "-a", "shop"]).await.stdout_only_line(5),
        "Sleeps after: 15m\n",
    );
    prints(
        &slipway(&s, &["domains", "remove", "shop.example.com", "-a", "shop"]).await,
        "Removed shop.example.com from shop\n",
    );
    prints(&slipway(&s, &["open", "--print", "-a", "shop"]).await, "http://shop.test.localhost:8080\n");
    fails(
        &slipway(&s, &["apps", "destroy", "-a", "shop"]).await,
        2,
        "error: destroying shop deletes its processes, releases, config and domains (hint: confirm with `--confirm shop`)",
    );
    prints(&slipway(&s, &["apps", "destroy", "-a", "shop", "--confirm", "shop"]).await, "Destroyed app shop\n");
    s.stop().await;
}

impl Run {
    /// Keeps only stdout line `n` (0-based), for checking one line of a block.
    fn stdout_only_line(mut self, n: usize) -> Run {
        self.stdout = self.stdout.lines().nth(n).map(|l| format!("{l}\n")).unwrap_or_default();
        self
    }
}

#[tokio::test]
async fn errors_are_one_line_with_a_hint_and_a_non_zero_exit() {
    let s = start().await;
    fails(
        &slipway(&s, &["apps", "info", "-a", "nope"]).await,
        1,
        "error: app \"nope\" not found (hint: list apps with `slipway apps`)",
    );
    fails(
        &slipway(&s, &["config"]).await,
        2,
        "error: no app given (hint: pass --app NAME (or set SLIPWAY_APP); `slipway apps` lists them)",
    );
    fails(
        &slipway(&s, &["apps", "create", "Bad_Name"]).await,
        1,
        "error: name: \"Bad_Name\" is not a DNS label: use a-z, 0-9 and '-', not starting or ending with '-'",
    );
    fails(
        &slipway(&s, &["frobnicate"]).await,
        2,
        "error: unrecognized subcommand 'frobnicate' (hint: see `slipway --help`)",
    );
    fails(
        &slipway(&s, &["apps", "create"]).await,
        2,
        "error: the following required arguments were not provided: <NAME> (hint: see `slipway apps create --help`)",
    );
    s.ok("POST", "/v1/apps", Some(serde_json::json!({ "name": "shop" })), 201).await;
    fails(&slipway(&s, &["config", "set", "GREETING", "-a", "shop"]).await, 2, "error: \"GREETING\" is not KEY=VALUE");
    fails(
        &slipway(&s, &["ps", "scale", "web=lots", "-a", "shop"]).await,
        2,
        "error: \"lots\" is not a count in web=lots",
    );
    fails(
        &slipway(&s, &["releases", "info", "latest", "-a", "shop"]).await,
        2,
        "error: \"latest\" is not a release like 3 or v3 (hint: list them with `slipway releases`)",
    );
    fails(
        &slipway(&s, &["ps", "scale", "web=1", "-a", "shop"]).await,
        1,
        "error: web: release v1 has no processes yet: deploy first",
    );
    fails(
        &slipway(&s, &["deploy", s.dir.path().to_str().unwrap(), "-a", "shop"]).await,
        2,
        &format!(
            "error: {} has no Procfile (hint: add one saying what to run, e.g. `web: python3 -m http.server $PORT`)",
            s.dir.path().display()
        ),
    );

    let home = s.dir.path().join("elsewhere");
    std::fs::create_dir_all(&home).unwrap();
    fails(
        &run(&home, &[], &["apps"]).await,
        1,
        "error: not logged in to a Slipway control plane (hint: run `slipway login --api-url URL`, or set SLIPWAY_API_URL and SLIPWAY_TOKEN (`slipway up` prints them))",
    );
    let url = format!("http://{}", s.api);
    fails(
        &run(&home, &[("SLIPWAY_API_URL", &url), ("SLIPWAY_TOKEN", "wrong-token-0123456789")], &["apps"]).await,
        1,
        "error: wrong bearer token (hint: the token was refused: run `slipway login` or set SLIPWAY_TOKEN)",
    );
    let refused = run(&home, &[("SLIPWAY_API_URL", "http://127.0.0.1:1"), ("SLIPWAY_TOKEN", TOKEN)], &["apps"]).await;
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.starts_with("error: cannot reach http://127.0.0.1:1: "), "{}", refused.stderr);
    assert!(refused.stderr.ends_with(
        "(hint: is `slipway server` or `slipway up` running there? check SLIPWAY_API_URL or `slipway login`)\n"
    ));
    assert_eq!(refused.stderr.lines().count(), 1);
    fails(
        &run(&home, &[("SLIPWAY_API_URL", "ftp://x"), ("SLIPWAY_TOKEN", TOKEN)], &["apps"]).await,
        1,
        "error: \"ftp://x\" is not an API URL like \"http://127.0.0.1:9000\" (hint: set SLIPWAY_API_URL or run `slipway login --api-url URL`)",
    );
    s.stop().await;
}

#[tokio::test]
async fn json_output_is_the_apis_json() {
    let s = start().await;
    let created: serde_json::Value =
        serde_json::from_str(&slipway(&s, &["apps", "create", "shop", "--json"]).await.stdout).unwrap();
    assert_eq!(created["name"], "shop");
    let apps: serde_json::Value = serde_json::from_str(&slipway(&s, &["--json", "apps"]).await.stdout).unwrap();
    assert_eq!(apps, s.ok("GET", "/v1/apps", None, 200).await);
    let changed: serde_json::Value =
        serde_json::from_str(&slipway(&s, &["config", "set", "A=1", "-a", "shop", "--json"]).await.stdout).unwrap();
    assert_eq!((changed["changed"].as_bool(), changed["release"]["version"].as_u64()), (Some(true), Some(2)));
    let releases: serde_json::Value =
        serde_json::from_str(&slipway(&s, &["releases", "-a", "shop", "--json"]).await.stdout).unwrap();
    assert_eq!(releases.as_array().unwrap().len(), 2);
    let config: serde_json::Value =
        serde_json::from_str(&slipway(&s, &["config", "-a", "shop", "--json"]).await.stdout).unwrap();
    assert_eq!(config, serde_json::json!({ "A": "1" }));
    s.stop().await;
}

#[tokio::test]
async fn login_saves_the_token_for_later_commands_and_logout_forgets_it() {
    use std::os::unix::fs::PermissionsExt;
    let s = start().await;
    let home = s.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let url = format!("http://{}", s.api);
    let wrong = run(&home, &[], &["login", "--api-url", &url, "--token", "wrong-token-0123456789"]).await;
    assert_eq!(wrong.code, 1);
    let path = home.join(".config/slipway/credentials.toml");
    assert!(!path.exists(), "a refused token is not saved");
    prints(
        &run(&home, &[], &["login", "--api-url", &url, "--token", TOKEN]).await,
        &format!("Logged in to {url} (saved to {})\n", path.display()),
    );
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    prints(&run(&home, &[], &["apps"]).await, "No apps yet (hint: `slipway apps create NAME`)\n");
    prints(&run(&home, &[], &["logout"]).await, "Logged out\n");
    assert!(run(&home, &[], &["apps"]).await.stderr.starts_with("error: not logged in"));
    s.stop().await;
}

#[tokio::test]
async fn logs_come_from_logd_filtered_and_followed() {
    let s = start_with_logd(|_| {}).await;
    s.ok("POST", "/v1/apps", Some(serde_json::json!({ "name": "shop" })), 201).await;
    assert_eq!(s.deploy_dir("shop", &echo_app()).await.status, 201);
    let port = s.up_port("shop", "web.1").await;
    assert_eq!(get_port(port, "/before").await.status, 200);
    let mut logs = s.logs("shop", "&source=app").await;
    logs.wait_log("the request line reached logd", |l| l["message"] == "request /before by web.1").await;

    let past = slipway(&s, &["logs", "-a", "shop", "--source", "app"]).await;
    assert_eq!(past.code, 0, "{}", past.stderr);
    let lines: Vec<&str> = past.stdout.lines().collect();
    assert!(lines.iter().all(|l| l.contains(" app[web.1]: ")), "{lines:?}");
    let request = lines.iter().find(|l| l.ends_with("request /before by web.1")).expect("the request line");
    assert_eq!(request.len(), "2026-11-23T10:00:00.123456+00:00 app[web.1]: request /before by web.1".len());
    let events = slipway(&s, &["logs", "-a", "shop", "--source", "slipway", "--dyno", "web.1", "--num", "1000"]).await;
    assert!(events.stdout.contains(" slipway[web.1]: State changed from starting to up (port "), "{}", events.stdout);
    let json = slipway(&s, &["logs", "-a", "shop", "-n", "1", "--source", "app", "--json"]).await;
    let line: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!((line["app"].as_str(), line["stream"].as_str()), (Some("shop"), Some("stdout")));

    // --tail follows: a new request shows up while the command runs.
    let home = s.dir.path().join("home");
    let url = format!("http://{}", s.api);
    let env = [("SLIPWAY_API_URL", url.as_str()), ("SLIPWAY_TOKEN", TOKEN), ("HOME", home.to_str().unwrap())];
    let mut tail =
        Process::spawn(Path::new(env!("CARGO_BIN_EXE_slipway")), &["logs", "-a", "shop", "--tail", "-n", "1000"], &env);
    tail.wait_for_line("request /before by web.1", Duration::from_secs(30)).await;
    assert_eq!(get_port(port, "/while-tailing").await.status, 200);
    tail.wait_for_line("app[web.1]: request /while-tailing by web.1", Duration::from_secs(30)).await;
    tail.signal(15);
    tail.wait_exit(Duration::from_secs(10)).await;
    s.stop().await;
}

#[tokio::test]
async fn completions_are_printed_for_each_shell() {
    let home = tempfile::tempdir().unwrap();
    for (shell, needle) in [
        ("bash", "_slipway()"),
        ("zsh", "#compdef slipway"),
        ("fish", "complete -c slipway"),
        ("powershell", "slipway"),
    ] {
        let out = run(home.path(), &[], &["completions", shell]).await;
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(out.stdout.contains(needle), "{shell}");
        assert!(out.stdout.contains("rollback"), "{shell}: subcommands are completed");
    }
    let help = run(home.path(), &[], &["--help"]).await;
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Run control, router and logd in one process"));
}

#[tokio::test]
async fn addons_are_created_listed_shown_and_destroyed_with_confirmation() {
    let redis = slipway_tests::servers::Redis::start().await;
    let url = redis.admin_url();
    let s = common::start_with(|c| c.addons.redis.servers.push(url)).await;
    prints(&slipway(&s, &["apps", "create", "shop"]).await, "Created app shop: http://shop.test.localhost:8080\n");
    let created = slipway(&s, &["addons", "create", "redis", "--as", "cache", "--app", "shop"]).await;
    prints(&created, "Created cache (redis, plan shared) for shop: REDIS_KEY_PREFIX, REDIS_URL set\n");
    let listed = slipway(&s, &["addons", "--app", "shop"]).await;
    prints(
        &listed,
        "NAME   KIND   PLAN    STATE  CONFIG VARS\ncache  redis  shared  ready  REDIS_KEY_PREFIX, REDIS_URL\n",
    );
    let info = slipway(&s, &["addons", "info", "cache", "--json"]).await;
    assert_eq!(info.code, 0, "{}", info.stderr);
    let info: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
    assert_eq!((info["app"].as_str(), info["state"].as_str()), (Some("shop"), Some("ready")));
    assert_eq!(info["server"], format!("127.0.0.1:{}", redis.port));
    fails(
        &slipway(&s, &["addons", "destroy", "cache"]).await,
        2,
        "error: destroying cache deletes its data for good (hint: confirm with `--confirm shop` (the app's name))",
    );
    prints(&slipway(&s, &["addons", "destroy", "cache", "--confirm", "shop"]).await, "Destroyed cache of shop\n");
    fails(&slipway(&s, &["addons", "info", "cache"]).await, 1, "error: add-on \"cache\" not found");
    s.stop().await;
}

#[tokio::test]
async fn apps_create_with_a_source_sets_the_app_up_from_its_app_json_or_says_what_is_wrong() {
    let s = start().await;
    let dir = s.dir.path().join("src");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(echo_app().join("app.py"), dir.join("app.py")).unwrap();
    std::fs::write(dir.join("Procfile"), "web: exec python3 app.py\n").unwrap();
    let app_json = dir.join("app.json");
    std::fs::write(&app_json, r#"{"env": {"SECRET_KEY": {"generator": "uuid"}}}"#).unwrap();
    let source = dir.to_str().unwrap();
    fails(
        &slipway(&s, &["apps", "create", "shop", "--source-dir", source]).await,
        1,
        "error: app.json: env.SECRET_KEY.generator: unknown variant `uuid`, expected `secret` at line 1 column 43",
    );
    std::fs::write(
        &app_json,
        r#"{"env": {"SECRET_KEY": {"generator": "secret"}, "GREETING": {"required": true}}, "scripts": {"postdeploy": "echo seeded"}}"#,
    )
    .unwrap();
    fails(
        &slipway(&s, &["apps", "create", "shop", "--source-dir", source]).await,
        1,
        "error: env: app.json requires a value for GREETING: give them as overrides (`--set KEY=VALUE`)",
    );
    fails(
        &slipway(&s, &["apps", "create", "shop", "--set", "GREETING=hi"]).await,
        2,
        "error: --set needs a source to set the app up from (hint: add --source URL or --source-dir DIR, or use `slipway config set` after creating it)",
    );
    prints(
        &slipway(&s, &["apps", "create", "shop", "--source-dir", source, "--set", "GREETING=Bonjour"]).await,
        "Set up app shop (Set up from tarball HASHHASH): release v2 is live\nGenerated secrets: SECRET_KEY\nPostdeploy script: succeeded\nhttp://shop.test.localhost:8080\n",
    );
    let port = s.up_port("shop", "web.1").await;
    assert_eq!(get_port(port, "/").await.json()["greeting"], "Bonjour");
    s.stop().await;
}
