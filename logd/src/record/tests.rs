use super::*;
use crate::config;

fn record(pairs: &[(&str, Val<'_>)]) -> Vec<u8> {
    let mut out = Vec::new();
    rmp::encode::write_map_len(&mut out, pairs.len() as u32).unwrap();
    for (k, v) in pairs {
        rmp::encode::write_str(&mut out, k).unwrap();
        v.write(&mut out);
    }
    out
}

enum Val<'a> {
    S(&'a str),
    I(u64),
    M(Vec<(&'a str, Val<'a>)>),
}

impl Val<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Val::S(s) => rmp::encode::write_str(out, s).unwrap(),
            Val::I(n) => {
                rmp::encode::write_uint(out, *n).unwrap();
            }
            Val::M(pairs) => out.extend(record(pairs)),
        }
    }
}

fn map(rules: &Rules, tag: &str, rec: &[u8]) -> (Option<String>, Line) {
    let tag = rules.tag_info(tag);
    let mut pairs = Vec::new();
    let m = rules.map(&tag, Timestamp::default(), rec, &mut pairs).unwrap();
    (m.app.clone().map(|a| a.into_owned()), m.into_line())
}

fn fields_json(line: &Line) -> serde_json::Value {
    if line.fields_msgpack().is_empty() {
        return serde_json::json!({});
    }
    let mut out = Vec::new();
    crate::msgpack::write_json(&mut crate::msgpack::Reader::new(line.fields_msgpack()), &mut out, 0).unwrap();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn explicit_keys_give_app_dyno_source_stream_and_message() {
    let rules = Rules::new(&config::Rules::default());
    let rec = record(&[
        ("app", Val::S("shop")),
        ("dyno", Val::S("web.1")),
        ("source", Val::S("app")),
        ("stream", Val::S("stderr")),
        ("log", Val::S("boom\n")),
        ("status", Val::I(500)),
    ]);
    let (app, line) = map(&rules, "anything", &rec);
    assert_eq!(app.as_deref(), Some("shop"));
    assert_eq!((line.dyno(), line.source(), line.stream(), line.message()), ("web.1", "app", "stderr", "boom"));
    assert_eq!(fields_json(&line), serde_json::json!({ "status": 500 }), "other keys are kept as fields");
}

#[test]
fn fluent_bit_kubernetes_metadata_gives_app_and_dyno() {
    let rules = Rules::new(&config::Rules::default());
    let rec = record(&[
        ("log", Val::S("listening on :5000")),
        ("stream", Val::S("stdout")),
        (
            "kubernetes",
            Val::M(vec![
                ("pod_name", Val::S("web-7d9c8b5f4-x2k8p")),
                ("namespace_name", Val::S("review-apps")),
                ("labels", Val::M(vec![("slipway.dev/app", Val::S("pr-42-shop"))])),
            ]),
        ),
    ]);
    let (app, line) = map(&rules, "kube.var.log.containers.web", &rec);
    assert_eq!(app.as_deref(), Some("pr-42-shop"));
    assert_eq!(line.dyno(), "web.x2k8p");
    assert_eq!(line.message(), "listening on :5000");
    assert!(fields_json(&line)["kubernetes"].is_object(), "the metadata stays as a field");

    let by_namespace = config::Rules { app: vec![RuleSource::Namespace], ..config::Rules::default() };
    let (app, _) = map(&Rules::new(&by_namespace), "t", &rec);
    assert_eq!(app.as_deref(), Some("review-apps"));
}

#[test]
fn tag_pattern_gives_app_and_dyno() {
    let rules = Rules::new(&config::Rules::default());
    let (app, line) = map(&rules, "slipway.shop.worker.2", &record(&[("message", Val::S("job done"))]));
    assert_eq!(app.as_deref(), Some("shop"));
    assert_eq!(line.dyno(), "worker.2");
    assert_eq!(line.message(), "job done");
    assert_eq!(line.source(), "app", "default source");
}

#[test]
fn records_without_an_app_are_dropped_or_go_to_the_fallback() {
    let rules = Rules::new(&config::Rules::default());
    let rec = record(&[("log", Val::S("orphan")), ("app", Val::S("Not Valid"))]);
    assert_eq!(map(&rules, "other.tag", &rec).0, None);
    let with_fallback = config::Rules { fallback_app: "unassigned".into(), ..config::Rules::default() };
    assert_eq!(map(&Rules::new(&with_fallback), "other.tag", &rec).0.as_deref(), Some("unassigned"));
}

#[test]
fn nested_key_paths_and_drop_keys() {
    let c = config::Rules {
        app: vec![RuleSource::Key(vec!["meta".into(), "app".into()])],
        drop_keys: vec!["secret".into()],
        ..config::Rules::default()
    };
    let rec = record(&[("meta", Val::M(vec![("app", Val::S("blog"))])), ("secret", Val::S("x")), ("log", Val::S("m"))]);
    let (app, line) = map(&Rules::new(&c), "t", &rec);
    assert_eq!(app.as_deref(), Some("blog"));
    let fields = fields_json(&line);
    assert!(fields.get("secret").is_none() && fields.get("meta").is_some(), "{fields}");
}

#[test]
fn pod_names_become_dynos() {
    assert_eq!(pod_to_dyno("web-7d9c8b5f4-x2k8p"), "web.x2k8p");
    assert_eq!(pod_to_dyno("api-server-5f6d7c8b9d-abcde"), "api-server.abcde");
    assert_eq!(pod_to_dyno("worker-0"), "worker.0");
    assert_eq!(pod_to_dyno("standalone"), "standalone");
}

#[test]
fn a_record_that_is_not_a_map_is_refused() {
    let rules = Rules::new(&config::Rules::default());
    let mut pairs = Vec::new();
    let tag = rules.tag_info("t");
    assert!(rules.map(&tag, Timestamp::default(), &[0x93, 1, 2, 3], &mut pairs).is_err());
}

#[test]
fn a_key_that_is_a_map_stays_a_field_and_the_pairs_after_it_still_count() {
    let rules = Rules::new(&config::Rules::default());
    let mut rec = Vec::new();
    rmp::encode::write_map_len(&mut rec, 3).unwrap();
    rec.extend(record(&[("k", Val::I(1))])); // a map as a key
    rmp::encode::write_str(&mut rec, "v").unwrap();
    rec.extend(&record(&[("app", Val::S("shop")), ("log", Val::S("hi"))])[1..]);
    let (app, line) = map(&rules, "t", &rec);
    assert_eq!(app.as_deref(), Some("shop"));
    assert_eq!(line.message(), "hi");
    assert_eq!(fields_json(&line), serde_json::json!({"{\"k\":1}": "v"}));
}

#[test]
fn messages_that_are_not_utf8_are_kept_with_replacement_characters() {
    let rules = Rules::new(&config::Rules::default());
    let mut rec = Vec::new();
    rmp::encode::write_map_len(&mut rec, 2).unwrap();
    rmp::encode::write_str(&mut rec, "app").unwrap();
    rmp::encode::write_str(&mut rec, "shop").unwrap();
    rmp::encode::write_str(&mut rec, "log").unwrap();
    rmp::encode::write_str_len(&mut rec, 4).unwrap();
    rec.extend_from_slice(b"a\xffb\n");
    let (_, line) = map(&rules, "t", &rec);
    assert_eq!(line.message(), "a\u{fffd}b");
}
