//! What every part of the running router shares ([`Shared`]): the config, the live route
//! table, the metrics, a handle on the control runtime, the link to the control plane, the
//! readiness flag and, with HTTPS on, the certificates and the redirect/HSTS policy. `server.rs` creates it at start; the accept layer, the request stack
//! and the admin API read it.
//!
//! It imports only the table, `tls`, `lines` and the foundation modules. The control plane's client lives
//! with the route sources (`sources/control.rs`), which are not below the request path, so
//! the request path reaches it through the small [`ControlPlaneLink`] trait defined here.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::config::Config;
use crate::lines::Lines;
use crate::metrics::Metrics;
use crate::table::Routes;
use crate::tls::listing::ExpiryGauge;
use crate::tls::{Certificates, HttpsPolicy};

/// What every part of the running router shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) routes: Arc<Routes>,
    pub(crate) metrics: Arc<Metrics>,
    /// The control runtime, for background tasks started from the request path.
    pub(crate) runtime: tokio::runtime::Handle,
    /// The control plane, when configured.
    pub(crate) control_plane: Option<Arc<dyn ControlPlaneLink>>,
    pub(crate) ready: AtomicBool,
    /// Redirects and HSTS, when the HTTPS listener is on.
    pub(crate) https: Option<HttpsPolicy>,
    /// The certificates served, when the HTTPS listener is on.
    pub(crate) certificates: Option<Arc<Certificates>>,
    /// The certificate expiry series, refreshed when `/metrics` is read.
    pub(crate) expiry: ExpiryGauge,
    /// Router lines for the apps' logs, when `[lines]` is on.
    pub(crate) lines: Option<Arc<Lines>>,
    /// The Kubernetes source's health, when `[kubernetes]` is on.
    pub(crate) kubernetes: Option<Arc<SourceHealth>>,
}

impl Shared {
    /// Ready to serve: started, not draining, and synced with the control plane and the
    /// Kubernetes API if they are sources. A source gone stale later keeps the router
    /// ready: its last routes still serve.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
            && self.control_plane.as_ref().is_none_or(|c| c.is_synced())
            && self.kubernetes.as_ref().is_none_or(|k| k.is_synced())
    }
}

/// A watched route source's health, for `/readyz`: whether it has published its first
/// routes, and when it last heard from its server. Written by the source, read by the
/// admin API.
#[derive(Debug)]
pub(crate) struct SourceHealth {
    synced: AtomicBool,
    /// `clock::now_ms` of the last answer from the server (0: none yet).
    contact: AtomicU64,
    stale_after: Duration,
}

impl SourceHealth {
    /// A source not synced yet, stale after `stale_after` without contact.
    pub(crate) fn new(stale_after: Duration) -> SourceHealth {
        SourceHealth { synced: AtomicBool::new(false), contact: AtomicU64::new(0), stale_after }
    }

    /// The server answered.
    pub(crate) fn contact(&self) {
        self.contact.store(crate::clock::now_ms(), Ordering::Relaxed);
    }

    /// The source's routes are in the table.
    pub(crate) fn set_synced(&self) {
        self.synced.store(true, Ordering::Release);
    }

    pub(crate) fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// How long the server has been silent, when that is longer than `stale_after`.
    pub(crate) fn stale_for(&self) -> Option<Duration> {
        let silent = Duration::from_millis(crate::clock::now_ms().saturating_sub(self.contact.load(Ordering::Relaxed)));
        (silent > self.stale_after).then_some(silent)
    }
}

/// What the router needs of the control plane besides its route stream: whether the routes
/// were loaded from it (readiness) and asking it to wake a sleeping app. Implemented by
/// `sources::control::ControlPlane`. Only called off the per-request path (`/readyz`, and
/// the requests of a sleeping app), so the dynamic call and the boxed future cost nothing
/// per request.
pub(crate) trait ControlPlaneLink: fmt::Debug + Send + Sync {
    /// Whether the routes have been loaded from the control plane at least once.
    fn is_synced(&self) -> bool;

    /// Asks the control plane to wake `app`.
    fn wake<'a>(&'a self, app: &'a str) -> BoxFuture<'a, Result<(), WakeError>>;
}

/// Why the control plane could not be asked to wake an app (the client's error).
pub(crate) type WakeError = Box<dyn std::error::Error + Send + Sync>;
