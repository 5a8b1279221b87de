//! The zero-downtime release switch (restarts and scaling go through it too): start the
//! replacements outside the app's active set, wait for the web ones to accept
//! connections, swap them in, republish the endpoints, and only then retire the old dynos:
//! once every router reporting to us has applied the route version that left them (a
//! router reconnecting to the route stream still sends to them), and no earlier than
//! `drain_delay` (in-flight requests finish) nor later than `drain_timeout`. If a new web
//! dyno does not come up, the new ones are stopped and the old ones keep serving.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;

use super::Inner;
use super::supervisor::{Dyno, Phase};
use crate::clock;
use crate::runtime::{ReleasePlan, RuntimeError};

impl Inner {
    /// Stops `old` dynos in the background. When web dynos are among them, routers may
    /// still send them requests: they go once every router has applied `version` (the
    /// routes without them), after `drain_delay` at the earliest and `drain_timeout` at
    /// the latest; other dynos go at once.
    fn retire(self: &Arc<Self>, app: &str, old: Vec<Arc<Dyno>>, version: u64) {
        if old.is_empty() {
            return;
        }
        if !old.iter().any(|d| d.is_web()) {
            self.retiring.spawn(async move {
                join_all(old.iter().map(|d| d.stop_and_wait())).await;
            });
            return;
        }
        let inner = self.clone();
        let app = app.to_owned();
        self.retiring.spawn(async move {
            let started = Instant::now();
            let (floor, config) = (started + inner.config.drain_delay, &inner.config);
            let behind = inner.routes.routers().wait_applied(version, started + config.drain_timeout).await;
            if !behind.is_empty() {
                tracing::warn!(
                    app = %app,
                    version,
                    routers = ?behind,
                    waited = ?config.drain_timeout,
                    "routers have not applied the new routes within runtime.drain_timeout; stopping the old processes anyway"
                );
            }
            tokio::time::sleep_until(floor).await;
            join_all(old.iter().map(|d| d.stop_and_wait())).await;
        });
    }

    /// Starts `new` dynos of `release` (type, index) replacing `old` ones; see the module
    /// docs. On failure the new ones are stopped and nothing changes.
    pub(super) async fn replace(
        self: &Arc<Self>,
        app: &str,
        release: Arc<ReleasePlan>,
        new: Vec<(String, u32)>,
        old: Vec<Arc<Dyno>>,
    ) -> Result<(), RuntimeError> {
        let started: Vec<Arc<Dyno>> = new.iter().map(|(t, i)| self.start_dyno(app, &release, t, *i)).collect();
        let deadline = Instant::now() + self.config.boot_timeout;
        let boots = started.iter().filter(|d| d.is_web()).map(|d| wait_booted(d, deadline, self.config.boot_timeout));
        let failure = join_all(boots).await.into_iter().find_map(Result::err);
        if let Some(reason) = failure {
            join_all(started.iter().map(|d| d.stop_and_wait())).await;
            return Err(RuntimeError::BootFailed { version: release.version, reason });
        }
        self.swap_in(app, started, old, Some(release));
        Ok(())
    }

    /// Makes `started` active in place of `old` (and `release` the app's, if given),
    /// points the routes at them, and retires `old`.
    pub(super) fn swap_in(
        self: &Arc<Self>,
        app: &str,
        started: Vec<Arc<Dyno>>,
        old: Vec<Arc<Dyno>>,
        release: Option<Arc<ReleasePlan>>,
    ) {
        {
            let mut apps = self.apps();
            let state = apps.entry(app.to_owned()).or_default();
            state.dynos.retain(|d| !old.iter().any(|o| Arc::ptr_eq(d, o)));
            state.dynos.extend(started);
            state.dynos.sort_by(|a, b| dyno_order(a, b));
            if let Some(release) = release {
                state.release = Some(release);
            }
        }
        self.refresh(app);
        // Read after the change: the routes without `old` are this version or older.
        let version = self.routes.version();
        self.retire(app, old, version);
    }
}

fn dyno_order(a: &Dyno, b: &Dyno) -> std::cmp::Ordering {
    (a.process_type.as_str(), a.index).cmp(&(b.process_type.as_str(), b.index))
}

/// Waits until a web dyno accepts connections; the reason if it crashes first or the
/// deadline passes.
async fn wait_booted(dyno: &Dyno, deadline: Instant, limit: Duration) -> Result<(), String> {
    let mut rx = dyno.status.subscribe();
    let settled = tokio::time::timeout_at(
        deadline,
        rx.wait_for(|s| s.phase == Phase::Up || (s.phase == Phase::Crashed && !s.ever_up)),
    )
    .await;
    match settled {
        Ok(Ok(status)) if status.phase == Phase::Up => Ok(()),
        Ok(Ok(status)) => Err(format!(
            "{} {} before accepting connections on $PORT",
            dyno.name,
            status.last_exit.as_deref().unwrap_or("exited")
        )),
        Ok(Err(_)) => Err(format!("{} was stopped while starting", dyno.name)),
        Err(_) => Err(format!("{} did not accept connections on $PORT within {}", dyno.name, clock::human(limit))),
    }
}
