//! Logging set-up for the binaries: `tracing` to stdout (or stderr), JSON unless that
//! output is a terminal (or as configured), written by a background thread so a slow
//! terminal never stalls a worker. The router's access log lines have target `access`.

use std::io::IsTerminal;

use serde::Deserialize;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// How logs are written (the `log_format` key of every program's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// JSON when the output is not a terminal, text otherwise.
    #[default]
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// Where logs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Standard output (the servers).
    Stdout,
    /// Standard error (`slipway up`, whose standard output is for people).
    Stderr,
}

/// Installs the global subscriber writing to stdout. Keep the guard alive until exit:
/// dropping it flushes.
pub fn init(format: LogFormat, filter: &str) -> WorkerGuard {
    init_to(format, filter, Target::Stdout)
}

/// Installs the global subscriber writing to `target`; a second call (tests starting
/// several servers in one process) keeps the first subscriber. Keep the guard alive.
pub fn init_to(format: LogFormat, filter: &str, target: Target) -> WorkerGuard {
    let builder = tracing_appender::non_blocking::NonBlockingBuilder::default().buffered_lines_limit(64 * 1024);
    let (writer, guard, terminal) = match target {
        Target::Stdout => {
            let (w, g) = builder.finish(std::io::stdout());
            (w, g, std::io::stdout().is_terminal())
        }
        Target::Stderr => {
            let (w, g) = builder.finish(std::io::stderr());
            (w, g, std::io::stderr().is_terminal())
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !terminal,
    };
    let subscriber = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let _ = if json {
        subscriber.json().flatten_event(true).with_current_span(false).try_init()
    } else {
        subscriber.with_ansi(terminal).try_init()
    };
    guard
}

/// Checks a `log_level` value (`RUST_LOG` syntax) for a config's validation.
pub fn check_filter(filter: &str) -> Result<(), String> {
    EnvFilter::try_new(filter).map(drop).map_err(|e| format!("{filter:?} is not a valid filter: {e}"))
}
