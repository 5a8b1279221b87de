//! Slipway's router: the edge reverse proxy in front of every app.
//!
//! A request for `<app>.<zone>` (or one of an app's custom hosts) is routed by its host to
//! one of the app's endpoints. Routes live in a table read without locks on every request
//! and replaced by a single writer fed by route sources (a routes file, the admin API).
//!
//! Data flow of a request: `server` (worker threads, accept) → `conn` (protocol detection,
//! timers) → `route` (host → app) → `limit` (per-app concurrency) → `proxy` (balancing,
//! retries, upstream I/O via `pool`) → `body` (streaming the response, then metrics and the
//! access log).
#![forbid(unsafe_code)]

pub mod admin;
mod clock;
pub mod config;
mod conn;
mod downstream;
pub mod metrics;
mod server;
mod shared;
pub mod sources;
pub mod spec;
pub mod stack;
pub mod table;
pub mod telemetry;
pub mod upstream;

pub use config::{Config, ConfigError};
pub use server::{Router, StartError};
pub use spec::{AppOptions, AppRoutes, Balance, RouteSet};
pub use table::Source;
pub use table::update::{Change, RouteWriter, UpdateError};
