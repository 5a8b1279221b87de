//! The watch loop: four kube-rs watchers (Ingresses, IngressClasses, Services,
//! EndpointSlices), each feeding a reflector store, merged into one stream. An event only
//! marks the routes dirty; the first dirty event of a burst starts a timer of
//! `kubernetes.batch_delay`, and when it fires the stores are translated
//! (`translate.rs`) and the apps that changed go to the table writer as one
//! [`Change::Batch`]: one publish per burst, at most `batch_delay` after its first event,
//! however long the burst lasts.
//!
//! Nothing is published before every watcher has listed once (a table with Ingresses but
//! no endpoints yet would answer 503). Each watcher lists, then watches from the list's
//! resourceVersion with bookmarks; on an error it retries with backoff (100 ms doubling to
//! 5 s) from the last resourceVersion, and after `410 Gone` it lists again (kube-rs's
//! watcher). While the API server is unreachable the table keeps serving what it had;
//! every answer from it (an event, or the `/version` probe sent every `stale_after / 4`)
//! counts as contact, and `/readyz` reports the source stale after `stale_after` without.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::{BoxStream, SelectAll};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::utils::Backoff;
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::config::Kubernetes;
use crate::metrics::Metrics;
use crate::shared::SourceHealth;
use crate::sources::kubernetes::translate::{self, Objects, Rules};
use crate::spec::AppRoutes;
use crate::table::Source;
use crate::table::update::{Change, RouteWriter, UpdateError};

/// First wait before a failed watch is retried.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between retries of a failed watch.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Longest wait for the `/version` probe's answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The watched kinds: the `kind` label of the source's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ingress,
    IngressClass,
    Service,
    EndpointSlice,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Ingress, Kind::IngressClass, Kind::Service, Kind::EndpointSlice];

    fn as_str(self) -> &'static str {
        match self {
            Kind::Ingress => "ingress",
            Kind::IngressClass => "ingressclass",
            Kind::Service => "service",
            Kind::EndpointSlice => "endpointslice",
        }
    }
}

/// What one watcher said.
enum Seen {
    /// An object changed (or was listed).
    Change,
    /// A (re)list finished: the store holds the whole list.
    Listed,
    /// The watch failed; it is retried after a backoff.
    Error(watcher::Error),
}

/// The four reflector stores.
struct Stores {
    ingresses: Store<Ingress>,
    classes: Store<IngressClass>,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
}

impl Stores {
    fn objects(&self) -> Objects {
        Objects {
            ingresses: self.ingresses.state(),
            classes: self.classes.state(),
            services: self.services.state(),
            slices: self.slices.state(),
        }
    }
}

/// 100 ms doubling to 5 s; back to the start once a watch delivers again.
#[derive(Debug)]
struct RetryBackoff(Duration);

impl Iterator for RetryBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let wait = self.0;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        Some(wait)
    }
}

impl Backoff for RetryBackoff {
    fn reset(&mut self) {
        self.0 = MIN_BACKOFF;
    }
}

/// One kind's watcher, reflected into a new store, as a stream of [`Seen`].
fn watch<K>(api: Api<K>, kind: Kind) -> (Store<K>, BoxStream<'static, (Kind, Seen)>)
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (store, writer) = reflector::store::<K>();
    // Bookmarks are on by default; the initial list is paged (500 a page).
    let events = watcher(api, watcher::Config::default()).backoff(RetryBackoff(MIN_BACKOFF));
    let stream = reflector::reflector(writer, events).map(move |item| {
        let seen = match item {
            Ok(watcher::Event::InitDone) => Seen::Listed,
            Ok(_) => Seen::Change,
            Err(e) => Seen::Error(e),
        };
        (kind, seen)
    });
    (store, stream.boxed())
}

fn api<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

/// Runs the source until the writer closes.
pub(crate) async fn run(
    config: Kubernetes,
    client: kube::Client,
    writer: RouteWriter,
    metrics: Arc<Metrics>,
    health: Arc<SourceHealth>,
) {
    let namespace = config.namespace.as_deref();
    let (ingresses, a) = watch(api::<Ingress>(&client, namespace), Kind::Ingress);
    // IngressClasses are cluster-scoped.
    let (classes, b) = watch(Api::<IngressClass>::all(client.clone()), Kind::IngressClass);
    let (services, c) = watch(api::<Service>(&client, namespace), Kind::Service);
    let (slices, d) = watch(api::<EndpointSlice>(&client, namespace), Kind::EndpointSlice);
    let stores = Stores { ingresses, classes, services, slices };
    let mut events: SelectAll<BoxStream<'static, (Kind, Seen)>> = futures_util::stream::select_all([a, b, c, d]);
    let rules = Rules {
        ingress_class: config.ingress_class.clone(),
        legacy_annotation: config.legacy_annotation,
        app_mode: config.app_mode,
        serve_terminating: config.serve_terminating,
    };
    let mut listed = [false; 4];
    let mut sent: BTreeMap<String, AppRoutes> = BTreeMap::new();
    // When the current burst is published (None: nothing pending).
    let mut due: Option<Instant> = None;
    let mut probe = tokio::time::interval((config.stale_after / 4).max(Duration::from_millis(50)));
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let timer = async {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            item = events.next() => {
                let Some((kind, seen)) = item else { return };
                match seen {
                    Seen::Error(e) => {
                        metrics.kubernetes_watch_errors.with_label_values(&[kind.as_str()]).inc();
                        tracing::warn!(kind = kind.as_str(), error = %e, "kubernetes watch failed; retrying with backoff, the routes keep serving");
                        continue;
                    }
                    Seen::Listed => {
                        let index = Kind::ALL.iter().position(|k| *k == kind).unwrap_or_default();
                        listed[index] = true;
                    }
                    Seen::Change => {}
                }
                metrics.kubernetes_events.with_label_values(&[kind.as_str()]).inc();
                health.contact();
                if due.is_none() && listed.iter().all(|l| *l) {
                    due = Some(Instant::now() + config.batch_delay);
                }
            }
            () = timer => {
                due = None;
                if publish(&stores, &rules, &mut sent, &writer, &metrics).await.is_err() {
                    return;
                }
                health.set_synced();
            }
            _ = probe.tick() => {
                if let Ok(Ok(_)) = tokio::time::timeout(PROBE_TIMEOUT, client.apiserver_version()).await {
                    health.contact();
                }
            }
        }
    }
}

/// Translates the stores and sends what changed since `sent` as one batch. Err only when
/// the writer has stopped.
async fn publish(
    stores: &Stores,
    rules: &Rules,
    sent: &mut BTreeMap<String, AppRoutes>,
    writer: &RouteWriter,
    metrics: &Metrics,
) -> Result<(), UpdateError> {
    let apps = translate::apps(&stores.objects(), rules);
    let mut changes = Vec::new();
    for name in sent.keys().filter(|name| !apps.contains_key(*name)) {
        changes.push(Change::Remove(name.clone()));
    }
    for (name, app) in &apps {
        if sent.get(name) != Some(app) {
            changes.push(Change::Upsert(app.clone()));
        }
    }
    if changes.is_empty() {
        return Ok(());
    }
    let count = changes.len();
    metrics.kubernetes_table_updates.inc();
    match writer.apply(Source::Kubernetes, Change::Batch(changes)).await {
        Ok(version) => tracing::info!(apps = apps.len(), changed = count, version, "kubernetes routes applied"),
        Err(UpdateError::Closed) => return Err(UpdateError::Closed),
        // The others of the batch were applied; the refused one is retried when it changes.
        Err(e) => tracing::warn!(error = %e, changed = count, "kubernetes: a route change was refused"),
    }
    *sent = apps;
    Ok(())
}
