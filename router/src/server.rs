//! Starting, running and stopping the router.
//!
//! Threads: one *control* runtime (route writer, admin API, routes-file watcher, health
//! probes) and N *workers* (`accept/`). Each worker is a single-threaded tokio runtime
//! with its own listening socket on the shared HTTP port (SO_REUSEPORT: the kernel spreads
//! new connections), so a connection, its upstream connections and its pool slot all stay
//! on one thread, the way nginx workers do.
//!
//! Shutdown (SIGTERM/SIGINT, or [`Router::shutdown`]): `/readyz` turns 503, workers close
//! their listeners (new connections are refused), every connection finishes its in-flight
//! requests and closes, tunnels finish; whatever is still open after `timeouts.drain` is
//! dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::accept::bind::bind_reuseport;
use crate::accept::listener::run_worker;
use crate::accept::worker::Worker;
use crate::config::Config;
use crate::config::acme::StoreKind;
use crate::tls::acme::{self, Issuer};
use slipway_config::listen::ListenError;

use crate::control_client::ControlClient;
use crate::lines::Lines;
use crate::metrics::Metrics;
use crate::shared::{ControlPlaneLink, Shared, SourceHealth};
use crate::sources::control::ControlPlane;
use crate::table::Routes;
use crate::table::update::{self, Defaults, RouteWriter};
use crate::tls::listing::ExpiryGauge;
use crate::tls::{Certificates, Handshaker, HttpsPolicy, OnDemand};

/// Why the router could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be opened.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// The routes file is invalid.
    #[error("{0}")]
    Routes(String),
    /// A certificate file is invalid, or the TLS configuration cannot be built.
    #[error("{0}")]
    Tls(String),
    /// On-demand ACME could not be set up (its store or its `acme.roots`).
    #[error("{0}")]
    Acme(String),
    /// No Kubernetes API client could be made from `[kubernetes]`.
    #[error(transparent)]
    Kubernetes(#[from] crate::sources::kubernetes::ClientError),
    /// A thread or runtime could not be created.
    #[error("cannot start {what}: {source}")]
    Runtime {
        /// What was being started.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A running router.
#[derive(Debug)]
pub struct Router {
    http_addr: SocketAddr,
    https_addr: Option<SocketAddr>,
    admin_addr: SocketAddr,
    shared: Arc<Shared>,
    writer: RouteWriter,
    shutdown: CancellationToken,
    workers: Vec<std::thread::JoinHandle<()>>,
    control: Option<tokio::runtime::Runtime>,
    acme: Option<Issuer>,
    _watcher: Option<crate::watch::Watcher>,
    _certificate_watcher: Option<crate::watch::Watcher>,
}

impl Router {
    /// Binds the listeners, loads the routes file and starts serving.
    pub fn start(config: Config) -> Result<Router, StartError> {
        Router::start_with(config, None)
    }

    /// [`Router::start`], with an issuer of certificates on demand for the HTTPS listener
    /// (asked after exact hosts and wildcards; see `tls/on_demand.rs`).
    pub fn start_with(config: Config, on_demand: Option<Arc<dyn OnDemand>>) -> Result<Router, StartError> {
        let control = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("slipway-control")
            .enable_all()
            .build()
            .map_err(|source| StartError::Runtime { what: "the control runtime", source })?;
        let workers = config.worker_count();
        let listeners =
            bind_reuseport(config.listen.http, workers).map_err(ListenError::at("listen.http", config.listen.http))?;
        let http_addr = listeners[0].local_addr().map_err(ListenError::at("listen.http", config.listen.http))?;
        let tls_listeners = match config.listen.https {
            None => None,
            Some(addr) => Some(bind_reuseport(addr, workers).map_err(ListenError::at("listen.https", addr))?),
        };
        let https_addr = match (&tls_listeners, config.listen.https) {
            (Some(listeners), Some(addr)) => {
                Some(listeners[0].local_addr().map_err(ListenError::at("listen.https", addr))?)
            }
            _ => None,
        };
        let admin_listener = slipway_config::listen::bind("listen.admin", config.listen.admin)?;
        let admin_addr = admin_listener.local_addr().map_err(ListenError::at("listen.admin", config.listen.admin))?;

        let metrics = Arc::new(Metrics::new());
        let routes = Arc::new(Routes::new(&config.zones));
        let control_client = ControlClient::new(&config.control, metrics.clone());
        let control_plane = control_client.clone().map(ControlPlane::new);
        // The ACME issuer (when `acme.enabled`) answers for the hosts no file certificate
        // covers, unless the caller gave its own issuer.
        let acme = match config.acme.enabled {
            true => Some(start_acme(&config, &routes, &metrics, control_client, control.handle().clone())?),
            false => None,
        };
        let on_demand = on_demand.or_else(|| acme.clone().map(|issuer| Arc::new(issuer) as Arc<dyn OnDemand>));
        let https = https_addr.map(|addr| {
            let certs = Arc::new(Certificates::new(on_demand.clone()));
            (certs, HttpsPolicy::new(&config, addr.port()))
        });
        let (certificates, policy) = match https {
            Some((certs, policy)) => (Some(certs), Some(policy)),
            None => (None, None),
        };
        let (handshaker, certificate_files) = match &certificates {
            None => (None, None),
            Some(certs) => {
                let files = crate::tls::files::load(&config.tls, certs, &metrics).map_err(StartError::Tls)?;
                let handshaker = Handshaker::new(
                    certs.clone(),
                    config.tls.session_cache,
                    config.tls.on_demand_timeout,
                    metrics.clone(),
                )
                .map_err(|e| StartError::Tls(e.to_string()))?;
                (Some(Arc::new(handshaker)), Some(files))
            }
        };
        let kubernetes = match config.kubernetes.enabled {
            true => {
                let client = control.block_on(crate::sources::kubernetes::connect(&config.kubernetes))?;
                Some((client, Arc::new(SourceHealth::new(config.kubernetes.stale_after))))
            }
            false => None,
        };
        let lines = config.lines.enabled.then(|| Lines::new(&config.lines, metrics.clone(), workers));
        if let Some(lines) = &lines {
            let _entered = control.enter();
            lines.spawn_shipper();
        }
        let shared = Arc::new(Shared {
            routes: routes.clone(),
            metrics: metrics.clone(),
            runtime: control.handle().clone(),
            control_plane: control_plane.clone().map(|plane| plane as Arc<dyn ControlPlaneLink>),
            ready: AtomicBool::new(false),
            https: policy,
            certificates: certificates.clone(),
            expiry: ExpiryGauge::default(),
            lines,
            kubernetes: kubernetes.as_ref().map(|(_, health)| health.clone()),
            config,
        });
        let defaults = Defaults {
            workers,
            max_idle: shared.config.upstream.max_idle_per_endpoint,
            balance: shared.config.upstream.balance,
            max_concurrent: shared.config.limits.max_concurrent_requests_per_app,
            response_timeout: shared.config.timeouts.response_header,
        };
        let writer = {
            let _entered = control.enter();
            update::spawn_writer(routes, metrics, defaults)
        };
        let watcher = match &shared.config.routes.file {
            None => None,
            Some(path) => {
                let loaded = control
                    .block_on(crate::sources::file::load(path, &writer, &shared.metrics))
                    .map_err(StartError::Routes)?;
                tracing::debug!(file = %path.display(), version = loaded.version, "routes file loaded");
                let _entered = control.enter();
                // From the bytes applied, so an edit landing after the load is not missed.
                Some(
                    crate::sources::file::watch(path.clone(), loaded.bytes, writer.clone(), shared.metrics.clone())
                        .map_err(StartError::Routes)?,
                )
            }
        };

        let certificate_watcher = match (certificate_files, &certificates) {
            (Some(files), Some(certs)) if !files.is_empty() => {
                let _entered = control.enter();
                Some(files.watch(certs.clone(), shared.metrics.clone()).map_err(StartError::Tls)?)
            }
            _ => None,
        };

        if let Some(plane) = &control_plane {
            control.spawn(plane.clone().follow(writer.clone()));
            control
                .spawn(plane.clone().report_activity(shared.routes.clone(), shared.config.control.activity_interval));
        }

        if let Some((client, health)) = kubernetes {
            let _entered = control.enter();
            let config = shared.config.kubernetes.clone();
            crate::sources::kubernetes::spawn(config, client, writer.clone(), shared.metrics.clone(), health);
        }

        let shutdown = CancellationToken::new();
        if let Some(issuer) = &acme {
            issuer.spawn_renewal(shutdown.clone());
        }
        {
            let _entered = control.enter();
            let listener =
                TcpListener::from_std(admin_listener).map_err(ListenError::at("listen.admin", admin_addr))?;
            let app = crate::admin::router(shared.clone(), writer.clone());
            let stop = shutdown.clone();
            control.spawn(async move {
                let served = axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await });
                if let Err(e) = served.await {
                    tracing::error!(error = %e, "admin listener failed");
                }
            });
        }

        let mut threads = Vec::with_capacity(workers);
        let mut tls_listeners = tls_listeners.map(Vec::into_iter);
        for (index, listener) in listeners.into_iter().enumerate() {
            let worker = Arc::new(Worker::new(shared.clone(), index, handshaker.clone()));
            let tls_listener = tls_listeners.as_mut().and_then(Iterator::next);
            let stop = shutdown.clone();
            let thread = std::thread::Builder::new()
                .name(format!("slipway-worker-{index}"))
                .spawn(move || run_worker(index, listener, tls_listener, worker, stop))
                .map_err(|source| StartError::Runtime { what: "a worker thread", source })?;
            threads.push(thread);
        }
        shared.ready.store(true, Ordering::Release);
        Ok(Router {
            http_addr,
            https_addr,
            admin_addr,
            shared,
            writer,
            shutdown,
            workers: threads,
            control: Some(control),
            acme,
            _watcher: watcher,
            _certificate_watcher: certificate_watcher,
        })
    }

    /// Where the HTTP listener listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Where the HTTPS listener listens, when it is on.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_addr
    }

    /// The certificates the HTTPS listener serves, when it is on: other sources (Kubernetes
    /// TLS secrets) add and replace certificates by host here.
    pub fn certificates(&self) -> Option<Arc<Certificates>> {
        self.shared.certificates.clone()
    }

    /// Where the admin listener listens.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Sends route changes (for embedding the router, and for tests).
    pub fn writer(&self) -> RouteWriter {
        self.writer.clone()
    }

    /// The live routes.
    pub fn routes(&self) -> Arc<Routes> {
        self.shared.routes.clone()
    }

    /// The on-demand ACME issuer, when `acme.enabled` (for the HTTPS listener's resolver).
    pub fn acme(&self) -> Option<Arc<dyn OnDemand>> {
        self.acme.clone().map(|issuer| Arc::new(issuer) as Arc<dyn OnDemand>)
    }

    /// The metrics registry's current text.
    pub fn metrics_text(&self) -> String {
        self.shared.metrics.render()
    }

    /// Whether `/readyz` answers 200: started, not draining, and synced with the control
    /// plane when one is configured.
    pub fn is_ready(&self) -> bool {
        self.shared.is_ready()
    }

    /// A handle on the control runtime (signals, embedding).
    pub fn control_handle(&self) -> tokio::runtime::Handle {
        self.shared.runtime.clone()
    }

    /// Starts the graceful shutdown; see the module docs.
    pub fn shutdown(&self) {
        self.shared.ready.store(false, Ordering::Release);
        self.shutdown.cancel();
    }

    /// Shuts down and blocks until the workers have drained (at most `timeouts.drain`).
    pub fn stop_blocking(mut self) {
        self.shutdown();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        if let Some(control) = self.control.take() {
            control.shutdown_timeout(Duration::from_secs(1));
        }
    }

    /// Shuts down and waits, from async code.
    pub async fn stop(self) {
        let (done, finished) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            self.stop_blocking();
            let _ = done.send(());
        });
        let _ = finished.await;
    }
}

/// The ACME issuer of `[acme]`: its store, and the route table as the judge of which hosts
/// get orders (a custom host or `<app>.<zone>` of an app in the table).
fn start_acme(
    config: &Config,
    routes: &Arc<Routes>,
    metrics: &Metrics,
    control: Option<Arc<ControlClient>>,
    runtime: tokio::runtime::Handle,
) -> Result<Issuer, StartError> {
    let config = &config.acme;
    let options = acme::Options::from_config(config).map_err(|e| StartError::Acme(e.to_string()))?;
    let store: Arc<dyn acme::Store> = match (config.store.kind, control) {
        (StoreKind::Dir, _) => Arc::new(
            acme::DirStore::open(&config.store.dir).map_err(|e| StartError::Acme(format!("acme.store.dir: {e}")))?,
        ),
        (StoreKind::Control, Some(client)) => Arc::new(acme::ControlStore::new(client)),
        // Config validation refuses it; said here too rather than assumed.
        (StoreKind::Control, None) => {
            return Err(StartError::Acme("acme.store.kind: \"control\" needs control.url".into()));
        }
    };
    let routes = routes.clone();
    let routed: acme::Routed = Box::new(move |host| routes.serves_host(host));
    Ok(Issuer::new(options, store, routed, &metrics.acme_orders, runtime))
}

impl Drop for Router {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(control) = self.control.take() {
            control.shutdown_background();
        }
    }
}
