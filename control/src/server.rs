//! Starting and stopping the control plane (`slipway server`, and inside `slipway up`):
//! the data directory, the store, the log sink, the local runtime, the API listener and
//! the sleeper, as tasks on the caller's tokio runtime.
//!
//! Stopping: the API stops accepting and route streams end; then every app's processes
//! are stopped (SIGTERM, then SIGKILL after the grace period); then the store closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use slipway_config::listen::ListenError;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::addons::{Providers, naming};
use crate::api::{self, Api};
use crate::build::SourceIsSlug;
use crate::config::Config;
use crate::logs::LogSink;
use crate::platform::{Platform, PlatformError};
use crate::routes::RouteHub;
use crate::runtime::local::LocalRuntime;
use crate::runtime::local::ledger::Ledger;
use crate::store::{Store, StoreError};

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory is unusable.
    #[error("config: key \"data_dir\": {0}")]
    DataDir(String),
    /// The API listener could not be opened.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// The database could not be opened or migrated.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// Managed mode's add-on servers did not start.
    #[error("managed add-on servers (addons.managed): {0}")]
    Addons(crate::addons::AddonError),
    /// The platform could not be assembled or restored.
    #[error("{0}")]
    Platform(#[from] PlatformError),
}

/// A running control plane.
#[derive(Debug)]
pub struct Server {
    api_addr: SocketAddr,
    platform: Arc<Platform>,
    shutdown: CancellationToken,
    serve: JoinHandle<()>,
    sleeper: JoinHandle<()>,
    backups: JoinHandle<()>,
}

impl Server {
    /// Opens the state, restores the apps and starts serving on the current runtime.
    pub async fn start(config: Config) -> Result<Server, StartError> {
        let data_dir = config.data_dir.clone();
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| StartError::DataDir(format!("cannot create {}: {e}", data_dir.display())))?;
        let slugs = crate::slug::Slugs::new(&data_dir);
        slugs.prepare().map_err(|e| StartError::DataDir(e.to_string()))?;
        let listener =
            TcpListener::bind(config.listen.api).await.map_err(ListenError::at("listen.api", config.listen.api))?;
        let api_addr = listener.local_addr().map_err(ListenError::at("listen.api", config.listen.api))?;
        let store = Store::open(&config.database_url()).await?;
        let routes = Arc::new(RouteHub::new(config.routes.history, config.routes.router_timeout));
        let logs = LogSink::start(config.logd.forward, config.logd.shared_key.clone(), config.logd.queue);
        let ledger = Ledger::open(&data_dir.join("processes"))
            .map_err(|e| StartError::DataDir(format!("cannot create {}: {e}", data_dir.join("processes").display())))?;
        let leftovers = ledger.stop_leftovers(config.runtime.stop_grace).await;
        if leftovers > 0 {
            tracing::warn!(groups = leftovers, "stopped processes left running by a previous run that did not stop");
        }
        let instance =
            store.instance_id(|| naming::instance().unwrap_or_else(|_| format!("{:08x}", std::process::id()))).await?;
        // Dedicated add-on servers are recorded in the same ledger as the dynos.
        let providers = Providers::start(&config, &instance, ledger.clone()).await.map_err(StartError::Addons)?;
        let runtime = Arc::new(LocalRuntime::new(config.runtime.clone(), logs.clone(), routes.clone(), ledger));
        let platform =
            Arc::new(Platform::new(config, store, routes, runtime, logs, Arc::new(SourceIsSlug), providers)?);
        platform.restore().await?;

        let shutdown = CancellationToken::new();
        let app = api::router(Api { platform: platform.clone(), shutdown: shutdown.clone(), waiting: Arc::default() });
        let stop = shutdown.clone();
        let serve = tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await });
            if let Err(e) = served.await {
                tracing::error!(error = %e, "API listener failed");
            }
        });
        let sleeper = tokio::spawn(crate::sleep::run(platform.clone(), shutdown.clone()));
        let backups = tokio::spawn(crate::backup_schedule::run(platform.clone(), shutdown.clone()));
        tracing::info!(api = %api_addr, data_dir = %data_dir.display(), "control plane started");
        Ok(Server { api_addr, platform, shutdown, serve, sleeper, backups })
    }

    /// Where the API listens.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The operations (for `slipway up` and tests).
    pub fn platform(&self) -> &Arc<Platform> {
        &self.platform
    }

    /// Stops serving and stops every app's processes; see the module docs.
    pub async fn stop(self) {
        self.shutdown.cancel();
        if tokio::time::timeout(Duration::from_secs(10), self.serve).await.is_err() {
            tracing::warn!("API connections still open after 10s; stopping anyway");
        }
        let _ = self.sleeper.await;
        let _ = self.backups.await;
        self.platform.shutdown().await;
        self.platform.store.close().await;
    }
}
