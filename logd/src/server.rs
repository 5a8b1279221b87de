//! Starting and stopping logd: binds the listeners, opens the store (reading back disk
//! history), and runs the forward listeners, the HTTP listener and the heartbeat ticker as
//! tasks on the caller's tokio runtime.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use slipway_config::listen::ListenError;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::forward::budget::Budget;
use crate::forward::decode::Limits;
use crate::forward::handshake::Security;
use crate::forward::server::Ingest;
use crate::forward::timer::Timeouts;
use crate::http::Api;
use crate::metrics::Metrics;
use crate::record::Rules;
use crate::store::Store;
use crate::token::Signer;

/// Why logd could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be opened.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// The TLS certificate or key is unusable.
    #[error("config: key \"forward.tls\": {0}")]
    Tls(String),
    /// The persistence directory is unusable.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A start-up task failed unexpectedly.
    #[error("cannot start: {0}")]
    Internal(String),
    /// The signing key is unusable.
    #[error("config: key \"auth.signing_key\": {0}")]
    Key(crate::token::TokenError),
}

/// A running logd.
#[derive(Debug)]
pub struct Logd {
    forward_addr: SocketAddr,
    forward_tls_addr: Option<SocketAddr>,
    http_addr: SocketAddr,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

async fn bind(key: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    Ok(TcpListener::bind(addr).await.map_err(ListenError::at(key, addr))?)
}

fn local(key: &'static str, addr: SocketAddr, l: &TcpListener) -> Result<SocketAddr, StartError> {
    Ok(l.local_addr().map_err(ListenError::at(key, addr))?)
}

fn tls_acceptor(config: &Config) -> Result<Option<tokio_rustls::TlsAcceptor>, StartError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (Some(_), Some(tls)) = (config.listen.forward_tls, &config.forward.tls) else { return Ok(None) };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| StartError::Tls(format!("cert {}: {e}", tls.cert.display())))?;
    if certs.is_empty() {
        return Err(StartError::Tls(format!("cert {}: no certificate in the file", tls.cert.display())));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| StartError::Tls(format!("key {}: {e}", tls.key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| StartError::Tls(e.to_string()))?;
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(server))))
}

impl Logd {
    /// Binds, opens the store and starts serving on the current tokio runtime.
    pub async fn start(config: Config) -> Result<Logd, StartError> {
        let metrics = Arc::new(Metrics::new());
        let signer = match &config.auth.signing_key {
            Some(key) => Some(Signer::new(key.as_bytes()).map_err(StartError::Key)?),
            None => None,
        };
        let tls = tls_acceptor(&config)?;
        let forward = bind("listen.forward", config.listen.forward).await?;
        let forward_addr = local("listen.forward", config.listen.forward, &forward)?;
        let forward_tls = match config.listen.forward_tls {
            Some(addr) => Some(bind("listen.forward_tls", addr).await?),
            None => None,
        };
        let forward_tls_addr = match (&forward_tls, config.listen.forward_tls) {
            (Some(l), Some(addr)) => Some(local("listen.forward_tls", addr, l)?),
            _ => None,
        };
        let http = bind("listen.http", config.listen.http).await?;
        let http_addr = local("listen.http", config.listen.http, &http)?;

        let store = {
            let config = config.clone();
            let metrics = metrics.clone();
            tokio::task::spawn_blocking(move || Store::open(&config, metrics))
                .await
                .map_err(|e| StartError::Internal(format!("opening the store failed: {e}")))??
        };
        let store = Arc::new(store);
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let ingest = Arc::new(Ingest {
            store: store.clone(),
            rules: Rules::new(&config.rules),
            limits: Limits {
                max_frame_bytes: config.forward.max_frame_bytes,
                max_entries: config.forward.max_entries_per_frame,
            },
            security: Security::new(&config.forward),
            handshake_timeout: config.forward.handshake_timeout,
            timeouts: Timeouts {
                idle: config.forward.idle_timeout,
                frame: config.forward.frame_timeout,
                min_rate: config.forward.frame_min_rate,
            },
            budget: Arc::new(Budget::new(config.forward.max_buffered_bytes, &metrics)),
            metrics: metrics.clone(),
            connections: Arc::new(Semaphore::new(config.forward.max_connections)),
        });
        tasks.spawn(crate::forward::server::serve(forward, None, ingest.clone(), shutdown.clone(), tasks.clone()));
        if let Some(listener) = forward_tls {
            tasks.spawn(crate::forward::server::serve(listener, tls, ingest, shutdown.clone(), tasks.clone()));
        }
        let api = Arc::new(Api {
            store: store.clone(),
            metrics: metrics.clone(),
            http: config.http.clone(),
            auth: config.auth.clone(),
            signer,
            subscribers: AtomicUsize::new(0),
            shutdown: shutdown.clone(),
        });
        tasks.spawn(crate::http::serve(http, api, shutdown.clone(), tasks.clone()));
        tasks.spawn(heartbeats(store.clone(), config.http.heartbeat, shutdown.clone()));
        Ok(Logd { forward_addr, forward_tls_addr, http_addr, store, metrics, shutdown, tasks })
    }

    /// Where the forward listener listens.
    pub fn forward_addr(&self) -> SocketAddr {
        self.forward_addr
    }

    /// Where the TLS forward listener listens, if on.
    pub fn forward_tls_addr(&self) -> Option<SocketAddr> {
        self.forward_tls_addr
    }

    /// Where the HTTP listener listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The store (for embedding and tests).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The metrics' current text.
    pub fn metrics_text(&self) -> String {
        self.store.tick_gauges();
        self.metrics.render()
    }

    /// Stops accepting, closes connections and streams, and flushes the disk writer.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.close();
        if tokio::time::timeout(Duration::from_secs(10), self.tasks.wait()).await.is_err() {
            tracing::warn!(open = self.tasks.len(), "tasks still running after 10s; stopping anyway");
        }
        let store = self.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
    }
}

/// Ticks every `every`: heartbeats for idle streams, and the gauges.
async fn heartbeats(store: Arc<Store>, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => store.tick(),
        }
    }
}
