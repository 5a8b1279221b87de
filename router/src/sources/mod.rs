//! Where routes come from besides the admin API (which lives in `admin.rs`): the routes
//! file, the control plane's route stream and Kubernetes. Each source sends its changes to the
//! single writer (`table/update.rs`).
//!
//! Imports the table, `shared` (the control plane's client is the request path's
//! `ControlPlaneLink`) and the foundation modules. Nothing on the request path imports a
//! source; `server.rs` starts them.

pub mod control;
pub mod file;
pub mod kubernetes;
