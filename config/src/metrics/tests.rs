use super::*;

#[test]
fn made_metrics_are_registered_and_rendered() {
    let r = Registrar::new();
    let hits = r.counter("test_hits_total", "Hits");
    let by = r.counter_vec("test_by_total", "By reason", &["reason"]);
    let depth = r.histogram("test_depth_seconds", "Depth", &[0.1, 1.0]);
    let registry = r.finish();
    hits.inc_by(3);
    by.with_label_values(&["x"]).inc();
    depth.observe(0.5);
    let text = render(&registry);
    assert!(text.contains("test_hits_total 3"), "{text}");
    assert!(text.contains("test_by_total{reason=\"x\"} 1"), "{text}");
    assert!(text.contains("test_depth_seconds_bucket{le=\"1\"} 1"), "{text}");
    let response = response(&registry);
    assert_eq!(response.headers()[http::header::CONTENT_TYPE], CONTENT_TYPE);
}

#[test]
#[should_panic(expected = "metric names are unique")]
fn a_repeated_name_is_a_bug() {
    let r = Registrar::new();
    r.counter("test_twice_total", "Once");
    r.counter("test_twice_total", "Twice");
}
