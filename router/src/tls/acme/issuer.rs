//! The on-demand issuer: [`OnDemand`] for the HTTPS listener, backed by a shared [`Store`].
//!
//! How a host gets its certificate (`obtain`): a certificate already held answers at once;
//! a host the route table does not serve is refused; otherwise one task per host (waiting
//! handshakes share it) looks in the store first (another replica's or an earlier run's
//! certificate is reused without an order), then takes a slot from the rate limits, claims
//! the host in the store so that only one replica orders it, orders it, stores it and
//! publishes it. A replica that finds the host claimed waits for the claimant's certificate
//! to appear in the store (or for the claim to expire, then orders itself).
//!
//! Handshakes read held certificates from an `ArcSwap` snapshot (no lock); the rest is off
//! the handshake path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use prometheus::{IntCounter, IntCounterVec};
use rustls::ClientConfig;
use rustls::sign::CertifiedKey;
use rustls_acme::acme::Account;
use slipway_config::ConfigError;
use tokio_util::sync::CancellationToken;

use super::account::{self, Eab};
use super::cert::Held;
use super::limits::{self, Limits};
use super::order::{self, Challenges};
use super::store::Store;
use crate::config::Acme as AcmeConfig;
use crate::tls::on_demand::{ObtainError, Obtaining, OnDemand};

/// Whether a host is served by the route table (only those get orders).
pub type Routed = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// Wait between two looks into the store while another replica orders a host.
const WAIT_POLL: Duration = Duration::from_millis(200);

/// The issuer's settings, checked and prepared from `[acme]`.
#[derive(Debug, Clone)]
pub struct Options {
    /// The ACME directory URL.
    pub directory: String,
    /// The contact e-mail.
    pub email: Option<String>,
    /// The external account binding.
    pub eab: Option<Eab>,
    /// TLS client config for the directory.
    pub client: Arc<ClientConfig>,
    /// Renew once this fraction of the lifetime has passed.
    pub renew_at: f64,
    /// How often held certificates are checked for renewal.
    pub renew_check: Duration,
    /// Bound on one order.
    pub order_timeout: Duration,
    /// Bound on a claim in the store.
    pub lock_ttl: Duration,
    /// Rate limits and backoff.
    pub limits: limits::Settings,
}

impl Options {
    /// From a validated `[acme]` section (reads the `roots` files).
    pub fn from_config(c: &AcmeConfig) -> Result<Options, ConfigError> {
        let client =
            account::client_config(&c.roots).map_err(|(i, e)| ConfigError::invalid(&format!("acme.roots[{i}]"), e))?;
        let eab = match (&c.eab_key_id, &c.eab_hmac_key) {
            (Some(key_id), Some(key)) => {
                use base64::Engine as _;
                let hmac_key = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(key.trim_end_matches('='))
                    .map_err(|_| ConfigError::invalid("acme.eab_hmac_key", "is not base64url"))?;
                Some(Eab { key_id: key_id.clone(), hmac_key })
            }
            _ => None,
        };
        Ok(Options {
            directory: c.directory.clone(),
            email: c.email.clone(),
            eab,
            client,
            renew_at: c.renew_at,
            renew_check: c.renew_check,
            order_timeout: c.order_timeout,
            lock_ttl: c.store.lock_ttl,
            limits: limits::Settings {
                per_host: c.rate_limit.per_host,
                global: c.rate_limit.global,
                window: c.rate_limit.window,
                backoff: c.backoff,
                backoff_max: c.backoff_max,
            },
        })
    }
}

/// `slipway_router_acme_orders_total`'s handles, one per outcome.
#[derive(Debug)]
struct Outcomes {
    issued: IntCounter,
    stored: IntCounter,
    failed: IntCounter,
    rate_limited: IntCounter,
    not_routed: IntCounter,
}

impl Outcomes {
    fn new(orders: &IntCounterVec) -> Outcomes {
        let at = |outcome: &str| orders.with_label_values(&[outcome]);
        Outcomes {
            issued: at("issued"),
            stored: at("stored"),
            failed: at("failed"),
            rate_limited: at("rate_limited"),
            not_routed: at("not_routed"),
        }
    }
}

type Pending = Shared<BoxFuture<'static, Result<(), ObtainError>>>;

struct Inner {
    options: Options,
    store: Arc<dyn Store>,
    routed: Routed,
    /// Held certificates; replaced whole on each (rare) change. O(hosts) per change.
    held: ArcSwap<HashMap<Box<str>, Held>>,
    challenges: Challenges,
    pending: Mutex<HashMap<String, Pending>>,
    limits: Mutex<Limits>,
    account: tokio::sync::OnceCell<Account>,
    outcomes: Outcomes,
    runtime: tokio::runtime::Handle,
    /// Who this issuer is in the store's claims.
    owner: String,
}

/// Certificates on demand from an ACME CA, shared through a [`Store`].
#[derive(Clone)]
pub struct Issuer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("directory", &self.inner.options.directory)
            .field("store", &self.inner.store)
            .field("owner", &self.inner.owner)
            .finish_non_exhaustive()
    }
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Issuer {
    /// An issuer ordering through `store` for the hosts `routed` accepts, counting in
    /// `orders` (label `outcome`); its orders run on `runtime`.
    pub fn new(
        options: Options,
        store: Arc<dyn Store>,
        routed: Routed,
        orders: &IntCounterVec,
        runtime: tokio::runtime::Handle,
    ) -> Issuer {
        let owner = format!("{}-{:016x}", std::process::id(), fastrand::u64(..));
        let limits = Mutex::new(Limits::new(options.limits));
        Issuer {
            inner: Arc::new(Inner {
                options,
                store,
                routed,
                held: ArcSwap::from_pointee(HashMap::new()),
                challenges: Mutex::new(HashMap::new()),
                pending: Mutex::new(HashMap::new()),
                limits,
                account: tokio::sync::OnceCell::new(),
                outcomes: Outcomes::new(orders),
                runtime,
                owner,
            }),
        }
    }

    /// Starts renewing held certificates every `renew_check` until `stop`.
    pub fn spawn_renewal(&self, stop: CancellationToken) {
        let issuer = self.clone();
        let every = self.inner.options.renew_check;
        self.inner.runtime.spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
                issuer.renew_due().await;
            }
        });
    }

    /// Renews, one after the other, every held certificate past its renewal time whose host
    /// is still routed. The old certificate keeps serving meanwhile.
    pub async fn renew_due(&self) {
        let now = SystemTime::now();
        let fraction = self.inner.options.renew_at;
        let due: Vec<String> = self
            .inner
            .held
            .load()
            .iter()
            .filter(|(host, held)| !held.fresh_at(now, fraction) && (self.inner.routed)(host))
            .map(|(host, _)| host.to_string())
            .collect();
        for host in due {
            if let Err(e) = self.start(&host, true).await {
                tracing::warn!(%host, error = %e, "certificate renewal failed; the current one keeps serving");
            }
        }
    }

    /// The one task obtaining `host` (renewing it when `renew`), started if none runs.
    fn start(&self, host: &str, renew: bool) -> Pending {
        let mut pending = locked(&self.inner.pending);
        if let Some(task) = pending.get(host) {
            return task.clone();
        }
        let inner = self.inner.clone();
        let owned = host.to_owned();
        let handle = self.inner.runtime.spawn(async move {
            let result = inner.obtain(&owned, renew).await;
            locked(&inner.pending).remove(&owned);
            result
        });
        let name = host.to_owned();
        let task = async move {
            handle.await.unwrap_or_else(|e| Err(ObtainError::Failed { host: name, reason: format!("order task: {e}") }))
        }
        .boxed()
        .shared();
        pending.insert(host.to_owned(), task.clone());
        task
    }
}

impl Inner {
    fn install(&self, host: &str, held: Held) {
        self.held.rcu(|map| {
            let mut map = HashMap::clone(map);
            map.insert(host.into(), held.clone());
            map
        });
    }

    /// A usable certificate from the store: valid, and not due either when renewing.
    async fn load_stored(&self, host: &str, renew: bool) -> Option<Held> {
        let pem = match self.store.certificate(host).await {
            Ok(pem) => pem?,
            Err(e) => {
                tracing::warn!(%host, error = %e, "reading the certificate store failed");
                return None;
            }
        };
        let held = match Held::parse(&pem) {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(%host, error = %e, "stored certificate is unusable; ordering a new one");
                return None;
            }
        };
        let now = SystemTime::now();
        let usable = if renew { held.fresh_at(now, self.options.renew_at) } else { held.valid_at(now) };
        usable.then_some(held)
    }

    fn use_stored(&self, host: &str, held: Held) {
        tracing::info!(%host, "certificate taken from the store");
        self.outcomes.stored.inc();
        self.install(host, held);
    }

    async fn obtain(&self, host: &str, renew: bool) -> Result<(), ObtainError> {
        if let Some(held) = self.load_stored(host, renew).await {
            self.use_stored(host, held);
            return Ok(());
        }
        if let Err(why) = locked(&self.limits).admit(host, Instant::now()) {
            tracing::info!(%host, reason = why, "certificate order refused");
            self.outcomes.rate_limited.inc();
            return Err(ObtainError::RateLimited(host.to_owned()));
        }
        let failed = |reason: String| ObtainError::Failed { host: host.to_owned(), reason };
        // Claim the host, or wait for the replica that holds it to store its certificate.
        let deadline = Instant::now() + self.options.order_timeout;
        loop {
            match self.store.try_claim(host, &self.owner, self.options.lock_ttl).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => return Err(failed(e.to_string())),
            }
            if let Some(held) = self.load_stored(host, renew).await {
                self.use_stored(host, held);
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.outcomes.failed.inc();
                return Err(failed("another replica holds the order and stored no certificate in time".into()));
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
        let result = self.order_claimed(host, renew).await;
        if let Err(e) = self.store.release(host, &self.owner).await {
            tracing::warn!(%host, error = %e, "releasing the order claim failed; it expires by itself");
        }
        match result {
            Ok(OrderDone::Stored) => Ok(()),
            Ok(OrderDone::Issued) => {
                locked(&self.limits).succeeded(host);
                self.outcomes.issued.inc();
                Ok(())
            }
            Err(reason) => {
                locked(&self.limits).failed(host, Instant::now());
                self.outcomes.failed.inc();
                tracing::warn!(%host, error = %reason, "certificate order failed");
                Err(failed(reason))
            }
        }
    }

    async fn order_claimed(&self, host: &str, renew: bool) -> Result<OrderDone, String> {
        // The claimant before us may have finished between our look and our claim.
        if let Some(held) = self.load_stored(host, renew).await {
            self.use_stored(host, held);
            return Ok(OrderDone::Stored);
        }
        let ordered = tokio::time::timeout(self.options.order_timeout, async {
            let account = self.account.get_or_try_init(|| self.account()).await?;
            order::issue(account, &self.options.client, host, &self.challenges).await
        })
        .await
        .map_err(|_| format!("no certificate within acme.order_timeout ({:?})", self.options.order_timeout))??;
        let held = Held::parse(&ordered).map_err(|e| format!("the CA's certificate: {e}"))?;
        self.store.put_certificate(host, &ordered).await.map_err(|e| e.to_string())?;
        tracing::info!(%host, "certificate issued");
        self.install(host, held);
        Ok(OrderDone::Issued)
    }

    async fn account(&self) -> Result<Account, String> {
        let key = match self.store.account_key().await.map_err(|e| e.to_string())? {
            Some(key) => key,
            None => self.store.put_account_key(&Account::generate_key_pair()).await.map_err(|e| e.to_string())?,
        };
        let o = &self.options;
        account::account(&o.client, &o.directory, o.email.as_deref(), o.eab.as_ref(), &key).await
    }
}

enum OrderDone {
    Issued,
    Stored,
}

impl OnDemand for Issuer {
    fn certificate(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        let held = self.inner.held.load();
        let found = held.get(host)?;
        found.valid_at(SystemTime::now()).then(|| found.key.clone())
    }

    fn challenge(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        locked(&self.inner.challenges).get(host).cloned()
    }

    fn obtain(&self, host: &str) -> Obtaining {
        if self.certificate(host).is_some() {
            return Box::pin(std::future::ready(Ok(())));
        }
        if !(self.inner.routed)(host) {
            self.inner.outcomes.not_routed.inc();
            return Box::pin(std::future::ready(Err(ObtainError::NotRouted(host.to_owned()))));
        }
        Box::pin(self.start(host, false))
    }

    fn held(&self) -> Vec<(String, Arc<CertifiedKey>)> {
        self.inner.held.load().iter().map(|(host, held)| (host.to_string(), held.key.clone())).collect()
    }
}
