use std::time::Duration;

use tokio::time::Instant;

use super::Routers;

fn far() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

#[tokio::test]
async fn a_router_behind_is_waited_for_until_it_reports_the_version() {
    let routers = std::sync::Arc::new(Routers::new(Duration::from_secs(60)));
    routers.report("a", Some(10));
    routers.report("b", Some(12));
    routers.report("b", Some(13));
    routers.report("a", Some(11));
    // "a" is still behind: a wait ending now names it.
    assert_eq!(routers.wait_applied(12, Instant::now()).await, ["a"]);
    let waiting = {
        let routers = routers.clone();
        tokio::spawn(async move { routers.wait_applied(12, far()).await })
    };
    routers.report("a", Some(12));
    assert_eq!(waiting.await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn routers_that_never_said_a_version_are_not_waited_for() {
    let routers = Routers::new(Duration::from_secs(60));
    routers.report("old", None);
    assert_eq!(routers.wait_applied(5, far()).await, Vec::<String>::new());
    // A report without a version keeps the one said before.
    routers.report("new", Some(3));
    routers.report("new", None);
    assert_eq!(routers.wait_applied(3, far()).await, Vec::<String>::new());
    assert_eq!(routers.wait_applied(4, Instant::now()).await, ["new"]);
}

#[tokio::test]
async fn a_silent_router_stops_counting_after_the_timeout() {
    let routers = Routers::new(Duration::from_millis(100));
    routers.report("gone", Some(1));
    assert_eq!(routers.count(), 1);
    let started = Instant::now();
    assert_eq!(routers.wait_applied(2, far()).await, Vec::<String>::new());
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(routers.count(), 0);
}

#[tokio::test]
async fn the_wait_ends_at_the_deadline_naming_the_routers_behind() {
    let routers = Routers::new(Duration::from_secs(60));
    routers.report("slow", Some(1));
    routers.report("fast", Some(2));
    let deadline = Instant::now() + Duration::from_millis(50);
    assert_eq!(routers.wait_applied(2, deadline).await, ["slow"]);
    assert!(Instant::now() >= deadline);
}
