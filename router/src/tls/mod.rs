//! HTTPS: the TLS listener's certificates and how a ClientHello finds one.
//!
//! - `certificate`: one certificate (chain, signing key, issuer, not-after) read from PEM;
//! - `resolver`: the certificates by host (exact, `*.zone`, on demand, default) and the
//!   rustls resolvers over them; the seam where other sources (Kubernetes TLS secrets) add
//!   certificates;
//! - `files`: certificates from PEM files, reloaded when they change (`watch.rs`);
//! - `handshake`: the listener's handshake (ClientHello, on-demand wait, ALPN, resumption);
//! - `policy`: plain HTTP → HTTPS redirects and HSTS, per zone;
//! - `listing`: what the admin API and the expiry metric show;
//! - `on_demand`: the seam between the SNI resolver and certificates obtained on demand
//!   (ACME) for hosts in the route table;
//! - `acme/`: the ACME issuer behind that seam and its certificate store.
//!
//! Imports only `config`, `metrics`, `watch` and `spec` (the ACME issuer is told which
//! hosts are routed by a function `server` gives it); the accept layer, the request stack
//! and the admin API build on it.

pub mod acme;
pub mod certificate;
pub(crate) mod files;
pub mod handshake;
pub mod listing;
pub mod on_demand;
pub mod policy;
pub mod resolver;

pub use certificate::{Certificate, CertificateError};
pub use handshake::Handshaker;
pub use on_demand::{ObtainError, Obtaining, OnDemand};
pub use policy::HttpsPolicy;
pub use resolver::{CertSource, Certificates};
