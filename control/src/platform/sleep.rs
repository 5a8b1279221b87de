//! Sleeping apps: when each app last served a request (routers' activity reports), putting
//! idle apps to sleep (scaled to zero) and waking them for a held request. The loop that
//! checks for idle apps is [`crate::sleep`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Platform, PlatformError};
use crate::clock;
use crate::runtime::ONE_OFF_TYPE;
use crate::store::AppRow;

impl Platform {
    /// Marks the app as just active (it will not sleep for its `sleep_after`).
    pub fn touch(&self, app: &str) {
        self.activity.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(app.to_owned(), Instant::now());
    }

    fn idle_for(&self, app: &str) -> Duration {
        let mut activity = self.activity.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        activity.entry(app.to_owned()).or_insert_with(Instant::now).elapsed()
    }

    /// Records a router's report: apps that served requests are active, and the router
    /// (when it names itself) has applied the route version it says.
    pub fn record_activity(&self, activity: &slipway_router::spec::Activity) {
        if let Some(router) = &activity.router {
            self.routes.routers().report(router, activity.routes_version);
        }
        for (app, requests) in &activity.apps {
            // Only apps this control plane routes: a router's other sources are not ours.
            if *requests > 0 && self.routes.contains(app) {
                self.touch(app);
            }
        }
    }

    /// Puts to sleep every awake app idle for longer than its `sleep_after`.
    pub async fn sleep_idle_apps(&self) -> Result<(), PlatformError> {
        for app in self.store.apps().await? {
            let Some(after) = app.sleep_after else { continue };
            // Only apps with processes to stop (not before their first deploy), and not
            // while a one-off dyno runs (a migration must not be stopped by idleness).
            let dynos = self.runtime.dynos(&app.name);
            if app.sleeping
                || self.idle_for(&app.name) < after
                || dynos.is_empty()
                || dynos.iter().any(|d| d.process_type == ONE_OFF_TYPE)
            {
                continue;
            }
            let _lock = self.lock(&app.name).await;
            // Re-check under the lock: a request or a wake may have come in meanwhile.
            let Some(app) = self.store.app(&app.name).await? else { continue };
            if app.sleeping || self.idle_for(&app.name) < after {
                continue;
            }
            // Mark asleep first: once the endpoints go, routers hold requests and wake it.
            self.routes.set_asleep(&app.name, true);
            self.store.set_sleeping(app.id, true).await?;
            self.runtime.stop(&app.name).await;
            self.logs.event(
                &app.name,
                "",
                format!("No requests for {}: sleeping (scaled to zero) until the next request", clock::human(after)),
            );
        }
        Ok(())
    }

    /// Wakes a sleeping app (a router holds a request for it): starts its formation in the
    /// background; the routes keep it marked sleeping until its web processes are up.
    /// Returns whether it was asleep.
    pub async fn wake(self: &Arc<Self>, name: &str) -> Result<bool, PlatformError> {
        let app = self.app_row(name).await?;
        self.touch(name);
        if !app.sleeping {
            return Ok(false);
        }
        let platform = self.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            let _lock = platform.lock(&name).await;
            let app = match platform.store.app(&name).await {
                Ok(Some(app)) if app.sleeping => app,
                Ok(_) => return,
                Err(e) => {
                    tracing::error!(app = %name, error = %e, "cannot wake the app");
                    return;
                }
            };
            platform.logs.event(&name, "", "Waking up: a request is waiting".into());
            let woken = async {
                platform.store.set_sleeping(app.id, false).await?;
                let awake = AppRow { sleeping: false, ..app.clone() };
                platform.start_current(&awake).await?;
                platform.routes.set_asleep(&name, false);
                Ok::<_, PlatformError>(())
            };
            match woken.await {
                Ok(()) => {
                    platform.touch(&name);
                    platform.logs.event(&name, "", "Awake".into());
                }
                Err(e) => {
                    tracing::error!(app = %name, error = %e, "waking the app failed");
                    platform.logs.event(&name, "", format!("Waking up failed: {e}"));
                    // Back to sleep, so the next request tries again.
                    let _ = platform.store.set_sleeping(app.id, true).await;
                }
            }
        });
        Ok(true)
    }
}
