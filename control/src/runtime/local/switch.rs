//! The zero-downtime release switch (restarts go through it too): start the replacements
//! outside the app's active set, wait for the web ones to accept connections, swap them
//! in, republish the endpoints, and only then retire the old dynos (after `drain_delay`,
//! so routers following the stream have moved on and in-flight requests finish). If a new
//! web dyno does not come up, the new ones are stopped and the old ones keep serving.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;

use super::Inner;
use super::supervisor::{Dyno, Phase};
use crate::clock;
use crate::runtime::{ReleasePlan, RuntimeError};

impl Inner {
    /// Stops `old` dynos in the background: after the drain delay when web dynos are
    /// among them (routers are still switching away from them), at once otherwise.
    fn retire(&self, old: Vec<Arc<Dyno>>) {
        if old.is_empty() {
            return;
        }
        let delay = if old.iter().any(|d| d.is_web()) { self.config.drain_delay } else { Duration::ZERO };
        self.retiring.spawn(async move {
            tokio::time::sleep(delay).await;
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
        &self,
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
        self.retire(old);
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
