//! Where routes come from besides the admin API (which lives in `admin.rs`): the routes
//! file and the control plane's route stream. Each source sends its changes to the
//! single writer (`table/update.rs`).

pub mod control;
pub mod file;
