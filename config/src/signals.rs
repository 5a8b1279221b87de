//! SIGTERM and SIGINT, the two ways a supervisor (systemd, Kubernetes, a terminal's
//! Ctrl-C) asks a program to stop gracefully.
//!
//! Install the handlers before the program announces that it started: a supervisor that
//! signals right after reading that line then gets a graceful shutdown, not the default
//! action (an immediate exit).

use tokio::signal::unix::{Signal, SignalKind, signal};

/// SIGTERM and SIGINT, caught from the moment this exists.
#[derive(Debug)]
pub struct Signals {
    term: Option<Signal>,
    int: Option<Signal>,
}

impl Signals {
    /// Installs the handlers; must run inside a tokio runtime.
    pub fn install() -> Signals {
        let (term, int) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(term), Ok(int)) => (Some(term), Some(int)),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "cannot install signal handlers; stop with SIGKILL");
                (None, None)
            }
        };
        Signals { term, int }
    }

    /// Waits for SIGTERM or SIGINT and names it (forever, if the handlers could not be
    /// installed).
    pub async fn wait(&mut self) -> &'static str {
        let (Some(term), Some(int)) = (&mut self.term, &mut self.int) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    }
}
