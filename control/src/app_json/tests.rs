use std::collections::BTreeMap;

use super::*;

fn problem(text: &str) -> String {
    parse(text.as_bytes()).unwrap_err().to_string()
}

#[test]
fn the_heroku_schema_is_read_and_unknown_keys_are_ignored() {
    let parsed = parse(
        br#"{
            "name": "Shop", "description": "A shop", "buildpacks": [{"url": "heroku/python"}],
            "environments": {"review": {"addons": ["heroku-redis"]}}, "stack": "heroku-22",
            "env": {
                "GREETING": "hello",
                "SECRET_KEY": {"description": "signs cookies", "generator": "secret"},
                "API_KEY": {"description": "from the vendor", "required": true},
                "OPTIONAL": {"required": false},
                "WITH_VALUE": {"value": "v", "required": true}
            },
            "addons": ["heroku-postgresql:hobby-dev", "redis", {"plan": "heroku-redis:dedicated", "as": "cache-2", "options": {"x": 1}}],
            "formation": {"web": {"quantity": 2, "size": "standard-1x"}, "worker": {"size": "basic"}},
            "scripts": {"postdeploy": "python3 seed.py", "pr-predestroy": "true"}
        }"#,
    )
    .unwrap();
    assert_eq!(parsed.name.as_deref(), Some("Shop"));
    assert_eq!(parsed.env["GREETING"].value.as_deref(), Some("hello"));
    assert_eq!(parsed.env["SECRET_KEY"].generator, Some(Generator::Secret));
    assert_eq!(
        parsed.addons.iter().map(|a| (a.kind, a.plan.as_deref(), a.attachment.as_deref())).collect::<Vec<_>>(),
        [
            (Kind::Postgres, Some("hobby-dev"), None),
            (Kind::Redis, None, None),
            (Kind::Redis, Some("dedicated"), Some("CACHE_2"))
        ]
    );
    assert_eq!(parsed.formation["web"].quantity, Some(2));
    assert_eq!(parsed.formation["worker"].quantity, None);
    assert_eq!(parsed.scripts.postdeploy.as_deref(), Some("python3 seed.py"));
}

#[test]
fn a_wrong_type_or_value_is_one_error_naming_the_key() {
    let generator = problem(r#"{"env": {"SECRET_KEY": {"generator": "uuid"}}}"#);
    assert!(
        generator.starts_with("env.SECRET_KEY.generator: unknown variant `uuid`, expected `secret`"),
        "{generator}"
    );
    let value = problem(r#"{"env": {"PORTS": 8080}}"#);
    assert!(
        value.starts_with("env.PORTS: invalid type: integer `8080`, expected a value (string) or an object"),
        "{value}"
    );
    let required = problem(r#"{"env": {"K": {"required": "yes"}}}"#);
    assert!(required.starts_with("env.K.required: invalid type: string \"yes\", expected a boolean"), "{required}");
    let addon = problem(r#"{"addons": ["heroku-postgresql", "mysql:small"]}"#);
    assert!(addon.starts_with("addons[1]: \"mysql\" is not an add-on Slipway provides"), "{addon}");
    let plan = problem(r#"{"addons": [{"plan": "elasticsearch"}]}"#);
    assert!(plan.starts_with("addons[0].plan: \"elasticsearch\" is not an add-on"), "{plan}");
    let attachment = problem(r#"{"addons": [{"plan": "redis", "as": "9 lives"}]}"#);
    assert!(attachment.starts_with("addons[0].as: \"9 lives\" is not an attachment name"), "{attachment}");
    let quantity = problem(r#"{"formation": {"web": {"quantity": -1}}}"#);
    assert!(quantity.starts_with("formation.web.quantity: invalid value: integer `-1`"), "{quantity}");
    let script = problem(r#"{"scripts": {"postdeploy": ["a", "b"]}}"#);
    assert!(script.starts_with("scripts.postdeploy: invalid type: sequence"), "{script}");
    let broken = problem(r#"{"env": {"#);
    assert_eq!(broken, "EOF while parsing an object at line 1 column 9");
    assert_eq!(problem(r#"["heroku-redis"]"#), "must be a JSON object ({...})");
    let trailing = problem("{} {}");
    assert!(trailing.starts_with("trailing characters"), "{trailing}");
}

#[test]
fn env_takes_overrides_then_values_then_secrets_and_lists_every_missing_required_var() {
    let parsed = parse(
        br#"{"env": {
            "A": {"required": true}, "B": {}, "C": {"required": false}, "D": "d",
            "E": {"generator": "secret"}, "F": {"generator": "secret"}, "G": {"value": "g"}
        }}"#,
    )
    .unwrap();
    let missing = parsed.env(&BTreeMap::new()).unwrap_err();
    assert_eq!(missing, EnvError::Missing(vec!["A".into(), "B".into()]));
    assert_eq!(missing.to_string(), "no value for A, B");
    let overrides = BTreeMap::from([
        ("A".into(), "a".into()),
        ("B".into(), "b".into()),
        ("F".into(), "mine".into()),
        ("X".into(), "x".into()),
    ]);
    let env = parsed.env(&overrides).unwrap();
    assert_eq!(env.generated, ["E"]);
    let e = &env.vars["E"];
    assert!(e.len() == 64 && e.bytes().all(|b| b.is_ascii_hexdigit()), "{e}");
    assert_ne!(e, &parsed.env(&overrides).unwrap().vars["E"], "a new secret each time");
    let mut expected: BTreeMap<String, String> =
        [("A", "a"), ("B", "b"), ("D", "d"), ("F", "mine"), ("G", "g"), ("X", "x")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
    expected.insert("E".into(), e.clone());
    assert_eq!(env.vars, expected);
}
