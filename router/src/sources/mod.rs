//! Where routes come from besides the admin API (which lives in `admin.rs`): the routes
//! file. Each source sends its changes to the single writer (`update.rs`).

pub mod file;
