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
//! shared servers. Another kind (e.g. OpenSearch: an index prefix and a role per app)
//! is one more implementation of [`Provider`] and a variant of [`Kind`].

pub mod naming;
pub mod postgres;
pub mod provider;
pub mod redis;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use provider::{AddonError, Provider, Resource};

use crate::config::Addons as AddonsConfig;

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

/// The providers, one per kind, built from `[addons]`.
#[derive(Debug, Clone)]
pub struct Providers {
    by_kind: BTreeMap<Kind, Arc<dyn Provider>>,
}

impl Providers {
    /// The providers of `config`, naming what they make with `instance` (see [`naming`]).
    pub fn new(config: &AddonsConfig, instance: &str) -> Providers {
        let mut by_kind: BTreeMap<Kind, Arc<dyn Provider>> = BTreeMap::new();
        by_kind.insert(Kind::Postgres, Arc::new(postgres::Shared::new(&config.postgres, config, instance)));
        by_kind.insert(Kind::Redis, Arc::new(redis::Shared::new(&config.redis, config, instance)));
        Providers { by_kind }
    }

    /// The provider of `kind`.
    pub fn get(&self, kind: Kind) -> Option<&Arc<dyn Provider>> {
        self.by_kind.get(&kind)
    }

    /// Every provider.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Provider>> {
        self.by_kind.values()
    }
}
