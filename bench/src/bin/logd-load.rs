//! Ingest load for logd: PackedForward frames of small records, as fast as the
//! connections take them, then one acked frame per connection to know everything was
//! kept. Prints one Markdown table row.
//!
//! `logd-load --addr 127.0.0.1:24224 --connections 4 --seconds 5` against logd, or
//! `logd-load --sink --connections 4 --seconds 5` against a TCP sink in this process
//! (reads and discards: the ceiling of the transport for the same client).
//! `logd-load --records 200000` sends a fixed number of records instead of sending for a
//! time (a fixed load, for counting instructions: `bench/logd-callgrind.sh`).
#![allow(clippy::print_stdout)] // a benchmark tool: its output is the Markdown table row

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Parser;
use slipway_logd::forward::client::{Entries, EventTime, Replies, ack_of, packed_forward};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Parser)]
struct Args {
    /// logd's forward address.
    #[arg(long, default_value = "127.0.0.1:24224")]
    addr: SocketAddr,
    /// Parallel connections.
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Seconds of sending (then the final acks).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Send this many records (rounded down to whole frames, at least one frame per
    /// connection; the last frame of each connection is the acked one) instead of
    /// sending for `--seconds`.
    #[arg(long)]
    records: Option<u64>,
    /// Records per PackedForward frame.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Send to an in-process TCP sink instead of logd.
    #[arg(long)]
    sink: bool,
    /// Label for the table row.
    #[arg(long, default_value = "logd")]
    label: String,
}

/// A PackedForward frame tagged `bench` of `n` small records `{app: "bench", dyno: "web.1",
/// log}` (about 60 bytes each).
fn frame(n: usize, chunk: Option<&str>) -> Vec<u8> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as u32;
    let mut entries = Entries::with_capacity(n * 80);
    for i in 0..n {
        let record = [("app", "bench"), ("dyno", "web.1"), ("log", "GET /api/items 200 1.2ms")];
        entries.push(EventTime::Event(now, i as u32), &record);
    }
    packed_forward("bench", &entries, chunk)
}

async fn sink(received: Arc<AtomicU64>) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let received = received.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 256 * 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    received.fetch_add(n as u64, Ordering::Relaxed);
                }
            });
        }
    });
    Ok(addr)
}

/// How long a connection sends: until a deadline, or a fixed number of frames (before the
/// final acked one).
#[derive(Debug, Clone, Copy)]
enum Until {
    Deadline(Instant),
    Frames(u64),
}

async fn run_connection(
    addr: SocketAddr,
    until: Until,
    batch: usize,
    id: usize,
    ack: bool,
) -> anyhow::Result<(u64, u64)> {
    let mut s = TcpStream::connect(addr).await.with_context(|| format!("connect {addr}"))?;
    s.set_nodelay(true)?;
    let body = frame(batch, None);
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut sent = 0u64;
    while match until {
        Until::Deadline(deadline) => Instant::now() < deadline,
        Until::Frames(frames) => sent < frames,
    } {
        s.write_all(&body).await?;
        sent += 1;
        records += batch as u64;
        bytes += body.len() as u64;
    }
    if ack {
        let chunk = format!("final-{id}");
        let last = frame(batch, Some(&chunk));
        s.write_all(&last).await?;
        records += batch as u64;
        let ack = tokio::time::timeout(Duration::from_secs(120), read_reply(&mut s)).await??;
        if ack_of(&ack) != Some(chunk.as_bytes()) {
            bail!("no ack for {chunk}");
        }
    }
    Ok((records, bytes))
}

/// The server's next message (the ack).
async fn read_reply(s: &mut TcpStream) -> anyhow::Result<Vec<u8>> {
    let mut replies = Replies::default();
    let mut buf = [0u8; 128];
    loop {
        if let Some(message) = replies.next_message()? {
            return Ok(message);
        }
        let n = s.read(&mut buf).await?;
        if n == 0 {
            bail!("logd closed the connection before the ack");
        }
        replies.push(&buf[..n]);
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The client gets its own core: one thread.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let received = Arc::new(AtomicU64::new(0));
        let addr = if args.sink {
            // The sink runs on its own thread and runtime, like a server process would.
            let received = received.clone();
            let (tx, rx) = tokio::sync::oneshot::channel();
            std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
                rt.block_on(async move {
                    let addr = sink(received).await;
                    let _ = tx.send(addr.map_err(|e| e.to_string()));
                    std::future::pending::<()>().await;
                });
            });
            rx.await?.map_err(anyhow::Error::msg)?
        } else {
            args.addr
        };
        let start = Instant::now();
        let until = match args.records {
            // Per connection, the frames before its final acked one.
            Some(n) => {
                let frames = n / args.batch.max(1) as u64 / args.connections.max(1) as u64;
                Until::Frames(frames.saturating_sub(u64::from(!args.sink)))
            }
            None => Until::Deadline(start + Duration::from_secs(args.seconds)),
        };
        let mut tasks = tokio::task::JoinSet::new();
        for id in 0..args.connections {
            tasks.spawn(run_connection(addr, until, args.batch, id, !args.sink));
        }
        let (mut records, mut bytes) = (0u64, 0u64);
        while let Some(done) = tasks.join_next().await {
            let (r, b) = done??;
            records += r;
            bytes += b;
        }
        if args.sink {
            while received.load(Ordering::Relaxed) < bytes {
                tokio::task::yield_now().await;
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        let rate = records as f64 / elapsed;
        let mib = bytes as f64 / elapsed / (1024.0 * 1024.0);
        println!("| {} | {} | {} | {:.0} | {:.1} |", args.label, args.connections, records, rate, mib);
        Ok(())
    })
}
