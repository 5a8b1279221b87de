use std::time::{Duration, Instant};

use super::*;

fn settings() -> Settings {
    Settings {
        per_host: 2,
        global: 3,
        window: Duration::from_secs(60),
        backoff: Duration::from_secs(10),
        backoff_max: Duration::from_secs(25),
    }
}

#[test]
fn per_host_and_global_rates_refuse_until_the_window_moves_on() {
    let mut limits = Limits::new(settings());
    let t = Instant::now();
    assert!(limits.admit("a", t).is_ok());
    assert!(limits.admit("a", t).is_ok());
    assert_eq!(limits.admit("a", t), Err("over the per-host order rate"));
    assert!(limits.admit("b", t).is_ok());
    assert_eq!(limits.admit("c", t), Err("over the router's order rate"));
    assert!(limits.admit("a", t + Duration::from_secs(60)).is_ok());
}

#[test]
fn backoff_doubles_after_each_failure_up_to_the_maximum_and_clears_on_success() {
    let mut limits = Limits::new(Settings { per_host: 100, global: 100, ..settings() });
    let t = Instant::now();
    limits.failed("a", t);
    assert!(limits.admit("a", t + Duration::from_secs(9)).is_err());
    assert!(limits.admit("a", t + Duration::from_secs(10)).is_ok());
    limits.failed("a", t);
    assert!(limits.admit("a", t + Duration::from_secs(19)).is_err());
    assert!(limits.admit("a", t + Duration::from_secs(20)).is_ok());
    limits.failed("a", t);
    assert!(limits.admit("a", t + Duration::from_secs(25)).is_ok(), "capped at backoff_max");
    limits.failed("a", t);
    limits.succeeded("a");
    assert!(limits.admit("a", t).is_ok());
}
