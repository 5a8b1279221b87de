use super::*;
use crate::hub::{Filter, Start};
use crate::line::{SharedLine, Timestamp};
use crate::store::ring::Totals;

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
        store.append(&a, &mut lines(10, 4096), false);
    }
    for _ in 0..6 {
        store.append(&b, &mut lines(10, 4096), false);
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
    store.append(&a, &mut lines(8, 10), false);
    assert_eq!(a.stats().0, 5);
    config.history.max_lines_per_app = 1000;
    config.history.max_bytes_per_app = 64 * 1024;
    let store = super::Store::open(&config, Arc::new(Metrics::new())).unwrap();
    let b = store.app("b").unwrap();
    store.append(&b, &mut lines(100, 4096), false);
    assert!(b.stats().1 <= 64 * 1024);
}

#[test]
fn apps_that_never_had_a_line_and_have_no_follower_are_forgotten() {
    let mut config = Config::default();
    config.history.max_apps = 2;
    let store = store(&config);
    let made_up = store.app("made-up").unwrap();
    let kept = store.app("kept").unwrap();
    store.append(&kept, &mut lines(1, 10), false);
    assert!(store.app("third").is_none(), "max_apps reached");
    drop((made_up, kept));
    store.tick();
    assert!(store.get("made-up").is_none());
    assert!(store.get("kept").is_some());
    assert!(store.app("third").is_some());
}

/// Appends `lines` to a new app with a follower, returning (history, what the follower got,
/// what the disk queue was handed), each as (seq, message).
fn kept_three_ways(batches: Vec<Vec<Line>>, max_lines: usize) -> [Vec<(u64, String)>; 3] {
    let app = AppLog::new(Arc::from("a"), 1024, 1);
    let totals = Totals::default();
    let mut follower = app.subscribe(Start { tail: 0, after: None }, Filter::default(), true);
    let mut queued = Vec::new();
    for mut batch in batches {
        app.append(&mut batch, 1, max_lines, usize::MAX, &totals, Some(|kept: Vec<SharedLine>| queued.extend(kept)));
        assert!(batch.is_empty(), "the store takes every line");
    }
    let pair = |l: &SharedLine| (l.seq(), l.message().to_owned());
    let mut history = Vec::new();
    let mut sub = app.subscribe(Start { tail: usize::MAX, after: None }, Filter::default(), false);
    while let Some(crate::hub::Item::Line(l)) = sub.try_next() {
        history.push(pair(&l));
    }
    let mut live = Vec::new();
    while let Some(crate::hub::Item::Line(l)) = follower.try_next() {
        live.push(pair(&l));
    }
    assert_eq!(app.stats().0, history.len());
    [history, live, queued.iter().map(pair).collect()]
}

#[test]
fn one_append_of_many_lines_keeps_the_same_lines_and_seqs_as_appends_of_one_line() {
    let messages = |range: std::ops::Range<usize>| -> Vec<Line> {
        range.map(|i| Line::new(Timestamp::default(), "app", "web.1", "", &format!("m{i}"), Box::new([]))).collect()
    };
    // 150 lines: more than two broadcast batches; history keeps 100, so the append also
    // evicts lines of its own first batch.
    let at_once = kept_three_ways(vec![messages(0..150)], 100);
    let one_by_one = kept_three_ways((0..150).map(|i| messages(i..i + 1)).collect(), 100);
    assert_eq!(at_once, one_by_one);
    let [history, live, queued] = at_once;
    let expected = |from: usize| (from..150).map(|i| (i as u64 + 1, format!("m{i}"))).collect::<Vec<_>>();
    assert_eq!(history, expected(50), "history keeps the newest 100, numbered 51..=150");
    assert_eq!(live, expected(0), "the follower gets every line, in order");
    assert_eq!(queued, expected(0), "the disk queue is handed every line, in order");
}
