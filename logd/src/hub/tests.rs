use super::*;
use crate::line::Timestamp;
use crate::store::AppLog;

fn line(dyno: &str, source: &str, message: &str) -> Line {
    Line::new(Timestamp::default(), source, dyno, "stdout", message, Box::new([]))
}

#[test]
fn dyno_filter_matches_process_type_or_exact_dyno() {
    let f = Filter { dynos: vec!["web".into()], ..Filter::default() };
    assert!(f.matches(&line("web.1", "app", "x")));
    assert!(f.matches(&line("web", "app", "x")));
    assert!(!f.matches(&line("webhook.1", "app", "x")));
    assert!(!f.matches(&line("worker.1", "app", "x")));
    let f = Filter { dynos: vec!["web.1".into()], ..Filter::default() };
    assert!(f.matches(&line("web.1", "app", "x")));
    assert!(!f.matches(&line("web.10", "app", "x")));
}

#[test]
fn source_and_grep_filters() {
    let f = Filter { sources: vec!["build".into()], grep: Some("error".into()), ..Filter::default() };
    assert!(f.matches(&line("", "build", "an error here")));
    assert!(!f.matches(&line("", "app", "an error here")));
    assert!(!f.matches(&line("", "build", "all fine")));
}

#[tokio::test]
async fn backlog_then_live_without_gap_or_duplicate_and_drops_are_counted() {
    let app = Arc::new(AppLog::new("a".into(), 2, 1));
    let put = |n: usize| {
        let mut lines = (0..n).map(|i| line("web.1", "app", &format!("m{i}"))).collect();
        app.append(&mut lines, 0, 1000, usize::MAX, &Default::default(), None::<fn(_)>);
    };
    put(3);
    let mut sub = app.subscribe(Start { tail: 2, after: None }, Filter::default(), true);
    put(1);
    let mut seqs = Vec::new();
    while let Some(Item::Line(l)) = sub.try_next() {
        seqs.push(l.seq());
    }
    assert_eq!(seqs, [2, 3, 4]);
    // Capacity 2 events: three single-line appends overflow it.
    for _ in 0..3 {
        put(1);
    }
    let Some(Item::Dropped(1)) = sub.try_next() else { panic!("expected a drop") };
    let Some(Item::Line(l)) = sub.try_next() else { panic!("expected a line") };
    assert_eq!(l.seq(), 6);
    assert_eq!(sub.dropped(), 1);
}

#[tokio::test]
async fn resume_reports_a_gap_for_lines_no_longer_kept() {
    let app = Arc::new(AppLog::new("a".into(), 8, 1));
    let mut lines = (0..10).map(|i| line("", "app", &format!("m{i}"))).collect();
    app.append(&mut lines, 0, 5, usize::MAX, &Default::default(), None::<fn(_)>);
    let mut sub = app.subscribe(Start { tail: 100, after: Some(2) }, Filter::default(), false);
    let Some(Item::Gap { from: 3, to: 5 }) = sub.try_next() else { panic!("expected a gap") };
    let Some(Item::Line(l)) = sub.try_next() else { panic!() };
    assert_eq!(l.seq(), 6);
    let mut sub = app.subscribe(Start { tail: 100, after: Some(50) }, Filter::default(), false);
    assert!(matches!(sub.try_next(), Some(Item::Reset)));
}
