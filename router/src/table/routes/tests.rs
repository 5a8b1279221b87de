use super::*;

#[test]
fn shard_map_copies_only_the_touched_shard() {
    let mut a: ShardMap<u32> = ShardMap::new();
    for i in 0..10_000 {
        a.insert(&format!("app-{i}"), i);
    }
    let mut b = a.clone();
    b.insert("app-5", 55);
    b.remove("app-6");
    b.insert("new", 1);
    assert_eq!(a.get("app-5"), Some(&5));
    assert_eq!(a.get("app-6"), Some(&6));
    assert_eq!(a.get("new"), None);
    assert_eq!(b.get("app-5"), Some(&55));
    assert_eq!(b.get("app-6"), None);
    assert_eq!((a.len(), b.len()), (10_000, 10_000));
    let shared = a.shards.iter().zip(b.shards.iter()).filter(|(x, y)| Arc::ptr_eq(x, y)).count();
    assert!(shared >= SHARDS - 3, "only touched shards are copied, {shared} shared");
    assert_eq!(b.values().count(), 10_000);
}

#[test]
fn zone_labels_are_single_dns_labels() {
    let routes = Routes::new(&["reviewapp.localhost".into(), "apps.example.com".into()]);
    assert_eq!(routes.app_label("shop.reviewapp.localhost"), Some("shop"));
    assert_eq!(routes.app_label("shop.apps.example.com"), Some("shop"));
    assert_eq!(routes.app_label("a.shop.reviewapp.localhost"), None);
    assert_eq!(routes.app_label("reviewapp.localhost"), None);
    assert_eq!(routes.app_label(".reviewapp.localhost"), None);
    assert_eq!(routes.app_label("shopreviewapp.localhost"), None);
}
