//! Waking a sleeping app on its first request.
//!
//! An app the control plane scaled to zero keeps its routes with no endpoints and
//! `options.sleeping`. A request for it is held here: the router asks the control plane
//! to wake the app (once per app every few seconds, however many requests wait), then
//! waits for the route update that brings its endpoints, at most `control.wake_timeout`.
//! The request then proceeds as usual; if the app does not come up in time, it gets the
//! 503 "starting" page with `Retry-After` (and its router line says H20 "App boot timeout",
//! or S11 "Wake failed" when there is no control plane or it refused the last wake call);
//! if the app is removed meanwhile, the 404 page at once.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::clock::now_ms;
use crate::shared::{ControlPlaneLink, Shared};
use crate::stack::error_page::Problem;
use crate::table::{App, AppState};

/// How often one app may be asked to wake.
const WAKE_EVERY_MS: u64 = 5_000;

/// Why a sleeping app's request cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotAwake {
    /// The answer.
    pub(crate) problem: Problem,
    /// The app could not be woken at all (no control plane, or its wake call failed), as
    /// opposed to not being up in time.
    pub(crate) wake_failed: bool,
}

/// Waits until `app` has endpoints. Fails with [`Problem::Starting`] after the wake
/// timeout (or at once without a control plane to wake it), and with
/// [`Problem::UnknownHost`] as soon as the app leaves the table.
pub(crate) async fn wait_awake(shared: &Arc<Shared>, app: &Arc<App>) -> Result<Arc<AppState>, NotAwake> {
    let plane = shared.control_plane.clone().ok_or(NotAwake { problem: Problem::Starting, wake_failed: true })?;
    let deadline = tokio::time::Instant::now() + shared.config.control.wake_timeout;
    request_wake(shared, app, plane);
    let started = Instant::now();
    loop {
        let changed = app.changed();
        let mut changed = std::pin::pin!(changed);
        changed.as_mut().enable();
        if app.is_removed() {
            tracing::info!(app = %app.name, waited = ?started.elapsed(), "sleeping app removed while a request waited");
            return Err(NotAwake { problem: Problem::UnknownHost, wake_failed: false });
        }
        let state = app.state();
        if !state.endpoints.is_empty() || !state.spec.options.sleeping {
            tracing::info!(app = %app.name, waited = ?started.elapsed(), "sleeping app is up");
            return Ok(state);
        }
        tokio::select! {
            () = changed => {}
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!(app = %app.name, "sleeping app did not start in time");
                let wake_failed = app.wake_failed.load(Ordering::Relaxed);
                return Err(NotAwake { problem: Problem::Starting, wake_failed });
            }
        }
    }
}

/// Asks the control plane to wake `app`, unless that was done in the last few seconds.
fn request_wake(shared: &Arc<Shared>, app: &Arc<App>, plane: Arc<dyn ControlPlaneLink>) {
    let now = now_ms();
    let last = app.wake_requested.load(Ordering::Relaxed);
    if last != 0 && now.saturating_sub(last) < WAKE_EVERY_MS {
        return;
    }
    if app.wake_requested.compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed).is_err() {
        return;
    }
    let app = app.clone();
    let metrics = shared.metrics.clone();
    shared.runtime.spawn(async move {
        let name = &app.name;
        match plane.wake(name).await {
            Ok(()) => {
                app.wake_failed.store(false, Ordering::Relaxed);
                metrics.wakes.with_label_values(&["ok"]).inc();
                tracing::info!(app = %name, "asked the control plane to wake the app");
            }
            Err(e) => {
                app.wake_failed.store(true, Ordering::Relaxed);
                metrics.wakes.with_label_values(&["error"]).inc();
                tracing::warn!(app = %name, error = %e, "waking the app failed");
            }
        }
    });
}
