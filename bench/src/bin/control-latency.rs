//! Time from a control-plane API change to the first request a router serves with it,
//! for three ways of getting routes into a router, in the same run:
//!
//! - **stream**: the router follows the control plane's route stream (`--router`);
//! - **polling**: a poller reads the control plane's `GET /v1/routes` every
//!   `--poll-interval` and pushes changed apps to a second router's admin API
//!   (`--poll-router`, `--poll-admin`), the usual design without a watch;
//! - **direct**: a route written straight to the second router's admin API, with no
//!   control plane at all (the floor: the router's own update cost).
//!
//! Each change adds a custom domain `c<i>.<suffix>` to `--app` (which must be deployed,
//! so its routes have an endpoint) with `POST /v1/apps/<app>/domains`, after a random
//! pause within the poll interval (so changes land at random moments of the poller's
//! cycle); from the moment the request is sent, both routers are asked for the domain on
//! kept-alive connections until they answer 200. The domain is then removed (not timed).
//! Prints a Markdown table.
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use slipway_bench::{Conn, percentiles, request};

#[derive(Debug, Parser)]
struct Args {
    /// The control plane's API.
    #[arg(long)]
    api: SocketAddr,
    /// Its admin token.
    #[arg(long)]
    token: String,
    /// The deployed app to add domains to.
    #[arg(long)]
    app: String,
    /// HTTP address of the router following the route stream.
    #[arg(long)]
    router: SocketAddr,
    /// HTTP address of the router fed by the poller and by direct updates.
    #[arg(long)]
    poll_router: SocketAddr,
    /// Its admin address.
    #[arg(long)]
    poll_admin: SocketAddr,
    /// Its admin token.
    #[arg(long)]
    poll_token: String,
    /// How often the poller reads the control plane's routes.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    poll_interval: Duration,
    /// Changes to time.
    #[arg(long, default_value_t = 200)]
    changes: usize,
    /// Domain suffix of the changes.
    #[arg(long, default_value = "bench.test")]
    suffix: String,
}

/// Asks `router` for `host` until it answers 200; the time since `started`.
async fn served(router: &mut Conn, host: &str, started: Instant) -> anyhow::Result<Duration> {
    loop {
        let (status, _) = router.send(request("GET", "/", host, None, None)).await?;
        if status == 200 {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(10), "{host} was never served (last status {status})");
    }
}

/// Polls the control plane's routes and pushes changed apps to the second router.
async fn poller(args: Arc<Args>) -> anyhow::Result<()> {
    let mut control = Conn::open(args.api).await?;
    let mut admin = Conn::open(args.poll_admin).await?;
    let mut pushed: HashMap<String, serde_json::Value> = HashMap::new();
    let mut tick = tokio::time::interval(args.poll_interval);
    loop {
        tick.tick().await;
        let (status, body) = control.send(request("GET", "/v1/routes", "control", Some(&args.token), None)).await?;
        anyhow::ensure!(status == 200, "GET /v1/routes: {status}");
        let set: serde_json::Value = serde_json::from_slice(&body)?;
        for app in set["apps"].as_array().into_iter().flatten() {
            let name = app["name"].as_str().unwrap_or_default().to_owned();
            if pushed.get(&name) == Some(app) {
                continue;
            }
            let body =
                serde_json::json!({ "hosts": app["hosts"], "endpoints": app["endpoints"], "options": app["options"] });
            let put =
                request("PUT", &format!("/v1/routes/{name}"), "admin", Some(&args.poll_token), Some(body.to_string()));
            let (status, reply) = admin.send(put).await?;
            anyhow::ensure!(status == 200, "PUT {name}: {status} {}", String::from_utf8_lossy(&reply));
            pushed.insert(name, app.clone());
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    let mut api = Conn::open(args.api).await?;
    let (status, body) = api.send(request("GET", "/v1/routes", "control", Some(&args.token), None)).await?;
    anyhow::ensure!(status == 200, "GET /v1/routes: {status}");
    let set: serde_json::Value = serde_json::from_slice(&body)?;
    let app = set["apps"].as_array().into_iter().flatten().find(|a| a["name"] == args.app.as_str());
    let endpoint = app.and_then(|a| a["endpoints"][0].as_str()).map(str::to_owned);
    let Some(endpoint) = endpoint else { anyhow::bail!("app {} has no endpoint: deploy it first", args.app) };
    let poll = tokio::spawn(poller(args.clone()));

    let mut stream_router = Conn::open(args.router).await?;
    let mut poll_router = Conn::open(args.poll_router).await?;
    let (mut api_ms, mut stream_ms, mut poll_ms) = (Vec::new(), Vec::new(), Vec::new());
    // xorshift64: a fixed, reproducible sequence of pauses.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..args.changes {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let interval = u64::try_from(args.poll_interval.as_micros()).unwrap_or(u64::MAX).max(1);
        tokio::time::sleep(Duration::from_micros(seed % interval)).await;
        let host = format!("c{i}.{}", args.suffix);
        let body = serde_json::json!({ "hostname": host }).to_string();
        let path = format!("/v1/apps/{}/domains", args.app);
        let started = Instant::now();
        let add = async {
            let (status, reply) = api.send(request("POST", &path, "control", Some(&args.token), Some(body))).await?;
            anyhow::ensure!(status == 201, "POST {path}: {status} {}", String::from_utf8_lossy(&reply));
            Ok(started.elapsed())
        };
        let (added, via_stream, via_poll) =
            tokio::join!(add, served(&mut stream_router, &host, started), served(&mut poll_router, &host, started));
        api_ms.push(added?);
        stream_ms.push(via_stream?);
        poll_ms.push(via_poll?);
        let (status, _) =
            api.send(request("DELETE", &format!("{path}/{host}"), "control", Some(&args.token), None)).await?;
        anyhow::ensure!(status == 204, "DELETE {host}: {status}");
    }

    let mut admin = Conn::open(args.poll_admin).await?;
    let mut direct_ms = Vec::new();
    for i in 0..args.changes {
        let host = format!("d{i}.{}", args.suffix);
        let body = serde_json::json!({ "hosts": [host], "endpoints": [endpoint] }).to_string();
        let put = request("PUT", "/v1/routes/direct", "admin", Some(&args.poll_token), Some(body));
        let started = Instant::now();
        let (status, reply) = admin.send(put).await?;
        anyhow::ensure!(status == 200, "PUT direct: {status} {}", String::from_utf8_lossy(&reply));
        direct_ms.push(served(&mut poll_router, &host, started).await?);
    }
    poll.abort();

    println!("| route change → served by a router | changes | p50 | p90 | p99 | max |");
    println!("|---|---:|---:|---:|---:|---:|");
    let interval = args.poll_interval.as_millis();
    for (name, samples) in [
        ("**control route stream** (API call → router following `?watch=true`)", &mut stream_ms),
        ("  of which the API call (validate, SQLite commit, publish)", &mut api_ms),
        (&*format!("polling `GET /v1/routes` every {interval} ms → router admin API") as &str, &mut poll_ms),
        ("router admin API directly (no control plane; the floor)", &mut direct_ms),
    ] {
        let [p50, p90, p99, max] = percentiles(samples, [0.50, 0.90, 0.99, 1.0]);
        println!("| {name} | {} | {p50:.2} ms | {p90:.2} ms | {p99:.2} ms | {max:.2} ms |", samples.len());
    }
    Ok(())
}
