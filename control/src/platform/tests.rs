use std::time::Duration;

use super::apps::parse_sleep_after;
use super::config_vars::{MAX_VALUE_BYTES, check_var};

#[test]
fn config_var_names_and_values() {
    assert!(check_var("DATABASE_URL", Some("postgres://x")).is_ok());
    assert!(check_var("_x1", None).is_ok());
    for bad in ["", "1A", "A-B", "A B", "PORT", "DYNO"] {
        assert!(check_var(bad, Some("v")).is_err(), "{bad:?}");
    }
    assert!(check_var("A", Some("a\0b")).is_err());
    assert!(check_var("A", Some(&"x".repeat(MAX_VALUE_BYTES + 1))).is_err());
}

#[test]
fn sleep_after_is_bounded() {
    let min = Duration::from_secs(60);
    assert_eq!(parse_sleep_after("30m", min).unwrap(), Duration::from_secs(1800));
    for bad in ["", "soon", "0s", "59s", "31days"] {
        assert!(parse_sleep_after(bad, min).is_err(), "{bad:?}");
    }
    assert!(parse_sleep_after("1s", Duration::from_secs(1)).is_ok());
}
