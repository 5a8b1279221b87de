//! Where the ACME account key, the certificates and the in-flight order claims live, behind
//! one trait so that several routers can share them: a directory ([`dir`], routers on one
//! host) or the control plane's API ([`control`], routers on several hosts).
//!
//! A certificate is stored as one PEM text: its private key, then its chain (leaf first).
//! A claim ([`Store::try_claim`]) says which replica orders a host; it expires after its
//! TTL so a replica that died mid-order does not hold the host forever.

use std::fmt;
use std::time::Duration;

use futures_util::future::BoxFuture;

pub mod control;
pub mod dir;

/// A store failed (the file system's or the control plane's reason).
#[derive(Debug, Clone, thiserror::Error)]
#[error("certificate store: {0}")]
pub struct StoreError(pub String);

/// The account key, certificates by host and order claims, shared by replicas.
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// The ACME account's key (PKCS#8 DER), if one was stored.
    fn account_key(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>>;

    /// Stores `key` as the account key unless one is there already; returns the key that is
    /// stored now (so replicas racing to create the account all use one).
    fn put_account_key<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, StoreError>>;

    /// The certificate stored for `host` (PEM: key, then chain).
    fn certificate<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<Option<String>, StoreError>>;

    /// Stores `host`'s certificate (PEM: key, then chain), replacing any earlier one.
    fn put_certificate<'a>(&'a self, host: &'a str, pem: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Claims the right to order `host` for `ttl` as `owner`: true when no other owner holds
    /// an unexpired claim (the claim is then `owner`'s, renewed if it was already).
    fn try_claim<'a>(&'a self, host: &'a str, owner: &'a str, ttl: Duration)
    -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Gives up `owner`'s claim on `host` (nothing if another owner holds it).
    fn release<'a>(&'a self, host: &'a str, owner: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}
