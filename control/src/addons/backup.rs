//! Backups of PostgreSQL add-ons, one implementation for the shared and the dedicated
//! plans: `pg_dump --format=custom` into a file, and `pg_restore` from one.
//!
//! Both connect with the add-on's own URL (its `DATABASE_URL`: its role, its database),
//! never the server's admin. So a backup holds only what the app's role can read, and a
//! restore can only do what the app's role may: it cannot reach another database (the
//! role may connect to its own only) nor make objects owned by another role
//! (`--no-owner`: everything restored belongs to the role connecting; `--no-privileges`:
//! no GRANT from the file, so a dump taken elsewhere cannot open the database to another
//! role). `--clean --if-exists` drops what the file recreates first, and
//! `--single-transaction` makes the restore all or nothing.
//!
//! The password goes in `PGPASSWORD` (never on the command line, where `ps` shows it);
//! each run is bounded by `addons.backup_timeout` (the program is killed past it); a
//! failure carries the last lines the program wrote on stderr.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio_postgres::config::Host;

use super::Kind;
use super::provider::AddonError;
use crate::config::addons::{Addons as AddonsConfig, PostgresAddons};

/// Most of a program's stderr kept for its error (the end of it).
const STDERR_TAIL: usize = 2048;

/// Where `pg_dump` and `pg_restore` are, and how long they may run.
#[derive(Debug, Clone)]
pub struct Tools {
    bin_dir: PathBuf,
    timeout: Duration,
    connect_timeout: Duration,
}

impl Tools {
    /// The tools of `[addons.postgres] bin_dir`, bounded by `addons.backup_timeout`.
    pub fn new(postgres: &PostgresAddons, addons: &AddonsConfig) -> Tools {
        Tools {
            bin_dir: postgres.bin_dir.clone(),
            timeout: addons.backup_timeout,
            connect_timeout: addons.connect_timeout,
        }
    }

    /// Writes a custom-format dump of the database at `url` (the add-on's own) to `file`.
    pub async fn dump(&self, server: &str, url: &str, file: &Path) -> Result<(), AddonError> {
        let target = Target::parse(server, url)?;
        let mut command = self.command(server, "pg_dump", &target)?;
        command.args(["--format=custom", "--no-owner", "--no-privileges", "--file"]).arg(file);
        self.run(server, "pg_dump", command).await
    }

    /// Restores `file` into the database at `url` (the add-on's own), in one transaction.
    pub async fn restore(&self, server: &str, url: &str, file: &Path) -> Result<(), AddonError> {
        let target = Target::parse(server, url)?;
        let mut command = self.command(server, "pg_restore", &target)?;
        command.args(["--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction"]).arg(file);
        self.run(server, "pg_restore", command).await
    }

    /// `program` connecting to `target`, the password in the environment.
    fn command(&self, server: &str, program: &str, target: &Target) -> Result<tokio::process::Command, AddonError> {
        let path = self.bin_dir.join(program);
        if !path.is_file() {
            return Err(fail(
                server,
                program,
                format!(
                    "{} is not installed (Debian: apt-get install postgresql-client; or set addons.postgres.bin_dir)",
                    path.display()
                ),
            ));
        }
        let mut command = tokio::process::Command::new(path);
        command
            .args(["--host", &target.host, "--port", &target.port.to_string()])
            .args(["--username", &target.user, "--dbname", &target.db, "--no-password"])
            .env("PGPASSWORD", &target.password)
            .env("PGCONNECT_TIMEOUT", self.connect_timeout.as_secs().max(1).to_string())
            // Nothing from the control plane's own environment picks another server,
            // user or service file.
            .env_remove("PGSERVICE")
            .env_remove("PGSERVICEFILE")
            .env_remove("PGPASSFILE")
            .env_remove("PGOPTIONS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        Ok(command)
    }

    /// Runs `command` within the timeout; its failure with its stderr's last lines.
    async fn run(&self, server: &str, program: &str, mut command: tokio::process::Command) -> Result<(), AddonError> {
        let mut child = command.spawn().map_err(|e| fail(server, program, format!("cannot start it: {e}")))?;
        let stderr = child.stderr.take();
        let tail = tokio::spawn(async move {
            let Some(mut stderr) = stderr else { return Vec::new() };
            let mut kept: Vec<u8> = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * STDERR_TAIL {
                    kept.drain(..kept.len() - STDERR_TAIL);
                }
            }
            kept
        });
        let status = match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => return Err(fail(server, program, format!("waiting for it: {e}"))),
            Err(_) => {
                let _ = child.kill().await;
                return Err(fail(
                    server,
                    program,
                    format!("not done within {} (addons.backup_timeout): stopped", crate::clock::human(self.timeout)),
                ));
            }
        };
        if status.success() {
            return Ok(());
        }
        let stderr = tail.await.unwrap_or_default();
        Err(fail(server, program, format!("{status}: {}", last_lines(&stderr, 3))))
    }
}

/// Where and as whom to connect, from the add-on's URL.
struct Target {
    host: String,
    port: u16,
    user: String,
    password: String,
    db: String,
}

impl Target {
    fn parse(server: &str, url: &str) -> Result<Target, AddonError> {
        // The URL is one the provider made; a bad one is reported without its password.
        let bad = |what: &str| fail(server, "reading the add-on's URL", what.to_owned());
        let config: tokio_postgres::Config = url.parse().map_err(|_| bad("it does not parse"))?;
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            _ => return Err(bad("it has no TCP host")),
        };
        let password = config.get_password().map(|p| String::from_utf8_lossy(p).into_owned());
        Ok(Target {
            host,
            port: config.get_ports().first().copied().unwrap_or(5432),
            user: config.get_user().ok_or_else(|| bad("it names no user"))?.to_owned(),
            password: password.ok_or_else(|| bad("it has no password"))?,
            db: config.get_dbname().ok_or_else(|| bad("it names no database"))?.to_owned(),
        })
    }
}

/// The last `n` non-empty lines of `text`, joined with "; " (or "no output").
fn last_lines(text: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(text);
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        return "no output".to_owned();
    }
    lines[lines.len().saturating_sub(n)..].join("; ")
}

fn fail(server: &str, what: &str, problem: String) -> AddonError {
    AddonError::Server { kind: Kind::Postgres, server: server.to_owned(), what: what.to_owned(), problem }
}

#[cfg(test)]
mod tests;
