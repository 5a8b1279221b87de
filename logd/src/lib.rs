//! Slipway's log service: every review app's output, ingested over the Fluent forward
//! protocol, kept per app, and followed live by browsers and CLIs.
//!
//! A record's path runs one way: `forward::server` (connections, handshake) →
//! `forward::decode` (framing, modes) → `record` (rules: app, dyno, source, stream,
//! message) → `store` (per-app ring buffer, sequence numbers, global memory cap, optional
//! disk segments in `store::segment`) → `hub` (broadcast, per-subscriber position, dropped
//! markers) → `http` (SSE, WebSocket, NDJSON, text, viewer page). Imports never point back
//! up that path: the hub knows nothing of the store (a subscription carries its app's
//! name), the store nothing of the front ends. The two front ends, `forward::server` and
//! `http` (which subscribes through the store), sit on top; `server` assembles everything
//! at start-up and nothing imports it. Under them all: `line`, `msgpack`, `metrics`,
//! `config`, `token`, and `listener` (the accept loop both front ends use).
//!
//! The log-line JSON ([`line::LogLine`]), log tokens ([`token::Signer`],
//! [`token::Claims`]) and the forward client ([`forward::client`]: frame encoding, acks,
//! the shared-key handshake) are what other programs use.
#![forbid(unsafe_code)]

pub mod config;
pub mod forward;
pub mod http;
pub mod hub;
pub mod line;
mod listener;
pub mod metrics;
pub mod msgpack;
pub mod record;
pub mod server;
pub mod store;
pub mod token;

pub use config::{Config, ConfigError};
pub use line::{Line, LineBatch, LogLine, Timestamp};
pub use server::{Logd, StartError};
pub use token::{Claims, Signer};
