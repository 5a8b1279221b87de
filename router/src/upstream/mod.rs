//! The upstream side: the app endpoints the router forwards to. `endpoint` is one
//! endpoint (address, requests in flight, passive health, connection pool), `pool` its
//! keep-alive connections and opening new ones, `balance` choosing an endpoint for a
//! request, and `health` probing ejected endpoints back into rotation.
//!
//! Below the route table (which holds endpoints) and the request stack (which forwards
//! through them): it imports only the foundation modules (`config`, `spec`) and
//! `downstream` (the request body its connections carry).

pub(crate) mod balance;
pub mod endpoint;
pub(crate) mod health;
pub(crate) mod pool;
