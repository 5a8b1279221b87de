//! Kubernetes as a route source: the router as an ingress controller.
//!
//! `client.rs` connects to the API server, `watch.rs` watches Ingresses, IngressClasses,
//! Services and EndpointSlices and batches their changes into the single table writer,
//! and `translate.rs` turns the watched objects into apps (Ingress host + path rules →
//! Service port → ready endpoints; app-mode Services). Apps from here are owned by
//! [`Source::Kubernetes`](crate::table::Source::Kubernetes).
//!
//! TLS secrets named by `spec.tls` are not read yet. The seam for them is
//! `tls::Certificates::insert/remove` (the certificates the HTTPS listener serves, by
//! host), reachable here as `Shared::certificates`: a fifth watcher on
//! `kubernetes.io/tls` Secrets would insert a certificate for each host of a `spec.tls`
//! entry of our Ingresses and remove it when the Ingress or Secret goes.

pub mod client;
pub mod translate;
mod watch;

use std::sync::Arc;

use crate::config::Kubernetes;
use crate::metrics::Metrics;
use crate::shared::SourceHealth;
use crate::table::update::RouteWriter;

pub use client::{ClientError, connect};

/// Starts the source on the current runtime with a connected client.
pub(crate) fn spawn(
    config: Kubernetes,
    client: kube::Client,
    writer: RouteWriter,
    metrics: Arc<Metrics>,
    health: Arc<SourceHealth>,
) {
    tokio::spawn(watch::run(config, client, writer, metrics, health));
}
