use std::time::Duration;

use super::*;

#[tokio::test]
async fn a_claim_excludes_other_owners_until_released_or_expired() {
    let dir = tempfile::tempdir().unwrap();
    let a = DirStore::open(dir.path()).unwrap();
    let b = DirStore::open(dir.path()).unwrap();
    let ttl = Duration::from_secs(60);
    assert!(a.try_claim("x.test", "a", ttl).await.unwrap());
    assert!(!b.try_claim("x.test", "b", ttl).await.unwrap());
    assert!(a.try_claim("x.test", "a", ttl).await.unwrap(), "the holder may renew its claim");
    b.release("x.test", "b").await.unwrap();
    assert!(!b.try_claim("x.test", "b", ttl).await.unwrap(), "only the holder releases");
    a.release("x.test", "a").await.unwrap();
    assert!(b.try_claim("x.test", "b", ttl).await.unwrap());
    // An expired claim (a replica that died) is taken over.
    std::fs::write(dir.path().join("claims/y.test"), "dead 1").unwrap();
    assert!(a.try_claim("y.test", "a", ttl).await.unwrap());
}

#[tokio::test]
async fn the_first_account_key_wins_and_certificates_replace_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStore::open(dir.path()).unwrap();
    assert_eq!(store.account_key().await.unwrap(), None);
    assert_eq!(store.put_account_key(b"first").await.unwrap(), b"first");
    assert_eq!(store.put_account_key(b"second").await.unwrap(), b"first");
    assert_eq!(store.certificate("x.test").await.unwrap(), None);
    store.put_certificate("x.test", "one").await.unwrap();
    store.put_certificate("x.test", "two").await.unwrap();
    assert_eq!(store.certificate("x.test").await.unwrap().as_deref(), Some("two"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("certs")).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    assert!(store.certificate("../account").await.is_err(), "a path is not a host");
}
