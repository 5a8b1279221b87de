use serde::Deserialize;

use super::*;

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct Sample {
    name: String,
    section: Section,
}

#[derive(Debug, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
struct Section {
    count: u32,
}

impl Default for Sample {
    fn default() -> Self {
        Sample { name: "default".into(), section: Section::default() }
    }
}

const PREFIX: &str = "SLIPWAY_CONFIG_TEST__";

/// Runs `f` in a jail: a temp dir as the working directory, and environment variables
/// that are undone afterwards.
// Jail's closure must return figment's own (large) error type.
#[allow(clippy::result_large_err)]
fn jailed(f: impl FnOnce(&mut figment::Jail)) {
    figment::Jail::expect_with(|jail| {
        f(jail);
        Ok(())
    });
}

#[test]
fn a_file_overrides_the_defaults_and_the_environment_overrides_the_file() {
    jailed(|jail| {
        jail.create_file("x.toml", "name = \"from-file\"\n[section]\ncount = 3\n").unwrap();
        let s: Sample = load_layered(Some(Path::new("x.toml")), PREFIX, "config/x.toml").unwrap();
        assert_eq!(s, Sample { name: "from-file".into(), section: Section { count: 3 } });
        jail.set_env("SLIPWAY_CONFIG_TEST__SECTION__COUNT", "7");
        let s: Sample = load_layered(Some(Path::new("x.toml")), PREFIX, "config/x.toml").unwrap();
        assert_eq!(s.section.count, 7);
    });
}

#[test]
fn a_missing_file_names_the_sample_config() {
    let err = load_layered::<Sample>(Some(Path::new("/nonexistent/x.toml")), PREFIX, "config/x.toml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "config: /nonexistent/x.toml: no such file (pass the path of a TOML config, e.g. config/x.toml)"
    );
}

#[test]
fn an_unknown_key_is_named_with_its_file() {
    jailed(|jail| {
        jail.create_file("x.toml", "[section]\ncuont = 3\n").unwrap();
        let err = load_layered::<Sample>(Some(Path::new("x.toml")), PREFIX, "config/x.toml").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("section.cuont"));
        assert!(err.origin.as_deref().is_some_and(|o| o.ends_with("x.toml")), "{err}");
        assert!(err.problem.starts_with("unknown key; expected one of: count"), "{err}");
    });
}

#[test]
fn a_toml_syntax_error_is_one_line_with_its_position() {
    jailed(|jail| {
        jail.create_file("x.toml", "name = \"unterminated\n").unwrap();
        let err = load_layered::<Sample>(Some(Path::new("x.toml")), PREFIX, "config/x.toml").unwrap_err();
        let text = err.to_string();
        assert!(!text.contains('\n') && text.contains("line 1"), "{text}");
    });
}

#[test]
fn a_bad_environment_variable_is_named() {
    jailed(|jail| {
        jail.set_env("SLIPWAY_CONFIG_TEST__SECTION__COUNT", "many");
        let err = load_layered::<Sample>(None, PREFIX, "config/x.toml").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("section.count"));
        assert_eq!(err.origin.as_deref(), Some("environment variable SLIPWAY_CONFIG_TEST__SECTION__COUNT"));
    });
}

#[test]
fn an_invalid_value_found_after_loading_names_its_key() {
    assert_eq!(ConfigError::invalid("workers", "too many").to_string(), "config: key \"workers\": too many");
}
