//! Slipway's control plane: apps, releases, config vars, the formation, domains and log
//! tokens behind an HTTP API; a local runtime running the apps' processes; the route
//! stream routers follow; and the `slipway` CLI.
#![forbid(unsafe_code)]

pub mod addons;
pub mod api;
pub mod build;
pub mod cli;
pub mod clock;
pub mod config;
pub mod deploy;
pub mod logs;
pub mod model;
pub mod platform;
pub mod routes;
pub mod runtime;
pub mod server;
pub mod sleep;
pub mod slug;
pub mod store;

pub use config::Config;

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}
