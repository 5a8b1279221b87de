//! Slipway's router: the edge reverse proxy in front of every app.
//!
//! A request for `<app>.<zone>` (or one of an app's custom hosts) is routed by its host to
//! one of the app's endpoints. Routes live in a table read without locks on every request
//! and replaced by a single writer fed by route sources (a routes file, the admin API).
//!
//! Data flow of a request: `accept::listener` (worker threads, accept) → `accept::conn`
//! (protocol detection, timers) → `stack::route` (host → app) → `stack::limit` (per-app
//! concurrency) → `stack::forward` (balancing, retries, upstream I/O via
//! `upstream::pool`) → `stack::body` (streaming the response, then metrics and the access
//! log).
//!
//! The modules by layer; each imports only from the layers below it:
//! - `server` starts and stops it all, and `admin` is the admin listener;
//! - `accept/`: listening sockets, accept loops, client connections, each worker's stack;
//! - `stack/`: the request path's tower layers, the response body, the router's own pages;
//! - `sources/`: route sources, the routes file and the control plane's route stream;
//! - `shared`: what every part of the running router shares;
//! - `table/`: the route table and its single writer;
//! - `tls/`: HTTPS certificates and the SNI resolver;
//! - `upstream/`: endpoints, their connection pools, balancing, health probes;
//! - `downstream/`: what every layer knows of the client: connection state, the framing
//!   check, the request body, the request id;
//! - `lines/`: router lines in each app's log, batched per worker and shipped to logd;
//! - `control_client`: the control plane's API client, which the route source and the
//!   ACME store in the control plane share;
//! - at the bottom: `config`, `spec` (the wire format), `metrics`, `clock`, `watch` (the
//!   file watch the routes file and the certificate files share) (config loading, logging
//!   and the API error body are `slipway-config`'s).
#![forbid(unsafe_code)]

mod accept;
pub mod admin;
mod clock;
pub mod config;
pub mod control_client;
mod downstream;
mod lines;
pub mod metrics;
mod server;
mod shared;
pub mod sources;
pub mod spec;
pub mod stack;
pub mod table;
pub mod tls;
pub mod upstream;
mod watch;

pub use config::{Config, ConfigError};
pub use server::{Router, StartError};
pub use spec::{AppOptions, AppRoutes, Balance, RouteSet};
pub use table::Source;
pub use table::update::{Change, RouteWriter, UpdateError};
