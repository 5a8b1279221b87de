//! Helpers for Slipway's tests: real backends, real clients and real processes on
//! loopback. Nothing here mocks I/O: a backend is a hyper server on a free port, a client
//! speaks HTTP over a TCP socket, a process is the real binary.
//!
//! End-to-end tests that start several Slipway programs live in `tests/tests/`.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc, unreachable_pub, missing_debug_implementations)]

pub mod backend;
pub mod binaries;
pub mod client;
pub mod clients;
pub mod platform;
pub mod process;
pub mod raw;
pub mod stream;

pub use backend::Backend;
pub use client::{Reply, get, send};
