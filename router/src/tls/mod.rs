//! HTTPS: the TLS listener's certificates and how a ClientHello finds one.
//!
//! - `on_demand`: the seam between the SNI resolver and certificates obtained on demand
//!   (ACME) for hosts in the route table.

pub mod on_demand;
