//! Opening listeners: the error every program reports when an address from its config
//! cannot be listened on, naming the config key (`config: key "listen.http": cannot listen
//! on 0.0.0.0:8080: Address already in use (os error 98)`).

use std::net::SocketAddr;

/// A listener at a configured address could not be opened.
#[derive(Debug)]
pub struct ListenError {
    /// The config key of the address.
    pub key: &'static str,
    /// The address.
    pub addr: SocketAddr,
    /// The OS error.
    pub source: std::io::Error,
}

impl ListenError {
    /// For `map_err`: the error of listening on `addr`, from config key `key`.
    pub fn at(key: &'static str, addr: SocketAddr) -> impl FnOnce(std::io::Error) -> ListenError {
        move |source| ListenError { key, addr, source }
    }
}

impl std::fmt::Display for ListenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "config: key \"{}\": cannot listen on {}: {}", self.key, self.addr, self.source)
    }
}

impl std::error::Error for ListenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Binds a listening TCP socket (non-blocking, for tokio) at `addr`.
pub fn bind(key: &'static str, addr: SocketAddr) -> Result<std::net::TcpListener, ListenError> {
    std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(ListenError::at(key, addr))
}
