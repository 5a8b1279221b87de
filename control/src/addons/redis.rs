//! Redis add-ons on shared servers: an ACL user per add-on, limited to its key prefix.
//!
//! Provisioning, as the server's admin: `ACL SETUSER <user> reset on >PASSWORD` followed
//! by [`RULES`] with the prefix: keys `~<prefix>*` and channels `&<prefix>*` only, every
//! command but the admin and dangerous ones, and none of the commands that reach the
//! whole key space whatever the key pattern (they would list, wipe or switch away from
//! other add-ons' keys). The app gets `REDIS_URL` (its user and password) and
//! `REDIS_KEY_PREFIX`; apps that need SCAN or KEYS take a dedicated plan.
//!
//! Deprovisioning: the user is deleted (which closes its connections), its keys deleted (SCAN `MATCH <prefix>*`, UNLINK in batches of
//! [`BATCH`]), then the user deleted.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr};

use super::Kind;
use super::naming;
use super::provider::{AddonError, Provider, Resource, Spec};
use crate::config::addons::{Addons as AddonsConfig, Isolation, RedisAddons, RedisPlan};

/// The ACL rules of an add-on's user after `~<prefix>* &<prefix>*` (see the module docs;
/// the README shows the whole rule). EVAL and EVALSHA stay: scripts run under the
/// caller's ACL, so they cannot touch other keys (tested). FUNCTION and SCRIPT FLUSH
/// would change what every user shares, PUBSUB lists every channel, DBSIZE counts every
/// key.
pub const RULES: &[&str] = &[
    "+@all",
    "-@admin",
    "-@dangerous",
    "-flushall",
    "-flushdb",
    "-swapdb",
    "-select",
    "-config",
    "-debug",
    "-acl",
    "-shutdown",
    "-module",
    "-monitor",
    "-client|kill",
    "-keys",
    "-scan",
    "-randomkey",
    "-function",
    "-script|flush",
    "-pubsub",
    "-dbsize",
];

/// Keys deleted per UNLINK (and asked for per SCAN) when an add-on is removed.
pub const BATCH: usize = 500;

/// One shared server.
#[derive(Debug, Clone)]
struct Server {
    key: String,
    host: String,
    port: u16,
    client: redis::Client,
}

/// The provider of shared Redis add-ons.
#[derive(Debug)]
pub struct Shared {
    servers: Vec<Server>,
    plans: BTreeMap<String, RedisPlan>,
    default_plan: String,
    instance: String,
    connect_timeout: Duration,
}

impl Shared {
    /// The provider for `config`, naming what it makes with `instance`.
    pub fn new(config: &RedisAddons, addons: &AddonsConfig, instance: &str) -> Shared {
        let servers = config
            .servers
            .iter()
            .enumerate()
            .filter_map(|(i, url)| match server(url) {
                Ok(server) => Some(server),
                Err(e) => {
                    tracing::error!(key = %format!("addons.redis.servers[{i}]"), error = %e, "unusable server");
                    None
                }
            })
            .collect();
        Shared {
            servers,
            plans: config
                .plans
                .iter()
                .filter(|(_, p)| p.isolation == Isolation::Shared)
                .map(|(n, p)| (n.clone(), p.clone()))
                .collect(),
            default_plan: config.default_plan.clone(),
            instance: instance.to_owned(),
            connect_timeout: addons.connect_timeout,
        }
    }

    fn server(&self, key: &str) -> Result<&Server, AddonError> {
        self.servers
            .iter()
            .find(|s| s.key == key)
            .ok_or_else(|| AddonError::UnknownServer { kind: Kind::Redis, server: key.to_owned() })
    }

    async fn connect(&self, server: &Server) -> Result<MultiplexedConnection, AddonError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.connect_timeout));
        server
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| fail(server, "cannot connect", &e))
    }

    async fn create(&self, server: &Server, spec: Spec<'_>) -> Result<BTreeMap<String, String>, AddonError> {
        if !self.plans.contains_key(spec.plan) {
            return Err(AddonError::Unsupported(format!("redis has no plan {:?} (addons.redis.plans)", spec.plan)));
        }
        let user = naming::ident(&self.instance, &spec.resource.name);
        let prefix = format!("{user}:");
        let password = naming::password().map_err(AddonError::Unsupported)?;
        let mut conn = self.connect(server).await?;
        let users: Vec<String> = redis::cmd("ACL")
            .arg("LIST")
            .query_async(&mut conn)
            .await
            .map_err(|e| fail(server, "reading the ACL", &e))?;
        if users.iter().any(|u| open_default(u)) {
            return Err(AddonError::Server {
                kind: Kind::Redis,
                server: server.key.clone(),
                what: "refusing to place an add-on".into(),
                problem: "its `default` user is on without a password, so anyone can read every add-on's keys: set requirepass (or switch `default` off)".into(),
            });
        }
        let mut setuser = redis::cmd("ACL");
        setuser.arg("SETUSER").arg(&user).arg("reset").arg("on").arg(format!(">{password}"));
        setuser.arg(format!("~{prefix}*")).arg(format!("&{prefix}*"));
        for rule in RULES {
            setuser.arg(*rule);
        }
        let () = setuser.query_async(&mut conn).await.map_err(|e| fail(server, "creating the ACL user", &e))?;
        save_acl(server, &mut conn).await?;
        let url = format!("redis://{user}:{password}@{}:{}", url_host(&server.host), server.port);
        Ok(BTreeMap::from([("url".to_owned(), url), ("key_prefix".to_owned(), prefix)]))
    }

    async fn remove(&self, server: &Server, name: &str) -> Result<(), AddonError> {
        let user = naming::ident(&self.instance, name);
        let prefix = format!("{user}:");
        let mut conn = self.connect(server).await?;
        let deleted: i64 = redis::cmd("ACL")
            .arg("DELUSER")
            .arg(&user)
            .query_async(&mut conn)
            .await
            .map_err(|e| fail(server, "deleting the ACL user", &e))?;
        save_acl(server, &mut conn).await?;
        // Deleting the user also closes its connections (Redis does), so nothing writes
        // under the prefix while its keys go.
        tracing::debug!(user = %user, deleted, "ACL user deleted");
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(BATCH)
                .query_async(&mut conn)
                .await
                .map_err(|e| fail(server, "listing the add-on's keys", &e))?;
            if !keys.is_empty() {
                let _: i64 = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| fail(server, "deleting the add-on's keys", &e))?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

impl Provider for Shared {
    fn kind(&self) -> Kind {
        Kind::Redis
    }

    fn servers(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.key.clone()).collect()
    }

    fn has_plan(&self, plan: &str) -> bool {
        self.plans.contains_key(plan)
    }

    fn default_plan(&self) -> &str {
        &self.default_plan
    }

    fn provision<'a>(&'a self, spec: Spec<'a>) -> BoxFuture<'a, Result<BTreeMap<String, String>, AddonError>> {
        async move {
            let server = self.server(&spec.resource.server)?;
            self.create(server, spec).await
        }
        .boxed()
    }

    fn deprovision<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, Result<(), AddonError>> {
        async move { self.remove(self.server(&resource.server)?, &resource.name).await }.boxed()
    }

    fn info<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, Result<BTreeMap<String, String>, AddonError>> {
        async move {
            let server = self.server(&resource.server)?;
            let user = naming::ident(&self.instance, &resource.name);
            let mut conn = self.connect(server).await?;
            let clients: String = redis::cmd("CLIENT")
                .arg("LIST")
                .query_async(&mut conn)
                .await
                .map_err(|e| fail(server, "listing connections", &e))?;
            let needle = format!(" user={user} ");
            let connections = clients.lines().filter(|l| l.contains(&needle)).count();
            Ok(BTreeMap::from([
                ("connections".to_owned(), connections.to_string()),
                ("key prefix".to_owned(), format!("{user}:")),
            ]))
        }
        .boxed()
    }

    fn made<'a>(&'a self, server: &'a str) -> BoxFuture<'a, Result<Vec<Resource>, AddonError>> {
        async move {
            let server = self.server(server)?;
            let mut conn = self.connect(server).await?;
            let users: Vec<String> = redis::cmd("ACL")
                .arg("USERS")
                .query_async(&mut conn)
                .await
                .map_err(|e| fail(server, "listing ACL users", &e))?;
            Ok(users
                .iter()
                .filter_map(|u| naming::name_of(&self.instance, u))
                .map(|name| Resource { name, server: server.key.clone() })
                .collect())
        }
        .boxed()
    }
}

/// Writes the users to the server's ACL file, so they survive its restart, when it has
/// one (managed mode's server); a server without one answers that it has none.
async fn save_acl(server: &Server, conn: &mut MultiplexedConnection) -> Result<(), AddonError> {
    match redis::cmd("ACL").arg("SAVE").query_async::<()>(conn).await {
        Ok(()) => Ok(()),
        Err(e) if e.to_string().contains("not configured to use an ACL file") => Ok(()),
        Err(e) => Err(fail(server, "saving the ACL file", &e)),
    }
}

/// An `ACL LIST` line of a `default` user that is on without a password.
fn open_default(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    words.get(1) == Some(&"default") && words.contains(&"on") && words.contains(&"nopass")
}

fn server(url: &str) -> Result<Server, String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let (host, port) = match client.get_connection_info().addr() {
        ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
        _ => return Err("a redis:// URL with a TCP host is needed".into()),
    };
    Ok(Server { key: format!("{}:{port}", url_host(&host)), host, port, client })
}

fn url_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_owned() }
}

fn fail(server: &Server, what: &str, e: &redis::RedisError) -> AddonError {
    AddonError::Server { kind: Kind::Redis, server: server.key.clone(), what: what.to_owned(), problem: e.to_string() }
}
