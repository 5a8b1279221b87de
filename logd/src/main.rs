//! `slipway-logd --config <file>`: see `config/logd.toml`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use slipway_config::Signals;
use slipway_logd::{Config, Logd};

/// Slipway's log service: Fluent forward ingest, per-app history, live SSE/WebSocket streams.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Path of the TOML config (keys can be overridden by SLIPWAY_LOGD__<SECTION>__<KEY>).
    #[arg(long, short, env = "SLIPWAY_LOGD_CONFIG", default_value = "config/logd.toml")]
    config: PathBuf,
}

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("slipway-logd: {e}");
            return ExitCode::from(2);
        }
    };
    let _logs = slipway_config::logging::init(config.log_format, &config.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.thread_count())
        .thread_name("slipway-logd")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("slipway-logd: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let mut signals = Signals::install();
        let logd = match Logd::start(config).await {
            Ok(logd) => logd,
            Err(e) => {
                tracing::error!(error = %e, "cannot start");
                eprintln!("slipway-logd: {e}");
                return ExitCode::from(1);
            }
        };
        tracing::info!(
            forward = %logd.forward_addr(),
            forward_tls = ?logd.forward_tls_addr(),
            http = %logd.http_addr(),
            "logd started"
        );
        let signal = signals.wait().await;
        tracing::info!(signal, "shutting down");
        logd.stop().await;
        tracing::info!("stopped");
        ExitCode::SUCCESS
    })
}
