//! Layered config loading: defaults, then a TOML file, then environment variables, later
//! layers winning, with every problem reduced to one [`ConfigError`] line that names the
//! key and where its value came from, e.g. `config: /etc/slipway/router.toml: key
//! "listen.http": "8080" is not an address like "0.0.0.0:8080" or "[::1]:8080"`.
//!
//! Environment variables are named `<PREFIX><SECTION>__<KEY>` (one documented rule for all
//! programs): `SLIPWAY_ROUTER__LISTEN__HTTP=0.0.0.0:80` sets `listen.http` of the router.

use std::fmt;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::de::DeserializeOwned;

/// A configuration problem, naming the key and where the bad value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the value came from: a file path or an environment variable.
    pub origin: Option<String>,
    /// Dotted key path, e.g. `listen.http`.
    pub key: Option<String>,
    /// What is wrong.
    pub problem: String,
}

impl ConfigError {
    /// A value that parsed but is not allowed (a range, a name), found after loading.
    pub fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError { origin: None, key: Some(key.to_owned()), problem: problem.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("config")?;
        if let Some(origin) = &self.origin {
            write!(f, ": {origin}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key \"{key}\"")?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// Reads `T` from its defaults, an optional TOML file and `<env_prefix><KEY>__<KEY>`
/// environment variables, and turns figment's error into a [`ConfigError`]. A missing
/// file is reported with `example` (the program's sample config) as the hint.
pub fn load_layered<T: DeserializeOwned>(
    path: Option<&Path>,
    env_prefix: &str,
    example: &str,
) -> Result<T, ConfigError> {
    let mut figment = Figment::new();
    if let Some(path) = path {
        if !path.is_file() {
            return Err(ConfigError {
                origin: Some(path.display().to_string()),
                key: None,
                problem: format!("no such file (pass the path of a TOML config, e.g. {example})"),
            });
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment.merge(Env::prefixed(env_prefix).split("__"));
    figment.extract().map_err(|e| from_figment(e, env_prefix))
}

fn from_figment(error: figment::Error, env_prefix: &str) -> ConfigError {
    use figment::error::Kind;
    let key = (!error.path.is_empty()).then(|| error.path.join("."));
    let origin = error.metadata.as_ref().map(|md| match &md.source {
        Some(figment::Source::File(path)) => path.display().to_string(),
        _ if md.name.contains("environment") => {
            let var: Vec<String> = error.path.iter().map(|k| k.to_ascii_uppercase()).collect();
            format!("environment variable {env_prefix}{}", var.join("__"))
        }
        _ => md.name.to_string(),
    });
    let problem = match &error.kind {
        Kind::UnknownField(field, expected) => {
            // figment's path already ends with the unknown field.
            let key = key.unwrap_or_else(|| field.clone());
            return ConfigError {
                origin,
                key: Some(key),
                problem: format!("unknown key; expected one of: {}", expected.join(", ")),
            };
        }
        Kind::InvalidType(actual, expected) => format!("found {actual}, expected {expected}"),
        Kind::InvalidValue(actual, expected) => format!("found {actual}, expected {expected}"),
        Kind::UnknownVariant(found, expected) => {
            format!("unknown value {found:?}; expected one of: {}", expected.join(", "))
        }
        Kind::Message(message) => one_line(message),
        other => other.to_string(),
    };
    ConfigError { origin, key, problem }
}

/// TOML syntax errors come as a multi-line snippet; keep the position and the words.
fn one_line(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty() && !l.contains('|'));
    let first = lines.next().unwrap_or_default().to_owned();
    let rest: Vec<&str> = lines.collect();
    if rest.is_empty() { first } else { format!("{first}: {}", rest.join("; ")) }
}

#[cfg(test)]
mod tests;
