//! Real servers on free loopback ports, from Debian's packages: PostgreSQL
//! (`postgresql`, run as the `postgres` user when the tests run as root, since `initdb`
//! and `postgres` refuse root), Redis (`redis-server`) and the ACME test CA `pebble` (with
//! [`ChallengeServer`], the TLS-ALPN-01 listener it validates against). Each is a
//! throw-away instance in a temporary directory, stopped when dropped (also when a test
//! panics). `kube` is a stand-in Kubernetes API server of our own (none can be installed
//! here).

pub mod challenges;
pub mod kube;
pub mod pebble;
pub mod postgres;
pub mod redis;

pub use challenges::ChallengeServer;
pub use kube::{KubeApi, KubeKind};
pub use pebble::{Pebble, PebbleOptions};
pub use postgres::Postgres;
pub use redis::Redis;

/// A loopback port free right now (the server that takes it may still lose a race: the
/// helpers retry with another).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// 16 random bytes, hex: passwords of the test servers' admins.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
