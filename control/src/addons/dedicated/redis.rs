//! Dedicated Redis: `redis-server` for one add-on, with the plan's `maxmemory` and
//! `maxmemory-policy`, append-only persistence in its directory, the admin (`default`)
//! protected by a password, and the app's user given on the command line at every start
//! (so it survives restarts): every key and command but `-@admin` (so it may use SCAN,
//! KEYS, FLUSHDB on its own server, but not CONFIG SET its way past its memory limit).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use rustix::process::Signal;

use super::super::Kind;
use super::super::naming;
use super::super::provider::{AddonError, Provider, Resource, Spec};
use super::supervisor::Supervisor;
use super::{LOCAL, dir, io_error, kept, port, wait_ready};
use crate::config::addons::{Isolation, RedisAddons, RedisPlan};

/// The provider of dedicated Redis add-ons.
#[derive(Debug)]
pub struct Dedicated {
    root: PathBuf,
    program: PathBuf,
    plans: BTreeMap<String, RedisPlan>,
    instance: String,
    supervisor: Arc<Supervisor>,
    ready_timeout: Duration,
}

impl Dedicated {
    /// Dedicated Redis servers under `root`.
    pub(crate) fn new(
        config: &RedisAddons,
        root: PathBuf,
        instance: &str,
        supervisor: Arc<Supervisor>,
        ready_timeout: Duration,
    ) -> Dedicated {
        let plans = config
            .plans
            .iter()
            .filter(|(_, p)| p.isolation == Isolation::Dedicated)
            .map(|(n, p)| (n.clone(), p.clone()))
            .collect();
        Dedicated {
            root,
            program: config.server.clone(),
            plans,
            instance: instance.to_owned(),
            supervisor,
            ready_timeout,
        }
    }

    /// Starts (supervised) the server of add-on `name` on `plan`; its admin URL and the
    /// app's user and password.
    pub(crate) async fn run(
        &self,
        name: &str,
        plan: &RedisPlan,
        app_user: bool,
    ) -> Result<(u16, String, String, String), AddonError> {
        let dir = dir(&self.root, name);
        std::fs::create_dir_all(&dir).map_err(|e| io_error(Kind::Redis, "creating the data directory", e))?;
        let port = port(Kind::Redis, &dir)?;
        let admin = kept(Kind::Redis, &dir, "admin-password", naming::password)?;
        let app_password = kept(Kind::Redis, &dir, "app-password", naming::password)?;
        let user = naming::ident(&self.instance, name);
        let mut args: Vec<String> = vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "yes".into(),
            "--maxmemory".into(),
            plan.maxmemory.unwrap_or(64 * 1024 * 1024).to_string(),
            "--maxmemory-policy".into(),
            plan.maxmemory_policy.clone().unwrap_or_else(|| "noeviction".into()),
            "--logfile".into(),
            dir.join("server.log").display().to_string(),
        ];
        if app_user {
            args.extend(["--requirepass".into(), admin.clone()]);
            let rules = [user.as_str(), "on", &format!(">{app_password}"), "~*", "&*", "+@all", "-@admin"];
            args.push("--user".into());
            args.extend(rules.map(str::to_owned));
        } else {
            // A shared server (managed mode): the users that add-ons get are kept in an ACL
            // file (the provider saves it), which also defines the admin; without the
            // `default` line, loading it would leave `default` open without a password.
            let acl = dir.join("users.acl");
            if !acl.exists() {
                std::fs::write(&acl, format!("user default on >{admin} ~* &* +@all\n"))
                    .map_err(|e| io_error(Kind::Redis, "writing the ACL file", e))?;
            }
            args.extend(["--aclfile".into(), acl.display().to_string()]);
        }
        let program = self.program.clone();
        self.supervisor.start(
            name,
            Arc::new(move || {
                let mut command = tokio::process::Command::new(&program);
                command.args(&args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
                command
            }),
            Signal::TERM,
        );
        let url = format!("redis://:{admin}@127.0.0.1:{port}");
        let client =
            redis::Client::open(url.as_str()).map_err(|e| io_error(Kind::Redis, "reading the admin URL", e))?;
        wait_ready(Kind::Redis, self.ready_timeout, || {
            let client = client.clone();
            async move {
                let Ok(mut conn) = client.get_multiplexed_async_connection().await else { return false };
                redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok()
            }
        })
        .await?;
        Ok((port, url, user, app_password))
    }
}

impl Provider for Dedicated {
    fn kind(&self) -> Kind {
        Kind::Redis
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
                .ok_or_else(|| AddonError::Unsupported(format!("redis has no dedicated plan {:?}", spec.plan)))?;
            let (port, _, user, password) = self.run(&spec.resource.name, plan, true).await?;
            Ok(BTreeMap::from([
                ("url".to_owned(), format!("redis://{user}:{password}@127.0.0.1:{port}")),
                ("key_prefix".to_owned(), String::new()),
            ]))
        }
        .boxed()
    }

    fn deprovision<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, Result<(), AddonError>> {
        super::stop_and_remove(Kind::Redis, &self.supervisor, &self.root, &resource.name).boxed()
    }

    fn info<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, Result<BTreeMap<String, String>, AddonError>> {
        async move { Ok(super::info(&self.supervisor, &self.root, &resource.name)) }.boxed()
    }

    fn made<'a>(&'a self, _server: &'a str) -> BoxFuture<'a, Result<Vec<Resource>, AddonError>> {
        async move { Ok(super::made(&self.root)) }.boxed()
    }

    fn resume<'a>(&'a self, spec: Spec<'a>) -> BoxFuture<'a, Result<(), AddonError>> {
        async move {
            let plan = self.plans.get(spec.plan).ok_or_else(|| {
                AddonError::Unsupported(format!("redis has no dedicated plan {:?} any more", spec.plan))
            })?;
            self.run(&spec.resource.name, plan, true).await.map(drop)
        }
        .boxed()
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        async move { self.supervisor.stop_all().await }.boxed()
    }
}
