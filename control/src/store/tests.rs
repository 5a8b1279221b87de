use std::collections::BTreeMap;
use std::time::Duration;

use super::releases::NewRelease;
use super::*;

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("control.db").display());
    let store = Store::open(&url).await.unwrap();
    (dir, store)
}

fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[tokio::test]
async fn apps_start_with_a_live_first_release_and_names_are_unique() {
    let (_dir, store) = store().await;
    let app = store.create_app("shop", Some(Duration::from_secs(600)), 1000).await.unwrap();
    assert_eq!(app.current_release, Some(1));
    assert_eq!(store.app("shop").await.unwrap(), Some(app.clone()));
    assert!(matches!(store.create_app("shop", None, 2000).await, Err(StoreError::Conflict(_))));
    let releases = store.releases(app.id).await.unwrap();
    assert_eq!(releases.len(), 1);
    assert_eq!((releases[0].version, releases[0].status), (1, ReleaseStatus::Succeeded));
    assert_eq!(releases[0].description, "Initial release");
}

#[tokio::test]
async fn releases_are_numbered_and_only_succeeded_ones_go_live() {
    let (_dir, store) = store().await;
    let app = store.create_app("shop", None, 1).await.unwrap();
    let slug = SlugRow {
        id: "abc".into(),
        created_at: 2,
        source: crate::model::SourceRef::Tarball { sha256: "abc".into() },
        process_types: config(&[("web", "python3 app.py")]),
    };
    store.insert_slug(app.id, &slug).await.unwrap();
    store.insert_slug(app.id, &slug).await.unwrap();
    let vars = config(&[("A", "1")]);
    let v2 = store
        .create_release(app.id, NewRelease { description: "Deploy", slug_id: Some("abc"), config: &vars }, 3)
        .await
        .unwrap();
    assert_eq!((v2.version, v2.status), (2, ReleaseStatus::Pending));
    assert_eq!(v2.slug.as_ref(), Some(&slug));
    store.finish_release(app.id, 2, ReleaseStatus::Succeeded).await.unwrap();
    let v3 = store
        .create_release(app.id, NewRelease { description: "Set B", slug_id: Some("abc"), config: &vars }, 4)
        .await
        .unwrap();
    store.finish_release(app.id, 3, ReleaseStatus::Failed).await.unwrap();
    // A settled release does not move again.
    store.finish_release(app.id, 3, ReleaseStatus::Succeeded).await.unwrap();
    assert_eq!(store.release(app.id, v3.version).await.unwrap().unwrap().status, ReleaseStatus::Failed);
    assert_eq!(store.app("shop").await.unwrap().unwrap().current_release, Some(2));
    let versions: Vec<u64> = store.releases(app.id).await.unwrap().iter().map(|r| r.version).collect();
    assert_eq!(versions, [3, 2, 1]);
    store.create_release(app.id, NewRelease { description: "x", slug_id: None, config: &vars }, 5).await.unwrap();
    assert_eq!(store.fail_pending_releases().await.unwrap(), 1);
}

#[tokio::test]
async fn formation_defaults_to_one_web_and_keeps_scaled_counts() {
    let (_dir, store) = store().await;
    let app = store.create_app("shop", None, 1).await.unwrap();
    let types = ["web".to_owned(), "worker".to_owned()];
    store.add_process_types(app.id, &types).await.unwrap();
    assert_eq!(store.formation(app.id).await.unwrap(), [("web".into(), 1), ("worker".into(), 0)].into());
    store.set_formation(app.id, &[("web".into(), 3)].into()).await.unwrap();
    store.add_process_types(app.id, &types).await.unwrap();
    assert_eq!(store.formation(app.id).await.unwrap()["web"], 3);
}

#[tokio::test]
async fn domains_belong_to_one_app_and_go_with_it() {
    let (_dir, store) = store().await;
    let shop = store.create_app("shop", None, 1).await.unwrap();
    let blog = store.create_app("blog", None, 1).await.unwrap();
    store.add_domain(shop.id, "shop.example.com", 2).await.unwrap();
    store.add_domain(shop.id, "shop.example.com", 3).await.unwrap();
    let taken = store.add_domain(blog.id, "shop.example.com", 4).await.unwrap_err();
    assert!(taken.to_string().contains("\"shop\""), "{taken}");
    assert_eq!(store.domains(shop.id).await.unwrap(), [("shop.example.com".to_owned(), 2)]);
    assert!(!store.remove_domain(blog.id, "shop.example.com").await.unwrap());
    store.delete_app(shop.id).await.unwrap();
    assert_eq!(store.app("shop").await.unwrap(), None);
    store.add_domain(blog.id, "shop.example.com", 5).await.unwrap();
}

#[tokio::test]
async fn backups_are_numbered_per_addon_one_runs_at_a_time_and_a_restart_fails_the_running_one() {
    let (_dir, store) = store().await;
    let app = store.create_app("shop", None, 1).await.unwrap();
    let addon = |name: &'static str| NewAddon {
        app_id: app.id,
        name,
        kind: "postgres",
        plan: "shared",
        server: "127.0.0.1:5432",
        first_attachment: "DATABASE",
        other_attachment: "OTHER",
    };
    let (a, b) =
        (store.create_addon(addon("pg-a"), 2).await.unwrap(), store.create_addon(addon("pg-b"), 2).await.unwrap());
    let first = store.create_backup(a.id, true, 10).await.unwrap();
    assert_eq!((first.label(), first.state), ("b001".to_owned(), BackupState::Running));
    let Err(StoreError::Conflict(busy)) = store.create_backup(a.id, false, 11).await else { panic!("two at once") };
    assert_eq!(busy, "backup b001 is still running");
    // Another add-on counts on its own.
    assert_eq!(store.create_backup(b.id, false, 11).await.unwrap().label(), "b001");
    store.finish_backup(first.id, Some(42), None, 12).await.unwrap();
    let second = store.create_backup(a.id, false, 13).await.unwrap();
    assert_eq!(second.label(), "b002");
    assert_eq!(store.last_scheduled_backup(a.id).await.unwrap(), Some(10), "only scheduled ones count");
    // At start, what a previous run left running is failed.
    let failed = store.fail_running_backups("interrupted", 14).await.unwrap();
    assert_eq!(failed.len(), 2);
    let rows = store.backups_of(a.id).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| (r.label(), r.state, r.size, r.error.as_deref())).collect::<Vec<_>>(),
        vec![
            ("b001".to_owned(), BackupState::Completed, Some(42), None),
            ("b002".to_owned(), BackupState::Failed, None, Some("interrupted"))
        ]
    );
    // Records go with their add-on.
    store.delete_addon(a.id).await.unwrap();
    assert!(store.backups_of(a.id).await.unwrap().is_empty());
    assert_eq!(
        (parse_backup_label("b012"), parse_backup_label("7"), parse_backup_label("b0"), parse_backup_label("x1")),
        (Some(12), Some(7), None, None)
    );
}

#[tokio::test]
async fn acme_claims_are_held_by_one_owner_until_released_or_expired() {
    let (_dir, store) = store().await;
    let host = "shop.example.com";
    assert!(store.claim_acme_host(host, "a", 1000, 2000).await.unwrap());
    assert!(!store.claim_acme_host(host, "b", 1999, 5000).await.unwrap(), "a holds it until 2000");
    assert!(store.claim_acme_host(host, "a", 1500, 3000).await.unwrap(), "its owner renews it");
    assert!(!store.claim_acme_host(host, "b", 2999, 5000).await.unwrap());
    // Expired: a replica that died mid-order holds the host no longer.
    assert!(store.claim_acme_host(host, "b", 3000, 5000).await.unwrap());
    store.release_acme_host(host, "a").await.unwrap();
    assert!(!store.claim_acme_host(host, "a", 3001, 6000).await.unwrap(), "only the holder releases");
    store.release_acme_host(host, "b").await.unwrap();
    assert!(store.claim_acme_host(host, "a", 3002, 6000).await.unwrap());
    // Hosts are claimed one by one.
    assert!(store.claim_acme_host("other.example.com", "b", 3002, 6000).await.unwrap());
}

#[tokio::test]
async fn the_first_acme_account_key_stored_is_the_one_every_replica_gets() {
    let (_dir, store) = store().await;
    assert_eq!(store.acme_account_key().await.unwrap(), None);
    assert_eq!(store.put_acme_account_key(b"first", 1).await.unwrap(), b"first");
    assert_eq!(store.put_acme_account_key(b"second", 2).await.unwrap(), b"first");
    assert_eq!(store.acme_account_key().await.unwrap().as_deref(), Some(&b"first"[..]));
    store.put_acme_certificate("shop.example.com", "one", 3).await.unwrap();
    store.put_acme_certificate("shop.example.com", "two", 4).await.unwrap();
    assert_eq!(store.acme_certificate("shop.example.com").await.unwrap().as_deref(), Some("two"));
    assert_eq!(store.acme_certificate("other.example.com").await.unwrap(), None);
}
