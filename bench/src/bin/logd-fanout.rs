//! Fan-out load for logd: N subscribers (SSE or WebSocket) follow one app while a
//! forward connection sends lines at a fixed rate; each line carries its send time, so
//! every subscriber measures ingest-to-subscriber latency. Prints one Markdown row.
//!
//! `logd-fanout fanout --subscribers 1000 --transport sse --rate 1000 --seconds 5`
//! `logd-fanout idle --subscribers 2000 --transport ws --pid <logd pid>`: memory per idle
//! subscriber (logd's RSS before and after).
#![allow(clippy::print_stdout)] // a benchmark tool: its output is the Markdown table row

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use futures_util::StreamExt;
use slipway_logd::forward::client::{Entries, EventTime, packed_forward};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[derive(Debug, Parser)]
struct Args {
    /// logd's HTTP address.
    #[arg(long, default_value = "127.0.0.1:8090")]
    http: SocketAddr,
    /// logd's forward address.
    #[arg(long, default_value = "127.0.0.1:24224")]
    forward: SocketAddr,
    /// nats-server's address (transport `nats`).
    #[arg(long, default_value = "127.0.0.1:4222")]
    nats: SocketAddr,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Transport {
    Sse,
    Ws,
    /// The peer: nats-server's core pub/sub fan-out of the same lines (no history).
    Nats,
}

impl Transport {
    fn metric(self) -> &'static str {
        match self {
            Transport::Sse => "sse",
            Transport::Ws => "websocket",
            Transport::Nats => "nats (peer)",
        }
    }
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Lines at a fixed rate to N followers.
    Fanout {
        #[arg(long)]
        subscribers: usize,
        #[arg(long, value_enum)]
        transport: Transport,
        /// Lines per second.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// Memory per idle subscriber.
    Idle {
        #[arg(long)]
        subscribers: usize,
        #[arg(long, value_enum)]
        transport: Transport,
        /// logd's process id (its RSS is read from /proc).
        #[arg(long)]
        pid: u32,
    },
}

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// Latencies in 50 µs buckets up to 2 s.
struct Histogram {
    buckets: Vec<AtomicU64>,
}

const BUCKET_NS: u64 = 50_000;

impl Histogram {
    fn new() -> Histogram {
        Histogram { buckets: (0..40_001).map(|_| AtomicU64::new(0)).collect() }
    }

    fn record(&self, nanos: u64) {
        let i = ((nanos / BUCKET_NS) as usize).min(self.buckets.len() - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
    }

    fn quantile(&self, q: f64) -> f64 {
        let total: u64 = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum();
        let want = (total as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= want.max(1) {
                return (i as u64 + 1) as f64 * BUCKET_NS as f64 / 1e6;
            }
        }
        f64::NAN
    }
}

struct Shared {
    hist: Histogram,
    received: AtomicU64,
}

/// Finds `ts=<digits>` in a line and records the latency.
fn observe(shared: &Shared, line: &[u8]) {
    if let Some(i) = line.windows(3).position(|w| w == b"ts=") {
        let digits =
            line[i + 3..].iter().take_while(|b| b.is_ascii_digit()).fold(0u64, |a, b| a * 10 + u64::from(b - b'0'));
        shared.hist.record(now_nanos().saturating_sub(digits));
        shared.received.fetch_add(1, Ordering::Relaxed);
    }
}

async fn open_sse(http: SocketAddr) -> anyhow::Result<TcpStream> {
    let mut s = TcpStream::connect(http).await.context("connect")?;
    s.write_all(b"GET /v1/apps/fan/logs?tail=0 HTTP/1.1\r\nHost: logd\r\nAccept: text/event-stream\r\n\r\n").await?;
    Ok(s)
}

async fn read_sse(mut s: TcpStream, shared: Arc<Shared>) {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        while let Some(i) = buf[start..].iter().position(|&b| b == b'\n') {
            observe(&shared, &buf[start..start + i]);
            start += i + 1;
        }
        buf.drain(..start);
    }
}

/// A NATS subscriber: `SUB fan`, then `PING` and wait for `PONG` so the subscription is
/// registered before the test starts.
async fn open_nats(nats: SocketAddr) -> anyhow::Result<TcpStream> {
    let mut s = TcpStream::connect(nats).await.context("connect nats")?;
    s.write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB fan 1\r\nPING\r\n").await?;
    let mut seen = Vec::new();
    let mut chunk = [0u8; 1024];
    while !seen.windows(4).any(|w| w == b"PONG") {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            bail!("nats closed the connection");
        }
        seen.extend_from_slice(&chunk[..n]);
    }
    Ok(s)
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn open_ws(http: SocketAddr) -> anyhow::Result<Ws> {
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let url = format!("ws://{http}/v1/apps/fan/logs?tail=0");
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), false).await?;
    Ok(ws)
}

async fn read_ws(mut ws: Ws, shared: Arc<Shared>) {
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Text(t) = message {
            observe(&shared, t.as_bytes());
        }
    }
}

enum Sub {
    Lines(TcpStream),
    Ws(Box<Ws>),
}

async fn open(http: SocketAddr, nats: SocketAddr, transport: Transport, n: usize) -> anyhow::Result<Vec<Sub>> {
    let mut subs = Vec::with_capacity(n);
    while subs.len() < n {
        let batch = (n - subs.len()).min(250);
        let mut opening = tokio::task::JoinSet::new();
        for _ in 0..batch {
            opening.spawn(async move {
                match transport {
                    Transport::Sse => open_sse(http).await.map(Sub::Lines),
                    Transport::Ws => open_ws(http).await.map(|w| Sub::Ws(Box::new(w))),
                    Transport::Nats => open_nats(nats).await.map(Sub::Lines),
                }
            });
        }
        while let Some(sub) = opening.join_next().await {
            subs.push(sub??);
        }
    }
    Ok(subs)
}

/// Waits until logd counts `n` subscribers of `transport`.
async fn wait_subscribers(http: SocketAddr, transport: Transport, n: usize) -> anyhow::Result<()> {
    let sample = format!("slipway_logd_subscribers{{transport=\"{}\"}}", transport.metric());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let metrics = get(http, "/metrics").await?;
        let value: f64 =
            metrics.lines().find_map(|l| l.strip_prefix(&sample).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0);
        if value as usize >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {value} of {n} subscribers after 60s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get(http: SocketAddr, path: &str) -> anyhow::Result<String> {
    let mut s = TcpStream::connect(http).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: logd\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A PackedForward frame tagged `bench` of `lines` records `{app: "fan", dyno: "web.1",
/// log}`, each carrying the send time `ts` (ns) for the latency measure.
fn frame(lines: u64, ts: u64) -> Vec<u8> {
    let log = format!("GET /api/items 200 ts={ts}");
    let mut entries = Entries::with_capacity(lines as usize * 80);
    for _ in 0..lines {
        entries.push(EventTime::Secs(ts / 1_000_000_000), &[("app", "fan"), ("dyno", "web.1"), ("log", log.as_str())]);
    }
    packed_forward("bench", &entries, None)
}

/// The same lines as NATS publishes, each the size of logd's JSON for it.
fn nats_pub(lines: u64, ts: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..lines {
        let payload = format!(
            "{{\"app\":\"fan\",\"seq\":1,\"time\":\"2026-11-23T10:00:00.000000000Z\",\"source\":\"app\",\"dyno\":\"web.1\",\"stream\":\"\",\"message\":\"GET /api/items 200 ts={ts}\"}}"
        );
        out.extend_from_slice(format!("PUB fan {}\r\n{payload}\r\n", payload.len()).as_bytes());
    }
    out
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

async fn fanout(args: &Args, subscribers: usize, transport: Transport, rate: u64, seconds: u64) -> anyhow::Result<()> {
    let shared = Arc::new(Shared { hist: Histogram::new(), received: AtomicU64::new(0) });
    let subs = open(args.http, args.nats, transport, subscribers).await?;
    let mut readers = tokio::task::JoinSet::new();
    for sub in subs {
        let shared = shared.clone();
        match sub {
            Sub::Lines(s) => readers.spawn(read_sse(s, shared)),
            Sub::Ws(w) => readers.spawn(read_ws(*w, shared)),
        };
    }
    if transport != Transport::Nats {
        wait_subscribers(args.http, transport, subscribers).await?;
    }
    let mut fwd = TcpStream::connect(if transport == Transport::Nats { args.nats } else { args.forward }).await?;
    fwd.set_nodelay(true)?;
    if transport == Transport::Nats {
        fwd.write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n").await?;
    }
    let start = Instant::now();
    let total = rate * seconds;
    let mut sent = 0u64;
    while sent < total {
        let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64 + 1).min(total);
        if due > sent {
            let lines = due - sent;
            let bytes =
                if transport == Transport::Nats { nats_pub(lines, now_nanos()) } else { frame(lines, now_nanos()) };
            fwd.write_all(&bytes).await?;
            sent = due;
        }
        let next = start + Duration::from_secs_f64(sent as f64 / rate as f64);
        tokio::time::sleep_until(next.into()).await;
    }
    let send_time = start.elapsed().as_secs_f64();
    // Let the subscribers drain: until every line arrived or nothing moved for 2 s.
    let expected = total * subscribers as u64;
    let mut last = 0;
    let mut still = Instant::now();
    while shared.received.load(Ordering::Relaxed) < expected && still.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = shared.received.load(Ordering::Relaxed);
        if now != last {
            last = now;
            still = Instant::now();
        }
    }
    let received = shared.received.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    readers.abort_all();
    println!(
        "| {} | {} | {} | {:.0} | {:.1}% | {:.2} | {:.2} | {:.1} |",
        transport.metric(),
        subscribers,
        rate,
        received as f64 / elapsed.max(send_time),
        100.0 * received as f64 / expected as f64,
        shared.hist.quantile(0.50),
        shared.hist.quantile(0.99),
        send_time,
    );
    Ok(())
}

async fn idle(args: &Args, subscribers: usize, transport: Transport, pid: u32) -> anyhow::Result<()> {
    // Warm up: one subscriber and a line, so one-time allocations are not counted.
    let warm = open(args.http, args.nats, transport, 1).await?;
    wait_subscribers(args.http, transport, 1).await?;
    let before = rss_kib(pid)?;
    let subs = open(args.http, args.nats, transport, subscribers).await?;
    wait_subscribers(args.http, transport, subscribers + 1).await?;
    let after = rss_kib(pid)?;
    let per = (after.saturating_sub(before)) as f64 / subscribers as f64;
    println!("| {} | {} | {} | {} | {:.1} |", transport.metric(), subscribers, before, after, per);
    drop(subs);
    drop(warm);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        match args.mode {
            Mode::Fanout { subscribers, transport, rate, seconds } => {
                fanout(&args, subscribers, transport, rate, seconds).await
            }
            Mode::Idle { subscribers, transport, pid } => idle(&args, subscribers, transport, pid).await,
        }
    })
}
