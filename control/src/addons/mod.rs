//! Add-ons: a PostgreSQL database or a Redis per app, made on a server by a
//! [`Provider`], whose connection URLs become the app's config vars.
//!
//! The flow: the platform (`platform/addons.rs`) records an add-on as `provisioning`
//! with its name and its server (placement: the kind's server holding the fewest
//! add-ons), asks the kind's provider to make it, then marks it `ready` and makes a
//! release with its vars. Destroying goes the other way: `deprovisioning`, a release
//! without the vars, the provider removes everything, the record goes. Everything a
//! provider makes on a server is named after the add-on with this control plane's
//! instance id ([`naming`]), so a control plane that was killed midway finds what it
//! left on its next start and finishes or removes it.
//!
//! [`provider`] is the seam (one trait); [`postgres`] and [`redis`] implement it for
//! shared servers, [`dedicated`] for servers of one add-on's own. Another kind (e.g. OpenSearch: an index prefix and a role per app)
//! is one more implementation of [`Provider`] and a variant of [`Kind`].

pub mod backup;
pub mod dedicated;
pub mod managed;
pub mod naming;
pub mod postgres;
pub mod provider;
pub mod redis;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use provider::{AddonError, BackupFile, Provider, Resource};

use crate::config::Config;
use crate::runtime::local::ledger::Ledger;

/// The kinds of add-on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A PostgreSQL database.
    Postgres,
    /// A Redis key space.
    Redis,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 2] = [Kind::Postgres, Kind::Redis];

    /// The name in the API, the config and add-on names.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Postgres => "postgres",
            Kind::Redis => "redis",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The providers, two per kind (shared and dedicated plans), built from `[addons]`.
#[derive(Debug, Clone)]
pub struct Providers {
    /// Managed mode's own servers (stopped at shutdown).
    managed: Vec<Arc<dyn Provider>>,
    shared: BTreeMap<Kind, Arc<dyn Provider>>,
    dedicated: BTreeMap<Kind, Arc<dyn Provider>>,
    default_plans: BTreeMap<Kind, String>,
}

impl Providers {
    /// The providers of `config`, naming what they make with `instance` (see [`naming`]);
    /// dedicated servers live under `<data_dir>/addons/<kind>/` and are supervised with
    /// the runtime's `ledger` and restart backoff.
    /// In managed mode, its servers are started first (and waited for).
    pub async fn start(config: &Config, instance: &str, ledger: Ledger) -> Result<Providers, AddonError> {
        let supervisor = Arc::new(dedicated::supervisor::Supervisor::new(
            ledger,
            config.runtime.restart_backoff,
            config.runtime.restart_backoff_max,
        ));
        let mut addons = config.addons.clone();
        let mut managed = Vec::new();
        if addons.managed {
            let servers = managed::start(config, instance, supervisor.clone()).await?;
            addons.postgres.servers.push(servers.postgres);
            addons.redis.servers.push(servers.redis);
            managed = servers.providers;
        }
        let addons = &addons;
        let root = config.data_dir.join("addons");
        let mut shared: BTreeMap<Kind, Arc<dyn Provider>> = BTreeMap::new();
        shared.insert(Kind::Postgres, Arc::new(postgres::Shared::new(&addons.postgres, addons, instance)));
        shared.insert(Kind::Redis, Arc::new(redis::Shared::new(&addons.redis, addons, instance)));
        let mut dedicated: BTreeMap<Kind, Arc<dyn Provider>> = BTreeMap::new();
        dedicated.insert(
            Kind::Postgres,
            Arc::new(dedicated::postgres::Dedicated::new(
                &addons.postgres,
                root.join("postgres"),
                instance,
                supervisor.clone(),
                (addons.timeout, addons.connect_timeout),
                backup::Tools::new(&addons.postgres, addons),
            )),
        );
        dedicated.insert(
            Kind::Redis,
            Arc::new(dedicated::redis::Dedicated::new(
                &addons.redis,
                root.join("redis"),
                instance,
                supervisor,
                addons.timeout,
            )),
        );
        let default_plans = BTreeMap::from([
            (Kind::Postgres, addons.postgres.default_plan.clone()),
            (Kind::Redis, addons.redis.default_plan.clone()),
        ]);
        Ok(Providers { managed, shared, dedicated, default_plans })
    }

    /// The provider of `kind`'s plan `plan`; None if there is no such plan.
    pub fn get(&self, kind: Kind, plan: &str) -> Option<&Arc<dyn Provider>> {
        [self.shared.get(&kind), self.dedicated.get(&kind)].into_iter().flatten().find(|p| p.has_plan(plan))
    }

    /// The plan used when none is named.
    pub fn default_plan(&self, kind: Kind) -> &str {
        self.default_plans.get(&kind).map_or("", String::as_str)
    }

    /// Every provider.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Provider>> {
        self.shared.values().chain(self.dedicated.values())
    }

    /// Stops the servers the providers started (dedicated plans', managed mode's).
    pub async fn shutdown(&self) {
        for provider in self.all() {
            provider.shutdown().await;
        }
        for provider in &self.managed {
            provider.shutdown().await;
        }
    }
}
