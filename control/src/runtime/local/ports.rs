//! Port allocation: a free loopback port for each dyno's `PORT`, never one already handed
//! to another dyno that has not exited yet.

use std::collections::HashSet;
use std::sync::Mutex;

/// The ports handed to dynos that have not exited yet.
#[derive(Debug, Default)]
pub(super) struct Ports {
    taken: Mutex<HashSet<u16>>,
}

impl Ports {
    /// A free loopback port not handed to another live dyno.
    pub(super) fn alloc(&self) -> Option<u16> {
        for _ in 0..32 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).ok()?.port();
            let mut ports = self.taken.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if ports.insert(port) {
                return Some(port);
            }
        }
        None
    }

    /// Hands `port` back (its dyno's process exited).
    pub(super) fn free(&self, port: u16) {
        self.taken.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&port);
    }
}
