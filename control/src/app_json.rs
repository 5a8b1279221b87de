//! `app.json`, Heroku's app manifest, as an app setup reads it from the root of a source:
//! the config vars the app needs (`env`), its add-ons (`addons`), its process counts
//! (`formation`) and the script run once after the first deploy (`scripts.postdeploy`).
//!
//! Parsing is strict about the keys it honours and silent about the others (Heroku's
//! `buildpacks`, `stack`, `environments`, `image`, `repository`, `logo`...): a wrong type
//! or value is one error naming the key (`app.json: env.SECRET_KEY.generator: unknown
//! variant ...`), found by `serde_path_to_error`. Heroku's add-on names map to Slipway's
//! kinds here (`heroku-postgresql` → `postgres`, `heroku-redis` → `redis`).
//!
//! [`AppJson::env`] resolves the config vars against the setup's overrides; the platform
//! (`platform/setup.rs`) does the rest.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, de::IgnoredAny};

use crate::addons::Kind;

/// The manifest's file name, at the source's root.
pub const FILE: &str = "app.json";
/// Largest `app.json` read, in bytes.
pub const MAX_BYTES: u64 = 256 * 1024;

/// A parsed `app.json` (the keys Slipway honours).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AppJson {
    /// The app's display name (shown in the setup's log line only).
    #[serde(default)]
    pub name: Option<String>,
    /// What the app is (shown in the setup's log line only).
    #[serde(default)]
    pub description: Option<String>,
    /// Config vars: `"KEY": "value"` or `"KEY": {description, value, required, generator}`.
    #[serde(default)]
    pub env: BTreeMap<String, EnvVar>,
    /// Add-ons to provision, in order.
    #[serde(default)]
    pub addons: Vec<AddonSpec>,
    /// Process type → its count.
    #[serde(default)]
    pub formation: BTreeMap<String, Formation>,
    /// Scripts (`postdeploy`).
    #[serde(default)]
    pub scripts: Scripts,
}

/// One config var of `env`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvVar {
    /// What it is for.
    pub description: Option<String>,
    /// Its value.
    pub value: Option<String>,
    /// Whether the setup needs a value for it (default: true when it has no value).
    pub required: Option<bool>,
    /// Made up by the setup when not overridden.
    pub generator: Option<Generator>,
}

/// How a config var's value is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Generator {
    /// 32 random bytes from the OS, hex (256 bits).
    Secret,
}

/// One add-on of `addons`: `"heroku-postgresql"`, `"redis:dedicated"`, or
/// `{"plan": "postgres:shared", "as": "REPORTS_DB", "options": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddonSpec {
    /// The kind.
    pub kind: Kind,
    /// The plan asked for (`hobby-dev`, `shared`), if any.
    pub plan: Option<String>,
    /// The attachment (`as`): the stem of its config vars, `REPORTS_DB` → `REPORTS_DB_URL`.
    pub attachment: Option<String>,
    /// The service as written (`heroku-postgresql:hobby-dev`), for messages.
    pub written: String,
}

/// One process type of `formation`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Formation {
    /// How many processes (`size` and the rest are ignored).
    #[serde(default)]
    pub quantity: Option<u32>,
}

/// `scripts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Scripts {
    /// Run once after the setup's first deploy, with its release's code and config.
    #[serde(default)]
    pub postdeploy: Option<String>,
}

/// An `app.json` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{problem}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct AppJsonError {
    /// The key at fault (`env.SECRET_KEY.generator`), empty for the whole file.
    pub path: String,
    /// What is wrong.
    pub problem: String,
}

fn error(path: impl Into<String>, problem: impl Into<String>) -> AppJsonError {
    AppJsonError { path: path.into(), problem: problem.into() }
}

/// Reads `<root>/app.json`, if there is one (a regular file, at most [`MAX_BYTES`]).
pub fn read(root: &Path) -> Result<Option<AppJson>, AppJsonError> {
    let path = root.join(FILE);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(error("", format!("cannot read it: {e}"))),
    };
    if !meta.is_file() {
        return Err(error("", "is not a regular file (a symlink or a directory)"));
    }
    if meta.len() > MAX_BYTES {
        return Err(error("", format!("is larger than {MAX_BYTES} bytes")));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| error("", format!("cannot read it: {e}")))?;
    parse(&bytes).map(Some)
}

/// Parses an `app.json`.
pub fn parse(bytes: &[u8]) -> Result<AppJson, AppJsonError> {
    // serde would take an array as the fields in order.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(error("", "must be a JSON object ({...})"));
    }
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let parsed: AppJson = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let path = e.path().to_string();
        let e = e.into_inner();
        // Broken JSON has no key at fault, only a line and column.
        let path = if path == "." || e.is_syntax() || e.is_eof() { String::new() } else { path };
        error(path, e.to_string())
    })?;
    json.end().map_err(|e| error("", e.to_string()))?;
    Ok(parsed)
}

impl AppJson {
    /// The config vars: each var's override, else its value, else a generated secret;
    /// overrides of vars `env` does not name are set too. Errs with every required var
    /// that has none of these.
    pub fn env(&self, overrides: &BTreeMap<String, String>) -> Result<ResolvedEnv, EnvError> {
        let mut resolved = ResolvedEnv { vars: overrides.clone(), generated: Vec::new() };
        let mut missing = Vec::new();
        for (key, var) in &self.env {
            if overrides.contains_key(key) {
                continue;
            }
            if let Some(value) = &var.value {
                resolved.vars.insert(key.clone(), value.clone());
            } else if var.generator == Some(Generator::Secret) {
                let secret = crate::addons::naming::password().map_err(EnvError::Random)?;
                resolved.vars.insert(key.clone(), secret);
                resolved.generated.push(key.clone());
            } else if var.required.unwrap_or(true) {
                missing.push(key.clone());
            }
        }
        if missing.is_empty() { Ok(resolved) } else { Err(EnvError::Missing(missing)) }
    }
}

/// The config vars of a setup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedEnv {
    /// Name → value.
    pub vars: BTreeMap<String, String>,
    /// The vars made by `generator: secret`.
    pub generated: Vec<String>,
}

/// Why the config vars cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// Required vars with no value, no generator and no override.
    #[error("no value for {}", .0.join(", "))]
    Missing(Vec<String>),
    /// No random numbers for a secret.
    #[error("cannot generate a secret: {0}")]
    Random(String),
}

/// Maps a service as app.json names it (`heroku-postgresql:hobby-dev`) to a kind and plan.
fn service(written: &str) -> Result<(Kind, Option<String>), String> {
    let (name, plan) = match written.split_once(':') {
        Some((name, plan)) => (name, Some(plan)),
        None => (written, None),
    };
    let kind = match name {
        "heroku-postgresql" | "postgres" | "postgresql" => Kind::Postgres,
        "heroku-redis" | "redis" => Kind::Redis,
        other => {
            return Err(format!(
                "{other:?} is not an add-on Slipway provides: use heroku-postgresql (or postgres) or heroku-redis (or redis)"
            ));
        }
    };
    match plan {
        Some("") => Err(format!("{written:?} has an empty plan after ':'")),
        plan => Ok((kind, plan.map(str::to_owned))),
    }
}

/// A service string, mapped as it is read (so an error names its key).
struct Service(Kind, Option<String>, String);

impl<'de> Deserialize<'de> for Service {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let written = String::deserialize(d)?;
        let (kind, plan) = service(&written).map_err(de::Error::custom)?;
        Ok(Service(kind, plan, written))
    }
}

/// An attachment name (`as`), upper-cased as Heroku's are.
struct Attachment(String);

impl<'de> Deserialize<'de> for Attachment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let written = String::deserialize(d)?;
        let stem = written.replace('-', "_").to_ascii_uppercase();
        let ok = stem.len() <= 60
            && stem.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
            && stem.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(de::Error::custom(format!(
                "{written:?} is not an attachment name like \"REPORTS_DB\" (letters, digits and '_', at most 60)"
            )));
        }
        Ok(Attachment(stem))
    }
}

#[derive(Deserialize)]
struct AddonObject {
    plan: Service,
    #[serde(default, rename = "as")]
    attachment: Option<Attachment>,
    #[serde(default)]
    #[allow(dead_code)]
    options: Option<IgnoredAny>,
}

impl<'de> Deserialize<'de> for AddonSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AddonSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an add-on like \"heroku-postgresql\" or an object with plan and as")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<AddonSpec, E> {
                let (kind, plan) = service(s).map_err(E::custom)?;
                Ok(AddonSpec { kind, plan, attachment: None, written: s.to_owned() })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<AddonSpec, A::Error> {
                let o = AddonObject::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let Service(kind, plan, written) = o.plan;
                Ok(AddonSpec { kind, plan, attachment: o.attachment.map(|a| a.0), written })
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct EnvObject {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    required: Option<bool>,
    #[serde(default)]
    generator: Option<Generator>,
}

impl<'de> Deserialize<'de> for EnvVar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EnvVar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value (string) or an object with description, value, required and generator")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<EnvVar, E> {
                Ok(EnvVar { value: Some(s.to_owned()), ..EnvVar::default() })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<EnvVar, A::Error> {
                let o = EnvObject::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(EnvVar { description: o.description, value: o.value, required: o.required, generator: o.generator })
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests;
