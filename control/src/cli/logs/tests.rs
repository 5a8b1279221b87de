use super::*;

#[test]
fn lines_print_heroku_style() {
    let mut line = slipway_logd::LogLine {
        app: "demo".into(),
        seq: 1,
        time: "2026-11-23T10:00:00.123456789Z".into(),
        source: "app".into(),
        dyno: "web.1".into(),
        stream: "stdout".into(),
        message: "GET / 200".into(),
        fields: serde_json::Map::new(),
    };
    assert_eq!(format_line(&line), "2026-11-23T10:00:00.123456+00:00 app[web.1]: GET / 200");
    line.time = "2026-11-23T10:00:00Z".into();
    line.dyno.clear();
    line.source = "slipway".into();
    assert_eq!(format_line(&line), "2026-11-23T10:00:00.000000+00:00 slipway: GET / 200");
}
