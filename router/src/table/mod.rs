//! The route table and its single writer. `routes` is the live table, read on every
//! request without a lock ([`Routes`], its snapshots [`RouteTable`], each [`App`] with its
//! [`AppState`], and the [`Source`] that owns an app); [`update`] is the one task that
//! changes it, fed by the route sources through [`RouteWriter`](update::RouteWriter).
//!
//! Above `upstream` (an app's state holds its endpoints) and the foundation modules
//! (`metrics`, `spec`); it never imports the request stack, the shared context or the
//! sources, which all build on it.

mod routes;
pub mod update;

pub use routes::{App, AppState, Permit, RouteTable, Routes, Source};
