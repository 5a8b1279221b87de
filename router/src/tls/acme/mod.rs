//! On-demand ACME (TLS-ALPN-01): certificates ordered from an ACME CA with rustls-acme for
//! the hosts in the route table, kept in a store several router replicas share.
//!
//! - `issuer`: the [`OnDemand`](crate::tls::on_demand::OnDemand) implementation: one order
//!   per host at a time, reuse of stored certificates, renewal;
//! - `order`: one ACME order (rustls-acme's low-level `acme` module);
//! - `account`: the TLS client for the CA and the account (with EAB when configured);
//! - `limits`: order rate limits and backoff after failures;
//! - `cert`: a stored certificate as rustls serves it, and its renewal time;
//! - `store`: the [`Store`](store::Store) trait, the directory store and the control
//!   plane's store.

pub mod account;
pub mod cert;
pub mod issuer;
pub mod limits;
pub mod order;
pub mod store;

pub use issuer::{Issuer, Options, Routed};
pub use store::{Store, StoreError, control::ControlStore, dir::DirStore};
