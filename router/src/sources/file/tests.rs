use std::time::Duration;

use super::*;
use crate::table::Routes;
use crate::table::update::{Defaults, spawn_writer};

fn routes_toml(endpoint: &str) -> String {
    format!("[[apps]]\nname = \"web\"\nendpoints = [\"{endpoint}\"]\n")
}

fn web_endpoint(routes: &Routes) -> Option<String> {
    routes.snapshot().app("web").map(|app| app.state().spec.endpoints.join(","))
}

fn writer(routes: &Arc<Routes>, metrics: &Arc<Metrics>) -> RouteWriter {
    let defaults = Defaults::for_tests();
    spawn_writer(routes.clone(), metrics.clone(), defaults)
}

/// The window of a routes-file edit made just after start, reproduced on purpose: the file
/// changes after the initial load read it and before the watch is in place (no event of
/// the watch covers it). The watcher starts from the bytes the load applied, so it sees
/// the difference and applies the edit.
#[tokio::test]
async fn an_edit_between_the_load_and_the_start_of_the_watch_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routes.toml");
    std::fs::write(&path, routes_toml("127.0.0.1:1001")).unwrap();
    let routes = Arc::new(Routes::new(&["zone.test".to_owned()]));
    let metrics = Arc::new(Metrics::new());
    let writer = writer(&routes, &metrics);
    let loaded = load(&path, &writer, &metrics).await.unwrap();
    assert_eq!(web_endpoint(&routes).as_deref(), Some("127.0.0.1:1001"));

    std::fs::write(&path, routes_toml("127.0.0.1:1002")).unwrap();

    let mut published = routes.watch();
    let _watcher = watch(path.clone(), loaded.bytes, writer, metrics.clone()).unwrap();
    let published = async { published.wait_for(|v| *v > loaded.version).await.map(|v| *v) };
    let applied = tokio::time::timeout(Duration::from_secs(10), published).await;
    assert!(applied.is_ok(), "the edit made before the watch started was never applied");
    assert_eq!(web_endpoint(&routes).as_deref(), Some("127.0.0.1:1002"));
    assert_eq!(metrics.routes_file_reloads.with_label_values(&["ok"]).get(), 2, "the load, then the edit");
}
