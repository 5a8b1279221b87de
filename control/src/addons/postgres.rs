//! PostgreSQL add-ons on shared servers: a role and a database per add-on.
//!
//! Provisioning, as the server's admin: a `LOGIN` role (no other attribute) with a random
//! 256-bit password, sent as a SCRAM verifier made here (the clear password never reaches
//! the server, nor its logs), `CONNECTION LIMIT` and the plan's `statement_timeout`,
//! `idle_in_transaction_session_timeout` and `work_mem` set on the role; a database owned
//! by it; `REVOKE ALL ON DATABASE ... FROM PUBLIC` so no other role may connect to it; and
//! in it `REVOKE ALL ON SCHEMA public FROM PUBLIC` so no other role may create in it.
//!
//! Deprovisioning: the role loses `LOGIN`, its sessions and the database's are ended
//! (`pg_terminate_backend`), the database is dropped (`WITH (FORCE)`), then the role.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio_postgres::config::Host;
use tokio_postgres::{Client, NoTls};

use super::Kind;
use super::backup::Tools;
use super::naming;
use super::provider::{AddonError, BackupFile, Provider, Resource, Spec};
use crate::config::addons::{Addons as AddonsConfig, Isolation, PostgresAddons, PostgresPlan};

/// One shared server.
#[derive(Debug, Clone)]
struct Server {
    /// `host:port`.
    key: String,
    host: String,
    port: u16,
    admin: tokio_postgres::Config,
}

/// The provider of shared PostgreSQL add-ons.
#[derive(Debug)]
pub struct Shared {
    servers: Vec<Result<Server, String>>,
    plans: BTreeMap<String, PostgresPlan>,
    default_plan: String,
    instance: String,
    connect_timeout: Duration,
    tools: Tools,
}

impl Shared {
    /// The provider for `config`, naming what it makes with `instance`.
    pub fn new(config: &PostgresAddons, addons: &AddonsConfig, instance: &str) -> Shared {
        let servers = config.servers.iter().enumerate().map(|(i, url)| server(i, url)).collect();
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
            tools: Tools::new(config, addons),
        }
    }

    /// A provider for one server at `url` (a dedicated plan's).
    pub(crate) fn single(
        url: &str,
        plans: &BTreeMap<String, PostgresPlan>,
        instance: &str,
        connect_timeout: Duration,
        tools: Tools,
    ) -> Result<Shared, String> {
        Ok(Shared {
            servers: vec![Ok(server(0, url)?)],
            plans: plans.clone(),
            default_plan: String::new(),
            instance: instance.to_owned(),
            connect_timeout,
            tools,
        })
    }

    fn server(&self, key: &str) -> Result<&Server, AddonError> {
        self.servers
            .iter()
            .flatten()
            .find(|s| s.key == key)
            .ok_or_else(|| AddonError::UnknownServer { kind: Kind::Postgres, server: key.to_owned() })
    }

    /// A connection to `server` as its admin, to database `db` (the admin URL's when None).
    async fn connect(&self, server: &Server, db: Option<&str>) -> Result<Client, AddonError> {
        let mut config = server.admin.clone();
        config.connect_timeout(self.connect_timeout);
        if let Some(db) = db {
            config.dbname(db);
        }
        let connecting = tokio::time::timeout(self.connect_timeout, config.connect(NoTls));
        let (client, connection) = match connecting.await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Err(fail(server, "cannot connect", &e)),
            Err(_) => {
                return Err(AddonError::Server {
                    kind: Kind::Postgres,
                    server: server.key.clone(),
                    what: "cannot connect".into(),
                    problem: format!("no answer within {}", crate::clock::human(self.connect_timeout)),
                });
            }
        };
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    async fn create(&self, server: &Server, spec: Spec<'_>) -> Result<BTreeMap<String, String>, AddonError> {
        let plan = self.plans.get(spec.plan).ok_or_else(|| {
            AddonError::Unsupported(format!("postgres has no plan {:?} (addons.postgres.plans)", spec.plan))
        })?;
        let ident = naming::ident(&self.instance, &spec.resource.name);
        let password = naming::password().map_err(AddonError::Unsupported)?;
        let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
        let admin = self.connect(server, None).await?;
        let role = quote_ident(&ident);
        let exists = admin
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&ident])
            .await
            .map_err(|e| fail(server, "looking for the role", &e))?
            .is_some();
        // Identifiers are made here from [a-z0-9_]; the verifier is base64 and '$'/':'.
        let attributes = format!(
            "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT {} PASSWORD {}",
            plan.connection_limit,
            quote_literal(&verifier)
        );
        let verb = if exists { "ALTER" } else { "CREATE" };
        admin
            .batch_execute(&format!("{verb} ROLE {role} {attributes}"))
            .await
            .map_err(|e| fail(server, "creating the role", &e))?;
        let settings = [
            ("statement_timeout", format!("{}ms", plan.statement_timeout.as_millis())),
            (
                "idle_in_transaction_session_timeout",
                format!("{}ms", plan.idle_in_transaction_session_timeout.as_millis()),
            ),
            ("work_mem", plan.work_mem.clone()),
        ];
        for (setting, value) in settings {
            admin
                .batch_execute(&format!("ALTER ROLE {role} SET {setting} = {}", quote_literal(&value)))
                .await
                .map_err(|e| fail(server, &format!("setting {setting} of the role"), &e))?;
        }
        let db_exists = admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&ident])
            .await
            .map_err(|e| fail(server, "looking for the database", &e))?
            .is_some();
        if !db_exists {
            // The admin must be a member of the owner to give it the database.
            let grant = format!("GRANT {role} TO CURRENT_USER");
            admin
                .batch_execute(&grant)
                .await
                .map_err(|e| fail(server, "taking the role to create its database", &e))?;
            admin
                .batch_execute(&format!("CREATE DATABASE {role} OWNER {role}"))
                .await
                .map_err(|e| fail(server, "creating the database", &e))?;
        }
        admin
            .batch_execute(&format!(
                "REVOKE ALL ON DATABASE {role} FROM PUBLIC; GRANT CONNECT, TEMPORARY ON DATABASE {role} TO {role}"
            ))
            .await
            .map_err(|e| fail(server, "revoking access to the database from other roles", &e))?;
        drop(admin);
        let inside = self.connect(server, Some(&ident)).await?;
        inside
            .batch_execute(&format!(
                "REVOKE ALL ON SCHEMA public FROM PUBLIC; REVOKE CREATE ON SCHEMA public FROM PUBLIC; ALTER SCHEMA public OWNER TO {role}"
            ))
            .await
            .map_err(|e| fail(server, "revoking the public schema from other roles", &e))?;
        let url = format!("postgres://{ident}:{password}@{}:{}/{ident}", url_host(&server.host), server.port);
        Ok(BTreeMap::from([("url".to_owned(), url)]))
    }

    async fn remove(&self, server: &Server, name: &str) -> Result<(), AddonError> {
        let ident = naming::ident(&self.instance, name);
        let role = quote_ident(&ident);
        let admin = self.connect(server, None).await?;
        let role_exists = admin
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&ident])
            .await
            .map_err(|e| fail(server, "looking for the role", &e))?
            .is_some();
        if role_exists {
            admin
                .batch_execute(&format!("ALTER ROLE {role} NOLOGIN"))
                .await
                .map_err(|e| fail(server, "stopping the role's logins", &e))?;
        }
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE (datname = $1 OR usename = $1) AND pid <> pg_backend_pid()",
                &[&ident],
            )
            .await
            .map_err(|e| fail(server, "ending the add-on's connections", &e))?;
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {role} WITH (FORCE)"))
            .await
            .map_err(|e| fail(server, "dropping the database", &e))?;
        admin
            .batch_execute(&format!("DROP ROLE IF EXISTS {role}"))
            .await
            .map_err(|e| fail(server, "dropping the role", &e))?;
        Ok(())
    }
}

impl Provider for Shared {
    fn kind(&self) -> Kind {
        Kind::Postgres
    }

    fn servers(&self) -> Vec<String> {
        self.servers.iter().flatten().map(|s| s.key.clone()).collect()
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
            let ident = naming::ident(&self.instance, &resource.name);
            let admin = self.connect(server, None).await?;
            let row = admin
                .query_one(
                    "SELECT pg_size_pretty(pg_database_size($1::text::name)), (SELECT count(*) FROM pg_stat_activity WHERE usename = $1::text::name)",
                    &[&ident],
                )
                .await
                .map_err(|e| fail(server, "reading the database's size", &e))?;
            let size: String = row.get(0);
            let connections: i64 = row.get(1);
            Ok(BTreeMap::from([
                ("size".to_owned(), size),
                ("connections".to_owned(), connections.to_string()),
                ("database".to_owned(), ident),
            ]))
        }
        .boxed()
    }

    fn has_backups(&self) -> bool {
        true
    }

    fn backup<'a>(&'a self, backup: BackupFile<'a>) -> BoxFuture<'a, Result<(), AddonError>> {
        self.tools.dump(&backup.resource.server, backup.url, backup.file).boxed()
    }

    fn restore<'a>(&'a self, backup: BackupFile<'a>) -> BoxFuture<'a, Result<(), AddonError>> {
        self.tools.restore(&backup.resource.server, backup.url, backup.file).boxed()
    }

    fn made<'a>(&'a self, server: &'a str) -> BoxFuture<'a, Result<Vec<Resource>, AddonError>> {
        async move {
            let server = self.server(server)?;
            let admin = self.connect(server, None).await?;
            let pattern = format!("{}%", naming::ident_prefix(&self.instance).replace('_', "\\_"));
            let rows = admin
                .query(
                    "SELECT rolname::text FROM pg_roles WHERE rolname LIKE $1 UNION SELECT datname::text FROM pg_database WHERE datname LIKE $1",
                    &[&pattern],
                )
                .await
                .map_err(|e| fail(server, "listing roles and databases", &e))?;
            let mut made: Vec<Resource> = rows
                .iter()
                .filter_map(|row| naming::name_of(&self.instance, row.get(0)))
                .map(|name| Resource { name, server: server.key.clone() })
                .collect();
            made.sort();
            made.dedup();
            Ok(made)
        }
        .boxed()
    }
}

/// Parses server `i`'s admin URL (checked by the config's validation).
fn server(i: usize, url: &str) -> Result<Server, String> {
    let admin: tokio_postgres::Config = url.parse().map_err(|e| format!("addons.postgres.servers[{i}]: {e}"))?;
    let host = match admin.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        _ => return Err(format!("addons.postgres.servers[{i}]: a TCP host is needed")),
    };
    let port = admin.get_ports().first().copied().unwrap_or(5432);
    Ok(Server { key: format!("{}:{port}", url_host(&host)), host, port, admin })
}

/// `host` as it goes in a URL (IPv6 in brackets).
fn url_host(host: &str) -> String {
    if host.contains(':') { format!("[{host}]") } else { host.to_owned() }
}

fn fail(server: &Server, what: &str, e: &tokio_postgres::Error) -> AddonError {
    let problem = match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text = s.to_string();
                source = s.source();
            }
            text
        }
    };
    AddonError::Server { kind: Kind::Postgres, server: server.key.clone(), what: what.to_owned(), problem }
}

fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
