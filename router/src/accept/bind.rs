//! Opening the HTTP listener: one socket per worker on the same port (SO_REUSEPORT: the
//! kernel spreads new connections over them), and only when no other process listens
//! there.
//!
//! SO_REUSEPORT lets any process of the same user join a port and silently take a share
//! of its new connections: a second router started by mistake, or a leftover one still
//! running. Two checks refuse that, with an error naming the address:
//! 1. before binding, a probe bind without SO_REUSEPORT fails if anything listens on an
//!    overlapping address (`127.0.0.1:P` against `0.0.0.0:P`, and so on);
//! 2. after listening, every listening socket on the port with an overlapping address must
//!    be one of ours (Linux: `/proc/net/tcp{,6}`). That closes the window the probe
//!    leaves: two routers starting at the same moment both pass their probes before either
//!    listens, and then whichever checks second sees the other and refuses.
//!
//! Start-up only: nothing here runs per connection.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, Socket, Type};

/// Opens `count` listening sockets on `addr` sharing the port with SO_REUSEPORT, after
/// checking that no other process listens there (see the module docs).
pub(crate) fn bind_reuseport(addr: SocketAddr, count: usize) -> io::Result<Vec<std::net::TcpListener>> {
    if addr.port() != 0 {
        probe(addr)?;
    }
    let listeners = bind_group(addr, count)?;
    ensure_alone(&listeners)?;
    Ok(listeners)
}

/// A plain bind (SO_REUSEADDR only, for ports in TIME_WAIT), closed at once.
fn probe(addr: SocketAddr) -> io::Result<()> {
    let probe = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    probe.set_reuse_address(true)?;
    probe.bind(&addr.into()).and_then(|()| probe.listen(1)).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            io::Error::new(e.kind(), format!("{e}: another process listens there (is another router still running?)"))
        } else {
            e
        }
    })
}

/// The sockets themselves: SO_REUSEPORT, non-blocking, listening.
fn bind_group(addr: SocketAddr, count: usize) -> io::Result<Vec<std::net::TcpListener>> {
    let mut addr = addr;
    let mut listeners = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.set_tcp_nodelay(true)?;
        socket.bind(&addr.into())?;
        socket.listen(4096)?;
        let listener: std::net::TcpListener = socket.into();
        // With port 0, the first socket picks the port and the others join it.
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Fails when a listening socket that is not one of `ours` has an overlapping address on
/// their port: another process sharing it through SO_REUSEPORT. Without `/proc` (not
/// Linux, or not mounted) it cannot tell and lets the probe's answer stand.
fn ensure_alone(ours: &[std::net::TcpListener]) -> io::Result<()> {
    let Some(first) = ours.first() else { return Ok(()) };
    let addr = first.local_addr()?;
    let mine: HashSet<u64> = ours.iter().filter_map(socket_inode).collect();
    if mine.len() != ours.len() {
        return Ok(());
    }
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        let rival = listening(&text)
            .find(|(ip, port, inode)| *port == addr.port() && !mine.contains(inode) && overlaps(*ip, addr.ip()));
        if let Some((ip, port, _)) = rival {
            let problem = format!(
                "another process also listens on {} and would share its connections (SO_REUSEPORT): stop it or \
                 choose another port",
                SocketAddr::new(ip, port)
            );
            return Err(io::Error::new(io::ErrorKind::AddrInUse, problem));
        }
    }
    Ok(())
}

/// The inode of a socket, as `/proc/net/tcp` shows it.
fn socket_inode(listener: &std::net::TcpListener) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd())).ok()?;
    link.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

/// The listening sockets of a `/proc/net/tcp` or `tcp6` table: (address, port, inode).
fn listening(table: &str) -> impl Iterator<Item = (IpAddr, u16, u64)> + '_ {
    const LISTEN: &str = "0A";
    table.lines().skip(1).filter_map(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1)?;
        let state = fields.nth(1)?;
        let inode = fields.nth(5)?;
        if state != LISTEN {
            return None;
        }
        let (ip, port) = local.split_once(':')?;
        Some((proc_ip(ip)?, u16::from_str_radix(port, 16).ok()?, inode.parse().ok()?))
    })
}

/// An address as `/proc/net/tcp{,6}` prints it: 32-bit words in hex, each in the host's
/// byte order.
fn proc_ip(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| hex.get(i * 8..i * 8 + 8).and_then(|w| u32::from_str_radix(w, 16).ok()).map(u32::to_ne_bytes);
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?))),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(i)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

/// Whether connections to `b` could reach a socket bound to `a`: the same address, or
/// either one the wildcard of the same family (IPv4-mapped IPv6 counts as IPv4). Across
/// families it answers no: a `[::]` socket may or may not take IPv4 (IPV6_V6ONLY), and a
/// legitimate neighbour must not stop the start.
fn overlaps(a: IpAddr, b: IpAddr) -> bool {
    let (a, b) = (a.to_canonical(), b.to_canonical());
    a.is_ipv4() == b.is_ipv4() && (a == b || a.is_unspecified() || b.is_unspecified())
}

#[cfg(test)]
mod tests;
