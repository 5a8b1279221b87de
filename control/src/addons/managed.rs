//! Managed mode (`addons.managed`, on in `slipway up` when Debian's packages are
//! installed): one PostgreSQL and one Redis that control starts itself, as dedicated
//! servers under `<data_dir>/addons/managed/`, and uses as shared servers. Their admin
//! passwords stay in their directories; they start again with the control plane.

use std::sync::Arc;

use super::dedicated::supervisor::Supervisor;
use super::dedicated::{postgres, redis};
use super::provider::{AddonError, Provider};
use crate::config::Config;
use crate::config::addons::{Isolation, PostgresPlan, RedisPlan};

/// The managed servers: their admin URLs, and the providers that stop them.
#[derive(Debug)]
pub struct Servers {
    /// PostgreSQL's admin URL.
    pub postgres: String,
    /// Redis's admin URL.
    pub redis: String,
    /// What started them.
    pub providers: Vec<Arc<dyn Provider>>,
}

/// Connections of all add-ons on the managed PostgreSQL together.
const PG_CONNECTIONS: u32 = 200;
/// Memory of all add-ons on the managed Redis together: 256 MiB.
const REDIS_MEMORY: u64 = 256 * 1024 * 1024;

/// Starts (or starts again) the managed servers and waits until they answer.
pub(crate) async fn start(config: &Config, instance: &str, supervisor: Arc<Supervisor>) -> Result<Servers, AddonError> {
    let root = config.data_dir.join("addons").join("managed");
    let addons = &config.addons;
    let pg = postgres::Dedicated::new(
        &addons.postgres,
        root.join("postgres"),
        instance,
        supervisor.clone(),
        (addons.timeout, addons.connect_timeout),
        super::backup::Tools::new(&addons.postgres, addons),
    );
    let pg_plan = PostgresPlan {
        isolation: Isolation::Dedicated,
        connection_limit: PG_CONNECTIONS,
        shared_buffers: Some("64MB".to_owned()),
        ..PostgresPlan::default()
    };
    let (_, _, postgres_url) = pg.run("postgres", &pg_plan).await?;
    let redis = redis::Dedicated::new(&addons.redis, root.join("redis"), instance, supervisor, addons.timeout);
    let redis_plan = RedisPlan {
        isolation: Isolation::Dedicated,
        maxmemory: Some(REDIS_MEMORY),
        maxmemory_policy: Some("noeviction".to_owned()),
    };
    let (_, redis_url, _, _) = redis.run("redis", &redis_plan, false).await?;
    tracing::info!(dir = %root.display(), "managed add-on servers are up");
    Ok(Servers { postgres: postgres_url, redis: redis_url, providers: vec![Arc::new(pg), Arc::new(redis)] })
}
