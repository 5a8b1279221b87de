use super::format::{self, Fields, MAX_PATH};
use super::*;

fn request() -> Request<'static> {
    Request {
        method: "GET",
        path: "/",
        host: "shop.example",
        request_id: "0123456789abcdef0123456789abcdef",
        forwarded_for: None,
        client_ip: "203.0.113.7",
    }
}

fn fields() -> Fields<'static> {
    Fields {
        code: None,
        wake_ms: None,
        dyno: "web.1",
        connect_ms: 1,
        service_ms: 12,
        status: 200,
        bytes: 512,
        protocol: "http",
    }
}

fn line(r: &Request<'_>, f: &Fields<'_>) -> String {
    let mut request = String::new();
    format::write_request(&mut request, r);
    let mut out = String::new();
    format::write(&mut out, f, &request);
    out
}

fn text(f: &Fields<'_>) -> String {
    line(&request(), f)
}

#[test]
fn a_request_line_is_herokus_key_value_format() {
    assert_eq!(
        text(&fields()),
        "at=info method=GET path=\"/\" host=shop.example request_id=0123456789abcdef0123456789abcdef \
         fwd=\"203.0.113.7\" dyno=web.1 connect=1ms service=12ms status=200 bytes=512 protocol=http"
    );
}

#[test]
fn an_error_line_starts_with_its_code_and_description() {
    let f = Fields { code: Some(Code::H12), status: 504, ..fields() };
    assert!(text(&f).starts_with("at=error code=H12 desc=\"Request timeout\" method=GET "), "{}", text(&f));
    let f = Fields { code: Some(Code::S10), wake_ms: Some(1840), ..fields() };
    assert!(text(&f).starts_with("at=info code=S10 desc=\"Sleeping app woken\" wake=1840ms method=GET "));
}

#[test]
fn quoted_values_are_escaped_and_long_paths_cut() {
    let r = Request { path: "/a\"b\\c\u{7}", forwarded_for: Some("198.51.100.1"), ..request() };
    let line = line(&r, &fields());
    assert!(line.contains(r#"path="/a\"b\\c?""#), "{line}");
    assert!(line.contains(r#"fwd="198.51.100.1, 203.0.113.7""#), "{line}");
    let long = format!("/{}", "é".repeat(MAX_PATH));
    let line = super::tests::line(&Request { path: &long, ..request() }, &fields());
    assert!(line.contains("...\" host="), "cut, with a marker");
    assert!(line.len() < MAX_PATH + 300);
}

#[test]
fn a_full_batch_drops_and_counts_and_errors_are_kept_when_sampled_out() {
    let metrics = Arc::new(Metrics::new());
    let config = config::Lines { queue: 2, sample_apps: [("quiet".to_owned(), 0.0)].into(), ..Default::default() };
    let lines = Lines::new(&config, metrics.clone(), 1);
    let worker = lines.worker(0);
    worker.record("quiet", worker.start(&request()), &fields());
    worker.record("quiet", worker.start(&request()), &Fields { code: Some(Code::H13), ..fields() });
    worker.record("shop", worker.start(&request()), &fields());
    worker.record("shop", worker.start(&request()), &fields());
    let mut taken = Entries::default();
    worker.take(&mut taken);
    assert_eq!(taken.len(), 2, "the sampled-out info line is not queued; the error line is");
    assert_eq!(metrics.lines_dropped.queue_full.get(), 1, "the batch held 2 lines");
}

#[test]
fn a_queued_line_is_the_whole_text_and_its_request_buffer_is_reused() {
    let metrics = Arc::new(Metrics::new());
    let lines = Lines::new(&config::Lines::default(), metrics, 1);
    let worker = lines.worker(0);
    let spare = |w: &WorkerLines| w.batch.lock().unwrap().spare.len();
    let started = worker.start(&request());
    worker.record("shop", started, &Fields { code: Some(Code::H12), status: 504, ..fields() });
    assert_eq!(spare(&worker), 1, "the queued line's request buffer is given back to the pool");
    let again = worker.start(&request());
    assert_eq!(spare(&worker), 0, "the next request's line is begun in it");
    worker.record("shop", again, &fields());
    let mut taken = Entries::default();
    worker.take(&mut taken);
    assert_eq!(taken.len(), 2);
    let bytes = taken.as_bytes();
    let expected = line(&request(), &Fields { code: Some(Code::H12), status: 504, ..fields() });
    assert!(bytes.windows(expected.len()).any(|w| w == expected.as_bytes()), "the first record holds its line");
    let expected = text(&fields());
    assert!(bytes.windows(expected.len()).any(|w| w == expected.as_bytes()), "the second record holds its line");
}
