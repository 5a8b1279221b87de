//! Log tokens: app-scoped, expiring tokens signed with logd's signer, with the URLs of
//! the app's log stream and live viewer.

use super::{Platform, PlatformError};
use crate::clock;
use crate::model;

impl Platform {
    /// A token reading the app's logs on logd, with the URLs to use it on.
    pub async fn log_token(&self, name: &str) -> Result<model::LogToken, PlatformError> {
        self.app_row(name).await?;
        let (Some(signer), Some(url)) = (&self.signer, &self.config.logd.url) else {
            return Err(PlatformError::Unavailable(
                "log tokens need [logd] url and signing_key in the control plane's config".into(),
            ));
        };
        let mut claims = slipway_logd::Claims::for_app(name, self.config.logd.token_ttl);
        claims.scope = Some(slipway_logd::token::SCOPE_LOGS_READ.to_owned());
        let token = signer.sign(&claims);
        let base = url.trim_end_matches('/');
        let expires = i64::try_from(claims.exp).unwrap_or(i64::MAX / 1000).saturating_mul(1000);
        Ok(model::LogToken {
            stream_url: format!("{base}/v1/apps/{name}/logs"),
            viewer_url: format!("{base}/apps/{name}?token={token}"),
            expires_at: clock::rfc3339(expires),
            token,
        })
    }
}
