//! Slipway's control plane: apps, releases, config vars, the formation, domains and log
//! tokens behind an HTTP API; a local runtime running the apps' processes; the route
//! stream routers follow; and the `slipway` CLI.
//!
//! The modules, from the bottom up (each imports only from its own line and the lines above):
//!
//! - [`config`], [`clock`], [`model`] (the API's JSON bodies, shared with the CLI);
//! - [`store`] (the state, in SQLite), [`slug`] (runnable code on disk), [`deploy`]
//!   (fetching a source), [`build`];
//! - [`routes`] (the published route table and its stream), [`logs`] (records to logd),
//!   [`runtime`] (where apps run: `runtime/local/` supervises processes and holds the
//!   zero-downtime release switch);
//! - [`addons`] (PostgreSQL and Redis per app; dedicated plans' servers are recorded in
//!   the runtime's process ledger); [`app_json`] (Heroku's app manifest, read by an app
//!   setup);
//! - [`platform`] (the operations, one file per resource), [`sleep`] (the loop that puts
//!   idle apps to sleep), [`backup_schedule`] (the loop that makes the plans' scheduled
//!   backups);
//! - [`api`] (the HTTP API, one file per resource), [`server`] (assembles and runs it all);
//! - [`cli`] (the `slipway` command line, with `slipway up` in `cli/up.rs`).
#![forbid(unsafe_code)]

pub mod addons;
pub mod api;
pub mod app_json;
pub mod backup_schedule;
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
