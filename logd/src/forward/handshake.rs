//! The forward protocol's handshake (spec v1, "Handshake Messages"), used when a shared key
//! is configured:
//!
//! 1. server → `["HELO", {"nonce": bin, "auth": bin or "", "keepalive": true}]`
//! 2. client → `["PING", hostname, shared_key_salt, sha512_hex(shared_key_salt + hostname +
//!    nonce + shared_key), username, sha512_hex(auth_salt + username + password)]`
//! 3. server → `["PONG", true, "", server_hostname, sha512_hex(shared_key_salt +
//!    server_hostname + nonce + shared_key)]`, or `["PONG", false, reason, "", ""]` and the
//!    connection is closed.
//!
//! `auth` is empty unless users are configured; then username and password are checked.
//!
//! This is the server's side; the client's (the PING) is in `forward::client`, with the
//! digest and random helpers here shared by both.

use sha2::{Digest, Sha512};

use crate::config;
use crate::msgpack::Reader;
use slipway_config::secret::constant_time_eq;

/// The server's side of the handshake.
#[derive(Clone)]
pub struct Security {
    shared_key: String,
    hostname: String,
    users: Vec<config::User>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security").field("hostname", &self.hostname).field("users", &self.users.len()).finish()
    }
}

/// The random values of one connection's handshake.
#[derive(Debug)]
pub struct Session {
    nonce: [u8; 16],
    auth_salt: Option<[u8; 16]>,
}

/// A refused PING: the reason (also sent in PONG) and the PONG to send before closing.
#[derive(Debug)]
pub struct Refused {
    /// Why.
    pub reason: &'static str,
    /// The metric label for why: `invalid_ping`, `shared_key` or `user`.
    pub label: &'static str,
    /// The client's hostname, when it got that far.
    pub client: String,
    /// `["PONG", false, reason, "", ""]`.
    pub pong: Vec<u8>,
}

/// An accepted PING.
#[derive(Debug)]
pub struct Accepted {
    /// The client's hostname.
    pub client: String,
    /// The authenticated user, when users are configured.
    pub username: Option<String>,
    /// The PONG to send.
    pub pong: Vec<u8>,
}

/// Sixteen random bytes (nonces and salts; the client's too).
pub(super) fn random16() -> [u8; 16] {
    let mut b = [0u8; 16];
    // The OS random source failing is not recoverable in any useful way; fall back to
    // time-seeded bytes rather than panicking a connection task.
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        b.copy_from_slice(&t.as_nanos().to_le_bytes());
    }
    b
}

/// The lower-case hex SHA-512 of `parts` concatenated (both sides' digests).
pub(super) fn sha512_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha512::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl Security {
    /// The handshake settings of a config, if it has a shared key.
    pub fn new(config: &config::Forward) -> Option<Security> {
        let shared_key = config.shared_key.clone()?;
        let hostname = if config.hostname.is_empty() { system_hostname() } else { config.hostname.clone() };
        Some(Security { shared_key, hostname, users: config.users.clone() })
    }

    /// Starts a handshake: the session values and the HELO message.
    pub fn helo(&self) -> (Session, Vec<u8>) {
        let session = Session { nonce: random16(), auth_salt: (!self.users.is_empty()).then(random16) };
        let mut out = Vec::with_capacity(64);
        let _ = rmp::encode::write_array_len(&mut out, 2);
        let _ = rmp::encode::write_str(&mut out, "HELO");
        let _ = rmp::encode::write_map_len(&mut out, 3);
        let _ = rmp::encode::write_str(&mut out, "nonce");
        let _ = rmp::encode::write_bin(&mut out, &session.nonce);
        let _ = rmp::encode::write_str(&mut out, "auth");
        match &session.auth_salt {
            Some(salt) => {
                let _ = rmp::encode::write_bin(&mut out, salt);
            }
            None => {
                let _ = rmp::encode::write_str(&mut out, "");
            }
        }
        let _ = rmp::encode::write_str(&mut out, "keepalive");
        let _ = rmp::encode::write_bool(&mut out, true);
        (session, out)
    }

    /// Checks a PING frame.
    pub fn check_ping(&self, session: &Session, frame: &[u8]) -> Result<Accepted, Refused> {
        let refuse = |reason: &'static str, label: &'static str, client: &str| Refused {
            reason,
            label,
            client: client.to_owned(),
            pong: pong(false, reason, "", ""),
        };
        let mut r = Reader::new(frame);
        let fields = (|| {
            if r.array_len().ok()? != 6 || r.bytes().ok()? != b"PING" {
                return None;
            }
            let hostname = r.bytes().ok()?;
            let salt = r.bytes().ok()?;
            let digest = r.bytes().ok()?;
            let username = r.bytes().ok()?;
            let password_digest = r.bytes().ok()?;
            Some((hostname, salt, digest, username, password_digest))
        })();
        let Some((hostname, salt, digest, username, password_digest)) = fields else {
            return Err(refuse("invalid ping message", "invalid_ping", ""));
        };
        let client = String::from_utf8_lossy(hostname).into_owned();
        let expected = sha512_hex(&[salt, hostname, &session.nonce, self.shared_key.as_bytes()]);
        if !constant_time_eq(digest, expected.as_bytes()) {
            return Err(refuse("shared_key mismatch", "shared_key", &client));
        }
        let mut user = None;
        if let Some(auth_salt) = &session.auth_salt {
            let ok = self.users.iter().any(|u| {
                u.username.as_bytes() == username
                    && constant_time_eq(
                        password_digest,
                        sha512_hex(&[auth_salt, username, u.password.as_bytes()]).as_bytes(),
                    )
            });
            if !ok {
                return Err(refuse("username/password mismatch", "user", &client));
            }
            user = Some(String::from_utf8_lossy(username).into_owned());
        }
        let digest = sha512_hex(&[salt, self.hostname.as_bytes(), &session.nonce, self.shared_key.as_bytes()]);
        Ok(Accepted { client, username: user, pong: pong(true, "", &self.hostname, &digest) })
    }
}

fn pong(ok: bool, reason: &str, hostname: &str, digest: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(200);
    let _ = rmp::encode::write_array_len(&mut out, 5);
    let _ = rmp::encode::write_str(&mut out, "PONG");
    let _ = rmp::encode::write_bool(&mut out, ok);
    let _ = rmp::encode::write_str(&mut out, reason);
    let _ = rmp::encode::write_str(&mut out, hostname);
    let _ = rmp::encode::write_str(&mut out, digest);
    out
}

/// The machine's host name (`/etc/hostname`, `$HOSTNAME`), or `slipway-logd`.
fn system_hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "slipway-logd".to_owned())
}
