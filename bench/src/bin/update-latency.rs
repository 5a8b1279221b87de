//! Time from an admin route update to the first request served by the new endpoint.
//!
//! Alternates app `--app` between two backends that answer with different bodies. Each
//! iteration sends `PUT /v1/routes/<app>` and then requests through the router until the
//! new backend answers; the time from sending the PUT to that answer is one sample.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use slipway_bench::{Conn, percentiles, request};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long)]
    admin: SocketAddr,
    #[arg(long)]
    token: String,
    /// The router's HTTP address.
    #[arg(long)]
    proxy: SocketAddr,
    /// Host the app is reached by.
    #[arg(long)]
    host: String,
    #[arg(long)]
    app: String,
    /// The two backends (`ip:port`); their bodies must differ.
    #[arg(long)]
    a: SocketAddr,
    #[arg(long)]
    b: SocketAddr,
    #[arg(long, default_value_t = 1000)]
    iterations: usize,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let body_a = Conn::open(args.a).await?.send(request("GET", "/", "direct", None, None)).await?.1;
    let body_b = Conn::open(args.b).await?.send(request("GET", "/", "direct", None, None)).await?.1;
    anyhow::ensure!(body_a != body_b, "the two backends answer the same body");
    let mut admin = Conn::open(args.admin).await?;
    let mut proxy = Conn::open(args.proxy).await?;
    let mut samples = Vec::with_capacity(args.iterations);
    let mut extra_requests = 0usize;
    for i in 0..args.iterations {
        let (target, expected) = if i % 2 == 0 { (args.b, &body_b) } else { (args.a, &body_a) };
        let body = serde_json::json!({ "endpoints": [target.to_string()] }).to_string();
        let put = request("PUT", &format!("/v1/routes/{}", args.app), "admin", Some(&args.token), Some(body));
        let started = Instant::now();
        let (status, reply) = admin.send(put).await?;
        anyhow::ensure!(status == 200, "PUT: {status} {}", String::from_utf8_lossy(&reply));
        loop {
            let (status, body) = proxy.send(request("GET", "/", &args.host, None, None)).await?;
            anyhow::ensure!(status == 200, "GET through the router: {status}");
            if body == *expected {
                break;
            }
            extra_requests += 1;
            anyhow::ensure!(started.elapsed() < Duration::from_secs(5), "the update was never served");
        }
        samples.push(started.elapsed());
    }
    let [p50, p99, max] = percentiles(&mut samples, [0.50, 0.99, 1.0]);
    println!(
        "updates={} p50_ms={p50:.3} p99_ms={p99:.3} max_ms={max:.3} stale_responses={extra_requests}",
        samples.len()
    );
    Ok(())
}
