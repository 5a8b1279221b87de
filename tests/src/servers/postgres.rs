//! A throw-away PostgreSQL 15 server: `initdb` (password auth over TCP for every role,
//! the admin `postgres` with a random password) and `postgres` on a free loopback port,
//! with its socket in its own directory. Dropping it shuts it down fast (SIGINT).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::process::{Process, send_signal};

/// Where Debian's PostgreSQL 15 binaries are.
pub const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running server.
pub struct Postgres {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The `postgres` admin's password.
    pub password: String,
    process: Option<Process>,
    data: PathBuf,
    /// Declared last: removed after the server stopped.
    pub dir: tempfile::TempDir,
}

impl Postgres {
    /// Initialises and starts a server.
    pub async fn start() -> Postgres {
        Postgres::start_with(&[]).await
    }

    /// Initialises and starts a server with extra `-c name=value` settings.
    pub async fn start_with(settings: &[&str]) -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        let password = super::random_hex();
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, &password).unwrap();
        give_to_postgres(dir.path());
        let init = as_postgres(
            &Path::new(BIN).join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--pwfile",
                pwfile.to_str().unwrap(),
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        )
        .output()
        .await
        .unwrap();
        assert!(init.status.success(), "initdb failed: {}", String::from_utf8_lossy(&init.stderr));
        for _ in 0..5 {
            let port = super::free_port();
            let port_s = port.to_string();
            let mut args = vec![
                "-D",
                data.to_str().unwrap(),
                "-p",
                &port_s,
                "-k",
                dir.path().to_str().unwrap(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ];
            for s in settings {
                args.extend(["-c", s]);
            }
            let (program, args) = as_postgres_args(&Path::new(BIN).join("postgres"), &args);
            let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut process = Process::spawn(Path::new(&program), &arg_refs, &[]);
            match process.try_wait_for_line("ready to accept connections", Duration::from_secs(30)).await {
                Some(_) => return Postgres { port, password, process: Some(process), data, dir },
                None => {
                    // The port was taken meanwhile (or another failure): try another.
                    eprintln!("postgres did not start on {port}:\n{}", process.output.join("\n"));
                    drop(process);
                }
            }
        }
        panic!("postgres did not start");
    }

    /// The admin's URL.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres:{}@127.0.0.1:{}/postgres", self.password, self.port)
    }

    /// A connection as the admin to database `db`.
    pub async fn admin(&self, db: &str) -> tokio_postgres::Client {
        let url = format!("postgres://postgres:{}@127.0.0.1:{}/{db}", self.password, self.port);
        connect(&url).await.unwrap_or_else(|e| panic!("admin connection to {db}: {e}"))
    }

    /// Roles and databases named `like` (an SQL LIKE pattern), as seen on the server.
    pub async fn roles_and_databases(&self, like: &str) -> (Vec<String>, Vec<String>) {
        let admin = self.admin("postgres").await;
        let roles = admin.query("SELECT rolname::text FROM pg_roles WHERE rolname LIKE $1", &[&like]).await.unwrap();
        let dbs = admin.query("SELECT datname::text FROM pg_database WHERE datname LIKE $1", &[&like]).await.unwrap();
        (roles.iter().map(|r| r.get(0)).collect(), dbs.iter().map(|r| r.get(0)).collect())
    }

    /// Stops the server now (fast shutdown), e.g. to see what a server that is down does.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            if let Some(pid) = std::fs::read_to_string(self.data.join("postmaster.pid"))
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u32>().ok()))
            {
                let _ = send_signal(pid, 2);
            }
            process.stop_all(Duration::from_secs(10));
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Connects with `url` (no TLS); the connection runs in a task.
pub async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The message of a PostgreSQL error (the server's, or the client's).
pub fn message(e: &tokio_postgres::Error) -> String {
    e.as_db_error().map(|d| d.message().to_owned()).unwrap_or_else(|| e.to_string())
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Makes `dir` the `postgres` user's (when root), so the server may write in it.
fn give_to_postgres(dir: &Path) {
    if !is_root() {
        return;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let (uid, gid) = passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&"postgres")).then(|| (f[2].parse::<u32>().unwrap(), f[3].parse::<u32>().unwrap()))
        })
        .expect("a postgres user (apt-get install postgresql)");
    for entry in walk(dir) {
        std::os::unix::fs::chown(&entry, Some(uid), Some(gid)).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            out.extend(walk(&e.path()));
        }
    }
    out
}

fn as_postgres_args(program: &Path, args: &[&str]) -> (String, Vec<String>) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    if is_root() {
        let mut all = vec!["-u".to_owned(), "postgres".to_owned(), "--".to_owned(), program.display().to_string()];
        all.extend(args);
        ("runuser".to_owned(), all)
    } else {
        (program.display().to_string(), args)
    }
}

fn as_postgres(program: &Path, args: &[&str]) -> tokio::process::Command {
    let (program, args) = as_postgres_args(program, args);
    let mut command = tokio::process::Command::new(program);
    command.args(args).kill_on_drop(true);
    command
}
