//! A TCP relay in front of a server that a test can cut: for requests whose first line
//! starts with a given prefix (`GET /v1/routes`), [`Relay::cut`] closes the connections it
//! carries and holds new ones (accepted, their bytes unread upstream) until
//! [`Relay::open`]. Other connections pass untouched. The router following a control
//! plane through it loses its route stream while its activity reports still arrive.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The relay; see the module docs.
pub struct Relay {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

struct State {
    /// The prefix of the request lines being cut, if any.
    cut: watch::Sender<Option<String>>,
    /// Bumped by every `cut`, to close the matching connections open then.
    generation: watch::Sender<u64>,
    /// The first lines of the connections held now.
    held: watch::Sender<Vec<String>>,
    upstream: SocketAddr,
}

impl Relay {
    /// A relay on a free loopback port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            cut: watch::Sender::new(None),
            generation: watch::Sender::new(0),
            held: watch::Sender::new(Vec::new()),
            upstream,
        });
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(carry(shared.clone(), client));
            }
        });
        Relay { addr, state, task }
    }

    /// Closes the open connections whose request line starts with `prefix` and holds
    /// new ones until [`Relay::open`].
    pub fn cut(&self, prefix: &str) {
        self.state.cut.send_replace(Some(prefix.to_owned()));
        self.state.generation.send_modify(|g| *g += 1);
    }

    /// Lets held and new connections through again.
    pub fn open(&self) {
        self.state.cut.send_replace(None);
    }

    /// Waits until a connection is held (a client tried to come back while cut); its
    /// request line.
    pub async fn wait_held(&self) -> String {
        self.state.held.subscribe().wait_for(|h| !h.is_empty()).await.unwrap()[0].clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Carries one connection: reads its first line, holds it while cut, then copies both
/// ways until either side closes or a cut closes it.
async fn carry(state: Arc<State>, mut client: TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.contains(&b'\n') && head.len() < 8192 {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&head).lines().next().unwrap_or("").to_owned();
    let matches = |cut: &Option<String>| cut.as_deref().is_some_and(|p| line.starts_with(p));
    let mut cut = state.cut.subscribe();
    if matches(&cut.borrow()) {
        state.held.send_modify(|h| h.push(line.clone()));
        let _ = cut.wait_for(|c| !matches(c)).await;
        state.held.send_modify(|h| h.retain(|l| l != &line));
    }
    let Ok(mut server) = TcpStream::connect(state.upstream).await else { return };
    if server.write_all(&head).await.is_err() {
        return;
    }
    let mut generation = state.generation.subscribe();
    generation.borrow_and_update();
    let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
    tokio::pin!(copy);
    loop {
        tokio::select! {
            _ = &mut copy => return,
            changed = generation.changed() => {
                if changed.is_err() || matches(&state.cut.borrow()) {
                    // Dropping both sockets closes the connection on both sides.
                    return;
                }
            }
        }
    }
}
