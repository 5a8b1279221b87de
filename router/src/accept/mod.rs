//! Accepting clients: the listening sockets (`bind`), each worker's accept loop (`listener`), one
//! client connection with its protocol detection and header/idle timers (`conn`), a future
//! polled only when it woke, for the connection task's rare events (`gate`), and each
//! worker's hyper servers and the request stack a connection gets (`worker`).
//!
//! The top of the request path, below only `server.rs`, which starts the workers. Imports
//! `stack` (the request path it serves), `shared`, `downstream`, `upstream` (to tell the
//! pool which worker a thread is) and `clock`.

pub(crate) mod bind;
pub(crate) mod conn;
pub(crate) mod gate;
pub(crate) mod listener;
pub(crate) mod worker;
