//! The request path: a tower stack, one small layer per concern, built for each client
//! connection by the accept layer:
//! `route` (host → app, request id, 400/404) → `limit` (per-app concurrency, 503) →
//! `forward` (balancing, retries, upstream I/O, tunnels; `wake` holds a sleeping app's
//! requests; `forwarded` sets the headers that tell the app what the edge saw; `deadline`
//! bounds the wait for the app's answer). The layers hand each other a `request::Routed`; they answer with a
//! [`body::ProxyBody`], whose completion records metrics and the access log, or with one of
//! the router's own pages ([`error_page`]); [`host`] finds the host a request is routed by.
//!
//! Imports `shared`, `table`, `upstream`, `downstream` and the foundation modules; never
//! the accept layer, the route sources, the admin API or `server.rs`, which build on it.

pub mod body;
pub(crate) mod deadline;
pub mod error_page;
pub(crate) mod forward;
pub(crate) mod forwarded;
pub mod host;
pub(crate) mod limit;
pub(crate) mod request;
pub(crate) mod route;
pub(crate) mod wake;
