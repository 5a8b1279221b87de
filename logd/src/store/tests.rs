use super::*;
use crate::hub::{Filter, Start};
use crate::line::Timestamp;

fn lines(n: usize, size: usize) -> Vec<Line> {
    (0..n).map(|_| Line::new(Timestamp::default(), "app", "web.1", "", &"x".repeat(size), Box::new([]))).collect()
}

fn store(config: &Config) -> Store {
    Store::open(config, Arc::new(Metrics::new())).unwrap()
}

#[test]
fn the_global_cap_evicts_the_oldest_lines_across_apps() {
    let mut config = Config::default();
    config.history.max_bytes_per_app = 1 << 20;
    config.history.max_bytes_total = 1 << 20;
    let store = store(&config);
    let (a, b) = (store.app("a").unwrap(), store.app("b").unwrap());
    // 600 KiB into a, then 600 KiB into b: over the 1 MiB cap, a's old lines go first.
    for _ in 0..6 {
        store.append(&a, lines(10, 4096), false);
    }
    for _ in 0..6 {
        store.append(&b, lines(10, 4096), false);
    }
    assert!(store.bytes() <= 1 << 20, "{} bytes kept", store.bytes());
    let (a_lines, _, a_last) = a.stats();
    let (b_lines, _, _) = b.stats();
    assert_eq!(a_last, 60, "sequence numbers are not affected");
    assert!(a_lines < 60 && b_lines == 60, "a lost its oldest lines ({a_lines}), b kept all ({b_lines})");
    // What a keeps is its newest lines.
    let mut sub = a.subscribe(Start { tail: 1, after: None }, Filter::default(), false);
    let crate::hub::Item::Line(l) = sub.try_next().unwrap() else { panic!() };
    assert_eq!(l.seq(), 60);
}

#[test]
fn per_app_bounds_apply_by_lines_and_bytes() {
    let mut config = Config::default();
    config.history.max_lines_per_app = 5;
    let store = store(&config);
    let a = store.app("a").unwrap();
    store.append(&a, lines(8, 10), false);
    assert_eq!(a.stats().0, 5);
    config.history.max_lines_per_app = 1000;
    config.history.max_bytes_per_app = 64 * 1024;
    let store = super::Store::open(&config, Arc::new(Metrics::new())).unwrap();
    let b = store.app("b").unwrap();
    store.append(&b, lines(100, 4096), false);
    assert!(b.stats().1 <= 64 * 1024);
}

#[test]
fn apps_that_never_had_a_line_and_have_no_follower_are_forgotten() {
    let mut config = Config::default();
    config.history.max_apps = 2;
    let store = store(&config);
    let made_up = store.app("made-up").unwrap();
    let kept = store.app("kept").unwrap();
    store.append(&kept, lines(1, 10), false);
    assert!(store.app("third").is_none(), "max_apps reached");
    drop((made_up, kept));
    store.tick();
    assert!(store.get("made-up").is_none());
    assert!(store.get("kept").is_some());
    assert!(store.app("third").is_some());
}
