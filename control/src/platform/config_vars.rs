//! Config vars: reading them, and setting and unsetting them (a change makes a new
//! release); and the rules for their names and values.

use std::collections::BTreeMap;

use super::releases::release_model;
use super::{Platform, PlatformError, invalid};
use crate::model;

/// Config vars the runtime sets itself.
pub const RESERVED_VARS: [&str; 4] = ["PORT", "DYNO", "SLIPWAY_APP", "SLIPWAY_RELEASE"];
/// Longest config var value, in bytes.
pub const MAX_VALUE_BYTES: usize = 32 * 1024;

impl Platform {
    /// The live config vars.
    pub async fn config_vars(&self, name: &str) -> Result<BTreeMap<String, String>, PlatformError> {
        let app = self.app_row(name).await?;
        Ok(self.current_release(&app).await?.config)
    }

    /// Sets and unsets config vars; a change makes a new release.
    pub async fn set_config(
        &self,
        name: &str,
        patch: model::ConfigPatch,
    ) -> Result<model::ConfigChanged, PlatformError> {
        if patch.is_empty() {
            return Err(invalid("config", "give at least one var to set or unset"));
        }
        for (key, value) in &patch {
            check_var(key, value.as_deref())?;
        }
        let _lock = self.lock(name).await;
        let app = self.app_row(name).await?;
        let owned = self.addon_vars(app.id).await?;
        if let Some((key, addon)) = patch.keys().find_map(|k| owned.get_key_value(k)) {
            return Err(invalid(key, format!("{key} is set by add-on {addon}; it goes when the add-on is destroyed")));
        }
        let current = self.current_release(&app).await?;
        let mut config = current.config.clone();
        let (mut set, mut unset) = (Vec::new(), Vec::new());
        for (key, value) in patch {
            match value {
                Some(value) => {
                    if config.get(&key) != Some(&value) {
                        set.push(key.clone());
                    }
                    config.insert(key, value);
                }
                None => {
                    if config.remove(&key).is_some() {
                        unset.push(key);
                    }
                }
            }
        }
        if set.is_empty() && unset.is_empty() {
            return Ok(model::ConfigChanged {
                config,
                changed: false,
                release: release_model(&current, app.current_release, false),
            });
        }
        let mut parts = Vec::new();
        if !set.is_empty() {
            parts.push(format!("Set {}", set.join(", ")));
        }
        if !unset.is_empty() {
            parts.push(format!("Unset {}", unset.join(", ")));
        }
        let release = self.release(&app, current.slug.as_ref(), &config, &parts.join("; ")).await?;
        Ok(model::ConfigChanged {
            config,
            changed: true,
            release: release_model(&release, Some(release.version), false),
        })
    }
}

/// Checks a config var: a shell-style name, a bounded value without NUL.
pub fn check_var(key: &str, value: Option<&str>) -> Result<(), PlatformError> {
    let ok = !key.is_empty()
        && key.len() <= 255
        && !key.as_bytes()[0].is_ascii_digit()
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok {
        return Err(invalid(
            key,
            format!("{key:?} is not a config var name: use letters, digits and '_', not starting with a digit"),
        ));
    }
    if RESERVED_VARS.contains(&key) {
        return Err(invalid(key, format!("{key} is set by the runtime for each process")));
    }
    if let Some(value) = value {
        if value.len() > MAX_VALUE_BYTES {
            return Err(invalid(key, format!("the value is longer than {MAX_VALUE_BYTES} bytes")));
        }
        if value.contains('\0') {
            return Err(invalid(key, "the value contains a NUL byte"));
        }
    }
    Ok(())
}
