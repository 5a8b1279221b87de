//! A throw-away Redis 7 server: `redis-server` on a free loopback port, no persistence,
//! the `default` user protected by a random password (as a shared add-on server must be).

use std::path::Path;
use std::time::Duration;

use crate::process::Process;

/// A running server.
pub struct Redis {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The `default` user's password.
    pub password: String,
    process: Option<Process>,
    /// Declared last: removed after the server stopped.
    pub dir: tempfile::TempDir,
}

impl Redis {
    /// Starts a server.
    pub async fn start() -> Redis {
        let dir = tempfile::tempdir().unwrap();
        let password = super::random_hex();
        for _ in 0..5 {
            let port = super::free_port();
            let port_s = port.to_string();
            let args = [
                "--port",
                &port_s,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                // So that what refuses DEBUG in the tests is the add-on's ACL.
                "--enable-debug-command",
                "yes",
                "--requirepass",
                &password,
                "--dir",
                dir.path().to_str().unwrap(),
            ];
            let mut process = Process::spawn(Path::new("redis-server"), &args, &[]);
            match process.try_wait_for_line("Ready to accept connections", Duration::from_secs(30)).await {
                Some(_) => return Redis { port, password, process: Some(process), dir },
                None => {
                    eprintln!("redis-server did not start on {port}:\n{}", process.output.join("\n"));
                    drop(process);
                }
            }
        }
        panic!("redis-server did not start");
    }

    /// The admin's (the `default` user's) URL.
    pub fn admin_url(&self) -> String {
        format!("redis://:{}@127.0.0.1:{}", self.password, self.port)
    }

    /// A connection as the admin.
    pub async fn admin(&self) -> ::redis::aio::MultiplexedConnection {
        connect(&self.admin_url()).await.unwrap()
    }

    /// The ACL users, as the server lists them.
    pub async fn users(&self) -> Vec<String> {
        ::redis::cmd("ACL").arg("USERS").query_async(&mut self.admin().await).await.unwrap()
    }

    /// Every key on the server.
    pub async fn keys(&self) -> Vec<String> {
        ::redis::cmd("KEYS").arg("*").query_async(&mut self.admin().await).await.unwrap()
    }

    /// Stops the server now.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop_all(Duration::from_secs(10));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A connection with `url`.
pub async fn connect(url: &str) -> ::redis::RedisResult<::redis::aio::MultiplexedConnection> {
    ::redis::Client::open(url)?.get_multiplexed_async_connection().await
}
