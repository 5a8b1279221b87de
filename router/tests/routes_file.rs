//! The routes file: loaded at start, reloaded on change, an invalid one keeps the routes.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{eventually, start};
use slipway_tests::Backend;

fn write(path: &Path, text: &str) {
    // Write-then-rename, as editors and config management do.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn routes(app: &str, endpoint: &str) -> String {
    format!("[[apps]]\nname = \"{app}\"\nendpoints = [\"{endpoint}\"]\n")
}

#[tokio::test]
async fn the_routes_file_is_reloaded_and_an_invalid_one_keeps_the_routes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.toml");
    let (one, two) = (Backend::start("one").await, Backend::start("two").await);
    write(&file, &routes("web", &one.endpoint()));
    let mut config = common::config();
    config.routes.file = Some(file.clone());
    let router = start(config).await;
    assert_eq!(router.get("web", "/").await.json()["backend"], "one");

    // A change is picked up.
    write(&file, &routes("web", &two.endpoint()));
    eventually("web moves to backend two", async || router.get("web", "/").await.json()["backend"] == "two").await;

    // An invalid file is refused, counted, and the routes stay.
    write(&file, "[[apps]]\nname = \"web\"\nendpoints = [\"not an endpoint\"]\n");
    eventually("the invalid file is counted", async || {
        router.metric(r#"slipway_router_routes_file_reloads_total{result="error"}"#) >= 1.0
    })
    .await;
    assert_eq!(router.get("web", "/").await.json()["backend"], "two");

    // Apps the admin API created survive file reloads; apps removed from the file go.
    router.put_app("api-app", &[one.endpoint()]).await;
    write(&file, &routes("other", &one.endpoint()));
    eventually("web leaves with the file", async || router.get("web", "/").await.status == 404).await;
    assert_eq!(router.get("other", "/").await.status, 200);
    assert_eq!(router.get("api-app", "/").await.status, 200);
    router.stop().await;
}

#[tokio::test]
async fn json_routes_files_work_and_the_example_file_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.json");
    let app = Backend::start("json").await;
    let json =
        serde_json::json!({ "apps": [{ "name": "j", "hosts": ["j.example.org"], "endpoints": [app.endpoint()] }] });
    std::fs::write(&file, json.to_string()).unwrap();
    let mut config = common::config();
    config.routes.file = Some(file);
    let router = start(config).await;
    assert_eq!(slipway_tests::get(router.http, "j.example.org", "/").await.status, 200);
    router.stop().await;

    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/routes.toml");
    let apps = slipway_router::sources::file::parse(&example, &std::fs::read_to_string(&example).unwrap()).unwrap();
    assert_eq!(apps[0].name, "demo");
    apps[0].validate().unwrap();
}

#[tokio::test]
async fn an_invalid_routes_file_at_start_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.toml");
    std::fs::write(&file, "[[apps]]\nname = \"ok\"\n\n[[apps]]\nname = \"Not_A_Label\"\n").unwrap();
    let mut config = common::config();
    config.routes.file = Some(file.clone());
    let err = tokio::task::spawn_blocking(move || slipway_router::Router::start(config)).await.unwrap().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("routes.toml") && text.contains("apps[1].name"), "{text}");
}
