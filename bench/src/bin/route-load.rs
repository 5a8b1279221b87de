//! Loads N apps into a router through its admin API (`PUT /v1/routes`).
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::time::Instant;

use clap::Parser;
use slipway_bench::{Conn, request};

#[derive(Debug, Parser)]
struct Args {
    /// The router's admin address.
    #[arg(long)]
    admin: SocketAddr,
    /// The admin bearer token.
    #[arg(long)]
    token: String,
    /// Number of apps (named app-0 .. app-N-1).
    #[arg(long)]
    apps: usize,
    /// The endpoint every app points to.
    #[arg(long)]
    endpoint: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let apps: Vec<serde_json::Value> = (0..args.apps)
        .map(|i| serde_json::json!({ "name": format!("app-{i}"), "endpoints": [args.endpoint] }))
        .collect();
    let body = serde_json::json!({ "apps": apps }).to_string();
    let started = Instant::now();
    let mut conn = Conn::open(args.admin).await?;
    let (status, reply) = conn.send(request("PUT", "/v1/routes", "admin", Some(&args.token), Some(body))).await?;
    anyhow::ensure!(status == 200, "PUT /v1/routes: {status} {}", String::from_utf8_lossy(&reply));
    println!("loaded {} apps in {:.1} ms", args.apps, started.elapsed().as_secs_f64() * 1000.0);
    Ok(())
}
