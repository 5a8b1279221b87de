use super::*;

#[test]
fn json_round_trips_through_log_line() {
    let mut fields = Vec::new();
    rmp::encode::write_map_len(&mut fields, 1).unwrap();
    rmp::encode::write_str(&mut fields, "path").unwrap();
    rmp::encode::write_str(&mut fields, "/").unwrap();
    let mut line =
        Line::new(Timestamp::new(1_795_428_000, 123_456_789), "app", "web.1", "stdout", "hi \"x\"", fields.into());
    line.seq = 7;
    let parsed: LogLine = serde_json::from_slice(line.json("shop")).unwrap();
    assert_eq!(parsed.app, "shop");
    assert_eq!(parsed.seq, 7);
    assert_eq!(parsed.time, "2026-11-23T10:00:00.123456789Z");
    assert_eq!((parsed.source.as_str(), parsed.dyno.as_str(), parsed.stream.as_str()), ("app", "web.1", "stdout"));
    assert_eq!(parsed.message, "hi \"x\"");
    assert_eq!(parsed.fields["path"], "/");
}

#[test]
fn heroku_text_format() {
    let line = Line::new(Timestamp::new(1_795_428_000, 123_456_789), "app", "web.1", "", "hello", Box::new([]));
    let mut out = Vec::new();
    line.heroku_text(&mut out);
    assert_eq!(String::from_utf8(out).unwrap(), "2026-11-23T10:00:00.123456+00:00 app[web.1]: hello\n");
}

#[test]
fn long_attributes_are_cut_at_a_char_boundary() {
    let dyno = "é".repeat(200);
    let line = Line::new(Timestamp::default(), "app", &dyno, "", "m", Box::new([]));
    assert!(line.dyno().len() <= MAX_ATTR && line.dyno().chars().all(|c| c == 'é'));
    assert_eq!(line.message(), "m");
}

#[test]
fn written_timestamps_match_the_string_forms() {
    for t in [Timestamp::default(), Timestamp::new(1_795_428_000, 5), Timestamp::new(u64::MAX, 0)] {
        let (mut rfc, mut heroku) = (b"x".to_vec(), b"y".to_vec());
        t.write_rfc3339(&mut rfc);
        t.write_heroku(&mut heroku);
        let micros = humantime::format_rfc3339_micros(t.system_time()).to_string();
        let expected = format!("y{}+00:00", micros.strip_suffix('Z').unwrap());
        assert_eq!(String::from_utf8(rfc).unwrap(), format!("x{}", t.rfc3339()));
        assert_eq!(String::from_utf8(heroku).unwrap(), expected);
        assert_eq!(t.heroku(), expected[1..]);
    }
}

#[test]
fn timestamps_clamp() {
    assert_eq!(Timestamp::from_f64(-1.0), Timestamp::default());
    assert_eq!(Timestamp::from_f64(1.5), Timestamp::new(1, 500_000_000));
    assert_eq!(Timestamp::new(u64::MAX, 0).rfc3339(), "9999-12-31T23:59:59.999999999Z");
}

#[test]
fn lines_of_a_batch_share_one_text_and_each_keeps_its_own_parts_and_size() {
    let mut batch = LineBatch::new(Vec::new());
    let long = "é".repeat(200);
    batch.push(Timestamp::new(1, 0), "app", "web.1", "stdout", "first", Box::new([]));
    batch.push(Timestamp::new(2, 0), "router", "", "", "", Box::new([]));
    batch.push(Timestamp::new(3, 0), "app", &long, "stderr", "third\nline", Box::new([]));
    assert_eq!(batch.len(), 3);
    let lines = batch.finish();
    let parts: Vec<_> = lines.iter().map(|l| (l.time().secs, l.source(), l.dyno(), l.stream(), l.message())).collect();
    assert_eq!(parts[0], (1, "app", "web.1", "stdout", "first"));
    assert_eq!(parts[1], (2, "router", "", "", ""));
    assert_eq!((parts[2].0, parts[2].1, parts[2].3, parts[2].4), (3, "app", "stderr", "third\nline"));
    assert!(parts[2].2.len() <= MAX_ATTR && parts[2].2.chars().all(|c| c == 'é'));
    assert!(Arc::ptr_eq(lines[0].text.as_ref().unwrap(), lines[2].text.as_ref().unwrap()), "one buffer for the batch");
    // Each line is counted with its own text, not the buffer it shares.
    let alone = Line::new(Timestamp::new(1, 0), "app", "web.1", "stdout", "first", Box::new([]));
    assert_eq!(lines[0].approx_bytes(), alone.approx_bytes());
    let json: LogLine = serde_json::from_slice(lines[1].json("shop")).unwrap();
    assert_eq!((json.source.as_str(), json.message.as_str()), ("router", ""));
}
