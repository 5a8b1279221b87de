use super::*;

fn endpoints(n: usize) -> Vec<Arc<Endpoint>> {
    (0..n).map(|i| Endpoint::new(format!("127.0.0.1:{}", 1000 + i).parse().unwrap(), None, 1, 1)).collect()
}

#[test]
fn round_robin_visits_each_endpoint_in_turn() {
    let eps = endpoints(3);
    let cursor = AtomicUsize::new(0);
    let picks: Vec<_> = (0..6).map(|_| pick(&eps, Balance::RoundRobin, &cursor, Tried::default()).unwrap()).collect();
    assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
}

#[test]
fn least_outstanding_avoids_the_busy_endpoint() {
    let eps = endpoints(2);
    let _busy: Vec<_> = (0..5).map(|_| eps[0].start_request()).collect();
    let cursor = AtomicUsize::new(0);
    for _ in 0..100 {
        assert_eq!(pick(&eps, Balance::LeastOutstanding, &cursor, Tried::default()), Some(1));
    }
}

#[test]
fn tried_and_ejected_endpoints_are_skipped_until_none_is_left() {
    let eps = endpoints(3);
    let cursor = AtomicUsize::new(0);
    assert!(eps[1].connect_failed(1));
    let mut tried = Tried::default();
    tried.add(0);
    for _ in 0..50 {
        assert_eq!(pick(&eps, Balance::LeastOutstanding, &cursor, tried), Some(2));
    }
    tried.add(2);
    // Only the ejected one is left: fail open.
    assert_eq!(pick(&eps, Balance::LeastOutstanding, &cursor, tried), Some(1));
    tried.add(1);
    assert_eq!(pick(&eps, Balance::LeastOutstanding, &cursor, tried), None);
}

#[test]
fn spreads_load_over_all_endpoints() {
    let eps = endpoints(4);
    let cursor = AtomicUsize::new(0);
    let mut seen = [0; 4];
    for _ in 0..400 {
        seen[pick(&eps, Balance::LeastOutstanding, &cursor, Tried::default()).unwrap()] += 1;
    }
    assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
}
