//! `slipway-router --config <file>`: see `config/router.toml` and the README.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use slipway_config::Signals;
use slipway_router::{Config, Router};

/// mimalloc instead of glibc's malloc: the request path allocates a few buffers per
/// request (hyper's read buffers, boxed futures) and mimalloc's thread-local free lists
/// cost about a third of glibc's instructions for them (bench/RESULTS.md, callgrind).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Slipway's edge router: a wildcard-subdomain reverse proxy.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Path of the TOML config (keys can be overridden by SLIPWAY_ROUTER__<SECTION>__<KEY>).
    #[arg(long, short, env = "SLIPWAY_ROUTER_CONFIG", default_value = "config/router.toml")]
    config: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("slipway-router: {e}");
            return ExitCode::from(2);
        }
    };
    let _logs = slipway_config::logging::init(config.log_format, &config.log_level);
    let router = match Router::start(config) {
        Ok(router) => router,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            eprintln!("slipway-router: {e}");
            return ExitCode::from(1);
        }
    };
    // The handlers go in before "router started" is logged: a supervisor may signal as
    // soon as it reads that line and gets a graceful shutdown, not the default action
    // (README, "The router in short"). No test can signal between two statements here
    // from outside, so this order is the contract's only guard: keep it.
    let mut signals = {
        let _runtime = router.control_handle().enter();
        Signals::install()
    };
    tracing::info!(http = %router.http_addr(), admin = %router.admin_addr(), "router started");
    let signal = router.control_handle().block_on(signals.wait());
    tracing::info!(signal, "shutting down: no new connections, draining in-flight requests");
    router.stop_blocking();
    tracing::info!("stopped");
    ExitCode::SUCCESS
}
