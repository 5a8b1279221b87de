//! Where the CLI finds the API and its token: `SLIPWAY_API_URL` and `SLIPWAY_TOKEN`, or
//! else what `slipway login` saved in `$XDG_CONFIG_HOME/slipway/credentials.toml`
//! (default `~/.config/slipway/credentials.toml`, readable by its owner only).

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::CliError;

/// The saved login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The API's base URL.
    pub api_url: String,
    /// The token.
    pub token: String,
}

/// The credentials file's path.
pub fn path() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".config"),
    };
    Some(base.join("slipway").join("credentials.toml"))
}

/// The saved credentials, if any.
pub fn load() -> Result<Option<Credentials>, CliError> {
    let Some(path) = path() else { return Ok(None) };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CliError::new(format!("cannot read {}: {e}", path.display()))),
    };
    toml::from_str(&text).map(Some).map_err(|e| {
        CliError::new(format!("{}: {}", path.display(), e.message())).hint("run `slipway login` again to rewrite it")
    })
}

/// Saves credentials (mode 0600); returns the path.
pub fn save(credentials: &Credentials) -> Result<PathBuf, CliError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let path = path().ok_or_else(|| CliError::new("cannot find a config directory: set HOME or XDG_CONFIG_HOME"))?;
    let fail = |e: std::io::Error| CliError::new(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(fail)?;
    }
    let text =
        toml::to_string(credentials).map_err(|e| CliError::new(format!("cannot encode the credentials: {e}")))?;
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path).map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)?;
    Ok(path)
}

/// Deletes the saved credentials; whether there were any.
pub fn remove() -> Result<bool, CliError> {
    let Some(path) = path() else { return Ok(false) };
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(CliError::new(format!("cannot delete {}: {e}", path.display()))),
    }
}

/// The API URL and token to use: the environment first, then the saved login.
pub fn resolve() -> Result<Credentials, CliError> {
    let env = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let saved = load()?;
    let api_url = env("SLIPWAY_API_URL").or_else(|| saved.as_ref().map(|c| c.api_url.clone()));
    let token = env("SLIPWAY_TOKEN").or_else(|| saved.as_ref().map(|c| c.token.clone()));
    match (api_url, token) {
        (Some(api_url), Some(token)) => Ok(Credentials { api_url, token }),
        _ => Err(CliError::new("not logged in to a Slipway control plane").hint(
            "run `slipway login --api-url URL`, or set SLIPWAY_API_URL and SLIPWAY_TOKEN (`slipway up` prints them)",
        )),
    }
}
