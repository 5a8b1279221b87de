use super::AppLocks;

#[tokio::test]
async fn an_entry_lives_only_while_its_lock_is_held_or_awaited() {
    let locks = AppLocks::default();
    let held = locks.lock("a").await;
    assert_eq!(locks.len(), 1);
    // A second operation waits for the same lock: releasing the first keeps the entry.
    let mut waiting = Box::pin(locks.lock("a"));
    assert!(futures_util::poll!(&mut waiting).is_pending());
    drop(held);
    assert_eq!(locks.len(), 1);
    let second = waiting.await;
    assert_eq!(locks.len(), 1);
    drop(second);
    assert_eq!(locks.len(), 0);
    // Other apps never shared the entry.
    let (_a, _b) = (locks.lock("a").await, locks.lock("b").await);
    assert_eq!(locks.len(), 2);
}
