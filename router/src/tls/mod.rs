//! HTTPS: the TLS listener's certificates and how a ClientHello finds one.
//!
//! - `on_demand`: the seam between the SNI resolver and certificates obtained on demand
//!   (ACME) for hosts in the route table;
//! - `acme/`: the ACME issuer behind that seam and its certificate store.

pub mod acme;
pub mod on_demand;
