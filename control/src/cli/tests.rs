use clap::CommandFactory;

use super::args::{Cli, parse_pairs, parse_version};
use super::error::CliError;

#[test]
fn the_command_line_is_well_formed() {
    Cli::command().debug_assert();
}

#[test]
fn pairs_and_versions_parse() {
    let pairs = parse_pairs(&["A=1".into(), "URL=x=y".into(), "E=".into()], "KEY=VALUE").unwrap();
    assert_eq!(pairs, [("A".into(), "1".into()), ("URL".into(), "x=y".into()), ("E".into(), String::new())]);
    assert!(parse_pairs(&["A".into()], "KEY=VALUE").is_err());
    assert!(parse_pairs(&["=1".into()], "KEY=VALUE").is_err());
    assert_eq!(parse_version("v3"), Ok(3));
    assert_eq!(parse_version("12"), Ok(12));
    assert!(parse_version("three").is_err());
}

#[test]
fn errors_are_one_line_with_a_hint() {
    let e = CliError::new("app \"nope\" not found").hint("list apps with `slipway apps`");
    assert_eq!(e.to_string(), "app \"nope\" not found (hint: list apps with `slipway apps`)");
}
