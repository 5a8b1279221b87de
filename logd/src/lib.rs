//! Slipway's log service: every review app's output, ingested over the Fluent forward
//! protocol, kept per app, and followed live by browsers and CLIs.
//!
//! Data flow: `forward::server` (connections, handshake) → `forward::decode` (framing,
//! modes) → `record` (rules: app, dyno, source, stream, message) → `store` (per-app ring
//! buffer, sequence numbers, global memory cap, optional disk segments) → `hub`
//! (broadcast, per-subscriber position, dropped markers) → `http` (SSE, WebSocket, NDJSON,
//! text, viewer page).
//!
//! The log-line JSON ([`line::LogLine`]) and log tokens ([`token::Signer`],
//! [`token::Claims`]) are the types other programs use.
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
pub mod telemetry;
pub mod token;

pub use config::{Config, ConfigError};
pub use line::{Line, LogLine, Timestamp};
pub use server::{Logd, StartError};
pub use token::{Claims, Signer};
