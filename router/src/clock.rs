//! The router's coarse clock: milliseconds since the process's clock base, as a `u64`
//! that fits in an atomic. Connection timers (`downstream/conn_state.rs`,
//! `accept/conn.rs`) and the wake requests of sleeping apps (`stack/wake.rs`) keep their
//! instants this way.

use std::sync::OnceLock;
use std::time::Instant;

/// Milliseconds since the process's clock base (never 0, so 0 can mean "unset").
pub(crate) fn now_ms() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}
