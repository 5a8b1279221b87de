//! `[addons]`: where PostgreSQL and Redis add-ons are placed, and their plans.
//!
//! A plan names its isolation and its limits. A `shared` plan puts the add-on on one of
//! the kind's `servers` (the one holding the fewest add-ons): its data is isolated (a role
//! and database of its own, or an ACL user limited to its key prefix) and, for
//! PostgreSQL, its use of the server is bounded per role. A `dedicated` plan starts a
//! server process for the add-on alone, with the plan's memory and connection limits.
//! Plans are checked at start, so
//! a bad one stops the control plane with one line naming the key.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use slipway_config::{ConfigError, de};

/// Add-ons.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Addons {
    /// Longest one provisioning or deprovisioning may take (each call to a server is
    /// also bounded by `connect_timeout`).
    #[serde(deserialize_with = "de::duration")]
    pub timeout: Duration,
    /// Longest a connection to an add-on server may take to open.
    #[serde(deserialize_with = "de::duration")]
    pub connect_timeout: Duration,
    /// Managed mode (what `slipway up` uses): control starts one PostgreSQL and one Redis
    /// itself in `<data_dir>/addons/managed/` (supervised like dedicated servers) and
    /// places shared add-ons there, besides any `servers`.
    pub managed: bool,
    /// Longest one backup (`pg_dump`) or restore (`pg_restore`) may take; then it is
    /// stopped and fails (a restore runs in one transaction: nothing of it is kept).
    #[serde(deserialize_with = "de::duration")]
    pub backup_timeout: Duration,
    /// How often the plans' backup schedules (`backup_every`) are checked for add-ons due
    /// a backup.
    #[serde(deserialize_with = "de::duration")]
    pub backup_check_interval: Duration,
    /// PostgreSQL add-ons.
    pub postgres: PostgresAddons,
    /// Redis add-ons.
    pub redis: RedisAddons,
}

/// How a plan isolates an add-on from the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// On a shared server: data isolated, resources bounded per add-on where the server can.
    Shared,
    /// On a server process of its own, started and supervised by the control plane in
    /// its data directory: its load and memory cannot reach other add-ons.
    Dedicated,
}

/// PostgreSQL add-ons.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresAddons {
    /// Admin URLs of the shared servers, e.g. "postgres://postgres:PASSWORD@10.0.0.5:5432/postgres"
    /// (a superuser, or a role with CREATEROLE and CREATEDB). Empty: no shared plan.
    pub servers: Vec<String>,
    /// The plan used when `addons create` names none.
    pub default_plan: String,
    /// The plans, by name.
    pub plans: BTreeMap<String, PostgresPlan>,
    /// Where `initdb` and `postgres` are, for dedicated plans, and `pg_dump` and
    /// `pg_restore`, for backups of every plan.
    pub bin_dir: PathBuf,
}

/// A PostgreSQL plan.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresPlan {
    /// "shared" or "dedicated".
    pub isolation: Isolation,
    /// Connections the add-on's role may hold at once (`CONNECTION LIMIT`).
    pub connection_limit: u32,
    /// Longest statement (`statement_timeout` of the role); 0: none.
    #[serde(deserialize_with = "de::duration")]
    pub statement_timeout: Duration,
    /// Longest a session may sit idle inside a transaction
    /// (`idle_in_transaction_session_timeout` of the role); 0: none.
    #[serde(deserialize_with = "de::duration")]
    pub idle_in_transaction_session_timeout: Duration,
    /// Memory per sort or hash operation (`work_mem` of the role), e.g. "4MB".
    pub work_mem: String,
    /// Dedicated plans only: the server's `shared_buffers`, e.g. "32MB" (its
    /// `max_connections` is `connection_limit` + 3).
    pub shared_buffers: Option<String>,
    /// How often the control plane backs the add-on up by itself (from the last
    /// scheduled backup's recorded time, or the add-on's creation), e.g. "24h"; "off": never.
    #[serde(deserialize_with = "de::duration_or_off")]
    pub backup_every: Option<Duration>,
    /// How many completed backups of an add-on are kept (scheduled and asked-for alike;
    /// failed ones are kept as many): past it the oldest go, files and records.
    pub backup_keep: u32,
}

/// Redis add-ons.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisAddons {
    /// Admin URLs of the shared servers, e.g. "redis://:PASSWORD@10.0.0.6:6379" (a user
    /// allowed ACL SETUSER/DELUSER, SCAN, UNLINK and CLIENT KILL). The server's `default`
    /// user must not be open without a password: add-ons on such a server are refused.
    pub servers: Vec<String>,
    /// The plan used when `addons create` names none.
    pub default_plan: String,
    /// The plans, by name.
    pub plans: BTreeMap<String, RedisPlan>,
    /// The `redis-server` program, for dedicated plans.
    pub server: PathBuf,
}

/// A Redis plan.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisPlan {
    /// "shared" or "dedicated".
    pub isolation: Isolation,
    /// Dedicated plans only (required there): the server's `maxmemory`, in bytes.
    pub maxmemory: Option<u64>,
    /// Dedicated plans only: what the server does at `maxmemory` (`maxmemory-policy`):
    /// "noeviction" (writes are refused) by default, or e.g. "allkeys-lru".
    pub maxmemory_policy: Option<String>,
}

impl Default for Addons {
    fn default() -> Self {
        Addons {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            managed: false,
            backup_timeout: Duration::from_secs(3600),
            backup_check_interval: Duration::from_secs(60),
            postgres: PostgresAddons::default(),
            redis: RedisAddons::default(),
        }
    }
}

impl Default for PostgresAddons {
    fn default() -> Self {
        PostgresAddons {
            servers: Vec::new(),
            default_plan: "shared".to_owned(),
            plans: BTreeMap::from([
                ("shared".to_owned(), PostgresPlan::default()),
                (
                    "dedicated".to_owned(),
                    PostgresPlan {
                        isolation: Isolation::Dedicated,
                        connection_limit: 50,
                        shared_buffers: Some("32MB".to_owned()),
                        ..PostgresPlan::default()
                    },
                ),
            ]),
            bin_dir: PathBuf::from("/usr/lib/postgresql/15/bin"),
        }
    }
}

impl Default for PostgresPlan {
    fn default() -> Self {
        PostgresPlan {
            isolation: Isolation::Shared,
            connection_limit: 20,
            statement_timeout: Duration::from_secs(30),
            idle_in_transaction_session_timeout: Duration::from_secs(60),
            work_mem: "4MB".to_owned(),
            shared_buffers: None,
            backup_every: Some(Duration::from_secs(24 * 3600)),
            backup_keep: 7,
        }
    }
}

impl Default for RedisAddons {
    fn default() -> Self {
        RedisAddons {
            servers: Vec::new(),
            default_plan: "shared".to_owned(),
            plans: BTreeMap::from([
                ("shared".to_owned(), RedisPlan::default()),
                (
                    "dedicated".to_owned(),
                    RedisPlan {
                        isolation: Isolation::Dedicated,
                        maxmemory: Some(64 * 1024 * 1024),
                        maxmemory_policy: Some("noeviction".to_owned()),
                    },
                ),
            ]),
            server: PathBuf::from("redis-server"),
        }
    }
}

impl Default for RedisPlan {
    fn default() -> Self {
        RedisPlan { isolation: Isolation::Shared, maxmemory: None, maxmemory_policy: None }
    }
}

impl Addons {
    /// Checks what serde cannot: URLs, plan names, limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.timeout < Duration::from_secs(1) {
            return Err(ConfigError::invalid("addons.timeout", "must be at least 1s"));
        }
        if self.connect_timeout.is_zero() || self.connect_timeout > self.timeout {
            return Err(ConfigError::invalid(
                "addons.connect_timeout",
                "must be greater than zero and at most addons.timeout",
            ));
        }
        if self.backup_timeout < Duration::from_secs(1) {
            return Err(ConfigError::invalid("addons.backup_timeout", "must be at least 1s"));
        }
        if self.backup_check_interval < Duration::from_secs(1) {
            return Err(ConfigError::invalid("addons.backup_check_interval", "must be at least 1s"));
        }
        let pg = &self.postgres;
        for (i, url) in pg.servers.iter().enumerate() {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
                || url.parse::<tokio_postgres::Config>().is_err()
            {
                return Err(ConfigError::invalid(
                    &format!("addons.postgres.servers[{i}]"),
                    "is not a URL like \"postgres://postgres:PASSWORD@127.0.0.1:5432/postgres\"",
                ));
            }
        }
        check_plans("postgres", &pg.default_plan, pg.plans.keys())?;
        for (name, plan) in &pg.plans {
            let key = |field: &str| format!("addons.postgres.plans.{name}.{field}");
            if plan.connection_limit == 0 {
                return Err(ConfigError::invalid(&key("connection_limit"), "must be at least 1"));
            }
            if let Some(buffers) = &plan.shared_buffers {
                if plan.isolation == Isolation::Shared {
                    return Err(ConfigError::invalid(
                        &key("shared_buffers"),
                        "only a dedicated plan has a server of its own",
                    ));
                }
                if !is_pg_memory(buffers) {
                    return Err(ConfigError::invalid(
                        &key("shared_buffers"),
                        format!("{buffers:?} is not a PostgreSQL size like \"32MB\" (kB, MB or GB)"),
                    ));
                }
            }
            if plan.backup_every.is_some_and(|every| every < Duration::from_secs(60)) {
                return Err(ConfigError::invalid(&key("backup_every"), "must be \"off\" or at least 1m"));
            }
            if plan.backup_keep == 0 || plan.backup_keep > 1000 {
                return Err(ConfigError::invalid(&key("backup_keep"), "must be from 1 to 1000"));
            }
            if !is_pg_memory(&plan.work_mem) {
                return Err(ConfigError::invalid(
                    &key("work_mem"),
                    format!("{:?} is not a PostgreSQL size like \"4MB\" (kB, MB or GB)", plan.work_mem),
                ));
            }
        }
        let redis = &self.redis;
        for (i, url) in redis.servers.iter().enumerate() {
            if !url.starts_with("redis://") || redis::Client::open(url.as_str()).is_err() {
                return Err(ConfigError::invalid(
                    &format!("addons.redis.servers[{i}]"),
                    "is not a URL like \"redis://:PASSWORD@127.0.0.1:6379\"",
                ));
            }
        }
        check_plans("redis", &redis.default_plan, redis.plans.keys())?;
        for (name, plan) in &redis.plans {
            let key = |field: &str| format!("addons.redis.plans.{name}.{field}");
            match plan.isolation {
                Isolation::Shared if plan.maxmemory.is_some() || plan.maxmemory_policy.is_some() => {
                    return Err(ConfigError::invalid(
                        &key("maxmemory"),
                        "only a dedicated plan has memory of its own (a shared server's memory is shared)",
                    ));
                }
                Isolation::Dedicated if plan.maxmemory.is_none_or(|m| m < 1024 * 1024) => {
                    return Err(ConfigError::invalid(
                        &key("maxmemory"),
                        "a dedicated plan needs at least 1048576 bytes",
                    ));
                }
                _ => {}
            }
            if let Some(policy) = &plan.maxmemory_policy
                && !REDIS_POLICIES.contains(&policy.as_str())
            {
                return Err(ConfigError::invalid(
                    &key("maxmemory_policy"),
                    format!("{policy:?} is not one of {}", REDIS_POLICIES.join(", ")),
                ));
            }
        }
        Ok(())
    }
}

fn check_plans<'a>(
    kind: &str,
    default_plan: &str,
    mut names: impl Iterator<Item = &'a String> + Clone,
) -> Result<(), ConfigError> {
    if let Some(bad) = names.clone().find(|n| !is_plan_name(n)) {
        return Err(ConfigError::invalid(
            &format!("addons.{kind}.plans.{bad}"),
            "a plan name is lower-case letters, digits and '-'",
        ));
    }
    if !names.any(|n| n == default_plan) {
        return Err(ConfigError::invalid(
            &format!("addons.{kind}.default_plan"),
            format!("{default_plan:?} is not one of addons.{kind}.plans"),
        ));
    }
    Ok(())
}

/// Redis's `maxmemory-policy` values.
const REDIS_POLICIES: [&str; 8] = [
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
];

/// A plan name: 1 to 32 of `a-z`, `0-9`, `-`.
pub fn is_plan_name(name: &str) -> bool {
    (1..=32).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// "4MB", "512kB", "1GB": what PostgreSQL's memory settings take.
fn is_pg_memory(text: &str) -> bool {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && digits <= 7 && matches!(&text[digits..], "kB" | "MB" | "GB")
}
