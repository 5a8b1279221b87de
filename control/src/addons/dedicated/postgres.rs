//! Dedicated PostgreSQL: `initdb` then `postgres` for one add-on, on a free loopback
//! port, with `max_connections` = the plan's `connection_limit` + 3 and its
//! `shared_buffers`. The app still gets a role and database of its own on it, made as on
//! a shared server (never the server's superuser, which could run programs as the
//! server's user). `initdb` and `postgres` refuse to run as root: a control plane running
//! as root runs them as the `postgres` user (`runuser`), in a directory given to it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use rustix::process::Signal;

use super::super::Kind;
use super::super::backup::Tools;
use super::super::naming;
use super::super::postgres::Shared;
use super::super::provider::{AddonError, BackupFile, Provider, Resource, Spec};
use super::supervisor::Supervisor;
use super::{LOCAL, dir, io_error, kept, port, wait_ready};
use crate::config::addons::{Isolation, PostgresAddons, PostgresPlan};

/// The provider of dedicated PostgreSQL add-ons.
#[derive(Debug)]
pub struct Dedicated {
    root: PathBuf,
    bin_dir: PathBuf,
    plans: BTreeMap<String, PostgresPlan>,
    instance: String,
    supervisor: Arc<Supervisor>,
    ready_timeout: Duration,
    connect_timeout: Duration,
    tools: Tools,
}

impl Dedicated {
    /// Dedicated PostgreSQL servers under `root`.
    pub(crate) fn new(
        config: &PostgresAddons,
        root: PathBuf,
        instance: &str,
        supervisor: Arc<Supervisor>,
        (ready_timeout, connect_timeout): (Duration, Duration),
        tools: Tools,
    ) -> Dedicated {
        let plans = config
            .plans
            .iter()
            .filter(|(_, p)| p.isolation == Isolation::Dedicated)
            .map(|(n, p)| (n.clone(), p.clone()))
            .collect();
        Dedicated {
            root,
            bin_dir: config.bin_dir.clone(),
            plans,
            instance: instance.to_owned(),
            supervisor,
            ready_timeout,
            connect_timeout,
            tools,
        }
    }

    /// Initialises (once) and starts (supervised) add-on `name`'s server; a provider
    /// for it as a shared server of one.
    pub(crate) async fn run(&self, name: &str, plan: &PostgresPlan) -> Result<(Shared, String, String), AddonError> {
        let dir = dir(&self.root, name);
        let data = dir.join("data");
        std::fs::create_dir_all(&dir).map_err(|e| io_error(Kind::Postgres, "creating the data directory", e))?;
        let port = port(Kind::Postgres, &dir)?;
        let password = kept(Kind::Postgres, &dir, "admin-password", naming::password)?;
        let owner = owner().map_err(|e| io_error(Kind::Postgres, "finding the postgres user", e))?;
        if !data.join("PG_VERSION").exists() {
            let _ = std::fs::remove_dir_all(&data);
            give(&dir, owner).map_err(|e| io_error(Kind::Postgres, "giving the data directory to postgres", e))?;
            let pwfile = dir.join("admin-password");
            let out = as_owner(owner, &self.bin_dir.join("initdb"))
                .args([
                    "-D",
                    &data.display().to_string(),
                    "-U",
                    "postgres",
                    "--auth-local=peer",
                    "--auth-host=scram-sha-256",
                ])
                .args(["--pwfile", &pwfile.display().to_string(), "-E", "UTF8", "--no-instructions"])
                .stdout(std::process::Stdio::null())
                .output()
                .await
                .map_err(|e| io_error(Kind::Postgres, "running initdb", e))?;
            if !out.status.success() {
                let stderr = String::from_utf8_lossy(&out.stderr);
                return Err(io_error(Kind::Postgres, "running initdb", stderr.trim()));
            }
        }
        let max_connections = plan.connection_limit.saturating_add(3);
        let buffers = plan.shared_buffers.clone().unwrap_or_else(|| "32MB".to_owned());
        let (bin, data_s, dir_s) =
            (self.bin_dir.join("postgres"), data.display().to_string(), dir.display().to_string());
        self.supervisor.start(
            name,
            Arc::new(move || {
                let mut command = as_owner(owner, &bin);
                command
                    .args(["-D", &data_s, "-p", &port.to_string(), "-k", &dir_s])
                    .args(["-c", "listen_addresses=127.0.0.1", "-c", &format!("max_connections={max_connections}")])
                    .args(["-c", &format!("shared_buffers={buffers}"), "-c", "logging_collector=off"])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null());
                command
            }),
            // Fast shutdown: SIGTERM would wait for the app's sessions to end.
            Signal::INT,
        );
        let url = format!("postgres://postgres:{password}@127.0.0.1:{port}/postgres");
        let shared = Shared::single(&url, &self.plans, &self.instance, self.connect_timeout, self.tools.clone())
            .map_err(|e| io_error(Kind::Postgres, "reading the admin URL", e))?;
        let key = format!("127.0.0.1:{port}");
        let check: tokio_postgres::Config =
            url.parse().map_err(|e| io_error(Kind::Postgres, "reading the admin URL", e))?;
        wait_ready(Kind::Postgres, self.ready_timeout, || {
            let check = check.clone();
            async move { check.connect(tokio_postgres::NoTls).await.is_ok() }
        })
        .await?;
        Ok((shared, key, url))
    }
}

impl Provider for Dedicated {
    fn kind(&self) -> Kind {
        Kind::Postgres
    }

    fn servers(&self) -> Vec<String> {
        vec![LOCAL.to_owned()]
    }

    fn has_plan(&self, plan: &str) -> bool {
        self.plans.contains_key(plan)
    }

    fn default_plan(&self) -> &str {
        ""
    }

    fn provision<'a>(&'a self, spec: Spec<'a>) -> BoxFuture<'a, Result<BTreeMap<String, String>, AddonError>> {
        async move {
            let plan = self
                .plans
                .get(spec.plan)
                .ok_or_else(|| AddonError::Unsupported(format!("postgres has no dedicated plan {:?}", spec.plan)))?;
            let (shared, key, _) = self.run(&spec.resource.name, plan).await?;
            let on_it = Resource { name: spec.resource.name.clone(), server: key };
            shared.provision(Spec { resource: &on_it, plan: spec.plan }).await
        }
        .boxed()
    }

    fn deprovision<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, Result<(), AddonError>> {
        super::stop_and_remove(Kind::Postgres, &self.supervisor, &self.root, &resource.name).boxed()
    }

    fn info<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, Result<BTreeMap<String, String>, AddonError>> {
        async move { Ok(super::info(&self.supervisor, &self.root, &resource.name)) }.boxed()
    }

    fn has_backups(&self) -> bool {
        true
    }

    /// As on a shared server: the add-on's URL reaches its own server.
    fn backup<'a>(&'a self, backup: BackupFile<'a>) -> BoxFuture<'a, Result<(), AddonError>> {
        self.tools.dump(&backup.resource.server, backup.url, backup.file).boxed()
    }

    fn restore<'a>(&'a self, backup: BackupFile<'a>) -> BoxFuture<'a, Result<(), AddonError>> {
        self.tools.restore(&backup.resource.server, backup.url, backup.file).boxed()
    }

    fn made<'a>(&'a self, _server: &'a str) -> BoxFuture<'a, Result<Vec<Resource>, AddonError>> {
        async move { Ok(super::made(&self.root)) }.boxed()
    }

    fn resume<'a>(&'a self, spec: Spec<'a>) -> BoxFuture<'a, Result<(), AddonError>> {
        async move {
            let plan = self.plans.get(spec.plan).ok_or_else(|| {
                AddonError::Unsupported(format!("postgres has no dedicated plan {:?} any more", spec.plan))
            })?;
            self.run(&spec.resource.name, plan).await.map(drop)
        }
        .boxed()
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        async move { self.supervisor.stop_all().await }.boxed()
    }
}

/// The `postgres` user's uid and gid when the control plane runs as root; None otherwise.
fn owner() -> Result<Option<(u32, u32)>, String> {
    if !rustix::process::geteuid().is_root() {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| format!("reading /etc/passwd: {e}"))?;
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&"postgres")).then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
        })
        .map(Some)
        .ok_or_else(|| {
            "running as root, and there is no postgres user to run PostgreSQL as (apt-get install postgresql)"
                .to_owned()
        })
}

/// Gives `dir` and what is in it to `owner`.
fn give(dir: &Path, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    let Some((uid, gid)) = owner else { return Ok(()) };
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
    for entry in std::fs::read_dir(dir)? {
        std::os::unix::fs::chown(entry?.path(), Some(uid), Some(gid))?;
    }
    Ok(())
}

/// `program`, run as `owner` when there is one.
fn as_owner(owner: Option<(u32, u32)>, program: &Path) -> tokio::process::Command {
    match owner {
        Some(_) => {
            let mut command = tokio::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        }
        None => tokio::process::Command::new(program),
    }
}
