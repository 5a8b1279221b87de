//! Add-ons: backing services (PostgreSQL, Redis) provisioned per app, whose connection
//! URLs become config vars.
//!
//! This is the seam for them; no provider exists yet. A provider creates the app's
//! resource and returns the config vars to inject (they are merged into each release's
//! environment, under the app's own config vars), and removes it with the app.

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;

/// Why an add-on operation failed.
#[derive(Debug, thiserror::Error)]
#[error("add-on {kind}: {message}")]
pub struct AddonError {
    /// The add-on kind.
    pub kind: String,
    /// What went wrong.
    pub message: String,
}

/// Provisions one kind of add-on.
pub trait AddonProvider: Send + Sync + std::fmt::Debug {
    /// The kind, e.g. `postgres`.
    fn kind(&self) -> &'static str;

    /// Creates `app`'s resource (idempotent) and returns the config vars that reach it,
    /// e.g. `DATABASE_URL`.
    fn provision<'a>(&'a self, app: &'a str) -> BoxFuture<'a, Result<BTreeMap<String, String>, AddonError>>;

    /// Removes `app`'s resource and everything in it.
    fn deprovision<'a>(&'a self, app: &'a str) -> BoxFuture<'a, Result<(), AddonError>>;
}
