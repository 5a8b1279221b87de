//! The seam every kind of add-on implements: make one, remove one, describe one, and
//! list what this control plane made on its servers (to find leftovers).
//!
//! Backups, where a kind has them (PostgreSQL: [`super::backup`]), connect as the
//! add-on's own role, with the URL the platform recorded.
//!
//! A provider keeps no state of its own: what it made is named from the add-on's name
//! and the instance id ([`super::naming`]), on the server recorded with the add-on, so
//! every call can be repeated (removing what is already gone is not an error).

use std::collections::BTreeMap;
use std::path::Path;

use futures_util::future::BoxFuture;

use super::Kind;

/// Why an add-on operation failed: one line naming the server and what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddonError {
    /// A server refused or could not be reached.
    #[error("{kind} server {server}: {what}: {problem}")]
    Server {
        /// The kind.
        kind: Kind,
        /// The server, as `host:port` (never its credentials).
        server: String,
        /// What was being done ("cannot connect", "creating the role").
        what: String,
        /// What the server (or the network) said.
        problem: String,
    },
    /// The kind has no server to place an add-on on.
    #[error("no {kind} server is configured (addons.{kind}.servers in the control plane's config)")]
    NoServer {
        /// The kind.
        kind: Kind,
    },
    /// The add-on's server is no longer in the config.
    #[error("{kind} server {server} is no longer in addons.{kind}.servers; add it back to remove the add-on")]
    UnknownServer {
        /// The kind.
        kind: Kind,
        /// The server.
        server: String,
    },
    /// The kind cannot do this (e.g. backups of Redis).
    #[error("{0}")]
    Unsupported(String),
}

/// What identifies an add-on on its server: its name and the server's `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Resource {
    /// The add-on's name (`postgres-brave-123`).
    pub name: String,
    /// The server's `host:port`.
    pub server: String,
}

/// An add-on to make.
#[derive(Debug, Clone, Copy)]
pub struct Spec<'a> {
    /// Where, and under which name.
    pub resource: &'a Resource,
    /// The plan's name (the provider knows the plans of its kind from the config).
    pub plan: &'a str,
}

/// A backup to write or to restore from.
#[derive(Debug, Clone, Copy)]
pub struct BackupFile<'a> {
    /// The add-on.
    pub resource: &'a Resource,
    /// The add-on's own URL (its role and database: never the server's admin).
    pub url: &'a str,
    /// The file.
    pub file: &'a Path,
}

impl AddonError {
    /// What a kind without backups answers.
    pub fn no_backups(kind: Kind) -> AddonError {
        AddonError::Unsupported(format!("{kind} add-ons have no backups (only postgres add-ons do)"))
    }
}

/// One kind of add-on; see the module docs. Methods return boxed futures so the
/// platform can hold providers of every kind as `dyn Provider`.
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// The kind.
    fn kind(&self) -> Kind;

    /// The servers add-ons are placed on, as `host:port`; empty: the kind is not
    /// configured.
    fn servers(&self) -> Vec<String>;

    /// Whether `plan` exists.
    fn has_plan(&self, plan: &str) -> bool;

    /// The default plan.
    fn default_plan(&self) -> &str;

    /// Makes the add-on and returns what reaches it: `url` (and `key_prefix` for Redis).
    /// Repeatable. On failure the platform calls [`Provider::deprovision`], which removes
    /// whatever the steps before the failure made.
    fn provision<'a>(&'a self, spec: Spec<'a>) -> BoxFuture<'a, Result<BTreeMap<String, String>, AddonError>>;

    /// Closes the add-on's connections and removes all of it (data included).
    /// Idempotent.
    fn deprovision<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, Result<(), AddonError>>;

    /// A few facts about the add-on for `addons info` (size, connections).
    fn info<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, Result<BTreeMap<String, String>, AddonError>>;

    /// What this control plane made on `server` (found by its naming), as resources.
    fn made<'a>(&'a self, server: &'a str) -> BoxFuture<'a, Result<Vec<Resource>, AddonError>>;

    /// At start, for a ready add-on: starts what it needs to run (a dedicated plan's
    /// server). Shared servers need nothing.
    fn resume<'a>(&'a self, _spec: Spec<'a>) -> BoxFuture<'a, Result<(), AddonError>> {
        Box::pin(async { Ok(()) })
    }

    /// Whether [`Provider::backup`] and [`Provider::restore`] do something.
    fn has_backups(&self) -> bool {
        false
    }

    /// Writes a backup of the add-on to `backup.file` (connecting as the add-on itself).
    fn backup<'a>(&'a self, _backup: BackupFile<'a>) -> BoxFuture<'a, Result<(), AddonError>> {
        let kind = self.kind();
        Box::pin(async move { Err(AddonError::no_backups(kind)) })
    }

    /// Restores the add-on from `backup.file` (connecting as the add-on itself).
    fn restore<'a>(&'a self, _backup: BackupFile<'a>) -> BoxFuture<'a, Result<(), AddonError>> {
        let kind = self.kind();
        Box::pin(async move { Err(AddonError::no_backups(kind)) })
    }

    /// At shutdown: stops what it started (dedicated plans' servers).
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
