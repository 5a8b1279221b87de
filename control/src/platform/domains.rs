//! Custom domains: listing, adding and removing the host names routed to an app besides
//! `<app>.<zone>`.

use super::{Platform, PlatformError, conflict, invalid};
use crate::clock;
use crate::model;

impl Platform {
    /// The app's custom domains.
    pub async fn domains(&self, name: &str) -> Result<Vec<model::Domain>, PlatformError> {
        let app = self.app_row(name).await?;
        Ok(self
            .store
            .domains(app.id)
            .await?
            .into_iter()
            .map(|(hostname, at)| model::Domain { hostname, created_at: clock::rfc3339(at) })
            .collect())
    }

    /// Adds a custom domain.
    pub async fn add_domain(&self, name: &str, hostname: &str) -> Result<model::Domain, PlatformError> {
        let hostname = hostname.trim().trim_end_matches('.').to_ascii_lowercase();
        slipway_router::spec::check_host(&hostname).map_err(|p| invalid("hostname", p))?;
        if !hostname.contains('.') {
            return Err(invalid("hostname", format!("{hostname:?} is not a domain like \"shop.example.com\"")));
        }
        if let Some(zone) =
            self.config.apps.zones.iter().find(|z| hostname == **z || hostname.ends_with(&format!(".{z}")))
        {
            return Err(invalid(
                "hostname",
                format!(
                    "{hostname:?} is inside the zone {zone:?}, where names are app names; apps get <app>.{zone} without a domain"
                ),
            ));
        }
        let _lock = self.lock(name).await;
        let app = self.app_row(name).await?;
        let mut hosts = self.hosts(&app).await?;
        if hosts.len() >= slipway_router::spec::MAX_HOSTS && !hosts.contains(&hostname) {
            let max = slipway_router::spec::MAX_HOSTS;
            return Err(invalid("hostname", format!("an app has at most {max} custom domains")));
        }
        let now = clock::now_ms();
        self.store.add_domain(app.id, &hostname, now).await.map_err(conflict)?;
        // Under the lock the app's domains are the ones read plus this one (set_hosts
        // drops it if it was there already).
        hosts.push(hostname.clone());
        self.routes.set_hosts(name, hosts);
        self.logs.event(name, "", format!("Domain {hostname} added"));
        Ok(model::Domain { hostname, created_at: clock::rfc3339(now) })
    }

    /// Removes a custom domain.
    pub async fn remove_domain(&self, name: &str, hostname: &str) -> Result<(), PlatformError> {
        let hostname = hostname.trim().trim_end_matches('.').to_ascii_lowercase();
        let _lock = self.lock(name).await;
        let app = self.app_row(name).await?;
        if !self.store.remove_domain(app.id, &hostname).await? {
            return Err(PlatformError::NotFound(format!("app {name:?} has no domain {hostname:?}")));
        }
        self.routes.set_hosts(name, self.hosts(&app).await?);
        self.logs.event(name, "", format!("Domain {hostname} removed"));
        Ok(())
    }
}
