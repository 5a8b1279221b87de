//! The API's JSON bodies, shared by the server (`api/`) and the CLI (`cli/`): one
//! definition of each, so the two cannot drift apart.
//!
//! Times are RFC 3339 strings in UTC; durations are humantime strings ("30m", "1h 30m").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An app, as `GET /v1/apps/{app}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    /// The name: a DNS label.
    pub name: String,
    /// Creation time.
    pub created_at: String,
    /// Where the app is served.
    pub url: String,
    /// Idle time after which the app is scaled to zero; none: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep_after: Option<String>,
    /// Scaled to zero until its next request.
    pub sleeping: bool,
    /// The live release's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<u64>,
    /// Custom domains.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Process counts by type, for the types of the live release.
    #[serde(default)]
    pub formation: BTreeMap<String, u32>,
}

/// `POST /v1/apps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApp {
    /// The name: a DNS label of at most 63 characters.
    pub name: String,
    /// Idle time after which the app sleeps, e.g. "30m"; none: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep_after: Option<String>,
}

/// `PATCH /v1/apps/{app}`: only the fields present change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppPatch {
    /// `"30m"` sets it, `null` turns sleeping off, absent leaves it.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub sleep_after: Option<Option<String>>,
}

/// Distinguishes an absent field (None) from `null` (Some(None)).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Where a release's code came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceRef {
    /// An uploaded gzipped tarball.
    Tarball {
        /// SHA-256 of the upload, hex.
        sha256: String,
    },
    /// A git repository.
    Git {
        /// The repository URL (or path).
        url: String,
        /// The ref asked for (branch, tag or commit).
        #[serde(rename = "ref")]
        reference: String,
        /// The commit it resolved to.
        commit: String,
    },
}

impl SourceRef {
    /// A short human description: `tarball 3f2a9c1d` or `git 1a2b3c4d (main)`.
    pub fn short(&self) -> String {
        match self {
            SourceRef::Tarball { sha256 } => format!("tarball {}", &sha256[..sha256.len().min(8)]),
            SourceRef::Git { reference, commit, .. } => {
                format!("git {} ({reference})", &commit[..commit.len().min(8)])
            }
        }
    }
}

/// The runnable code of a release: its source, unpacked, and the processes it declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slug {
    /// Content-derived id.
    pub id: String,
    /// Where it came from.
    pub source: SourceRef,
    /// Process type → command, from the Procfile.
    pub process_types: BTreeMap<String, String>,
}

/// A release: numbered, immutable code + config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// 1, 2, 3, ... per app.
    pub version: u64,
    /// Creation time.
    pub created_at: String,
    /// What made it ("Deploy git 1a2b3c4d (main)", "Set GREETING", "Rollback to v3").
    pub description: String,
    /// `succeeded` (it went live), `failed` (it did not start; the previous one kept
    /// serving) or `pending`.
    pub status: String,
    /// Whether it is the app's live release.
    pub current: bool,
    /// The code; none until the first deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<Slug>,
    /// The config vars (only in `GET /v1/apps/{app}/releases/{version}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, String>>,
}

/// `PATCH /v1/apps/{app}/config`: `"value"` sets a var, `null` unsets it.
pub type ConfigPatch = BTreeMap<String, Option<String>>;

/// The answer to a config change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigChanged {
    /// The config vars now.
    pub config: BTreeMap<String, String>,
    /// Whether anything changed (no change makes no release).
    pub changed: bool,
    /// The release the change made (or the live one, when nothing changed).
    pub release: Release,
}

/// `POST /v1/apps/{app}/deploys` with a JSON body: deploy a git repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitDeploy {
    /// The repository: an `https://`, `http://`, `ssh://`, `git://` or `file://` URL, a
    /// `user@host:path` scp-like address, or a path on the control plane's machine.
    pub url: String,
    /// Branch, tag or commit; default: the repository's default branch.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// `POST /v1/apps/{app}/releases/rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    /// The release to go back to; default: the one before the live release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// One process type of the formation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessType {
    /// The type, e.g. `web`.
    #[serde(rename = "type")]
    pub process_type: String,
    /// How many processes run.
    pub quantity: u32,
    /// The command (from the Procfile).
    pub command: String,
}

/// `PATCH /v1/apps/{app}/formation`: process type → quantity.
pub type Scale = BTreeMap<String, u32>;

/// One running (or crashed) process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dyno {
    /// `web.1`.
    pub name: String,
    /// `web`.
    #[serde(rename = "type")]
    pub process_type: String,
    /// `starting`, `up`, `crashed` or `stopping`.
    pub state: String,
    /// The release it runs.
    pub release: u64,
    /// The command.
    pub command: String,
    /// Its `PORT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Since when it is in its state.
    pub since: String,
    /// Restarts after crashes.
    pub restarts: u32,
}

/// `POST /v1/apps/{app}/dynos`: a one-off dyno (`slipway run`), in Heroku's shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDyno {
    /// The command, run by the runtime's shell in the release's slug.
    pub command: String,
    /// Attach a client: the answer has an `attach_url` for its WebSocket (stdin, stdout,
    /// stderr, exit); otherwise the output only goes to the log.
    #[serde(default)]
    pub attach: bool,
    /// Variables set for this run on top of the config vars.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// The answer to `POST /v1/apps/{app}/dynos`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartedDyno {
    /// The one-off dyno (`run.N`).
    #[serde(flatten)]
    pub dyno: Dyno,
    /// For an attached one: the path of its WebSocket (`/v1/apps/{app}/dynos/{name}/attach`),
    /// to connect within `runtime.attach_timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_url: Option<String>,
}

/// `POST /v1/apps/{app}/dynos/restart`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restart {
    /// A process type (`web`) or a dyno (`web.1`); none: every process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A custom domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    /// The host name.
    pub hostname: String,
    /// When it was added.
    pub created_at: String,
}

/// `POST /v1/apps/{app}/domains`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDomain {
    /// The host name, e.g. `shop.example.com`.
    pub hostname: String,
}

/// A log token and where to use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogToken {
    /// The token (reads this app's logs until it expires).
    pub token: String,
    /// Expiry.
    pub expires_at: String,
    /// The app's log stream on logd (SSE, WebSocket, NDJSON).
    pub stream_url: String,
    /// The live viewer page, token included.
    pub viewer_url: String,
}

/// An add-on: a PostgreSQL database or a Redis of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addon {
    /// The name, unique on the control plane (`postgres-brave-4821`).
    pub name: String,
    /// The app it belongs to.
    pub app: String,
    /// `postgres` or `redis`.
    pub kind: String,
    /// The plan (`shared`).
    pub plan: String,
    /// `provisioning`, `ready`, `failed` or `deprovisioning`.
    pub state: String,
    /// The server it is on, as `host:port`.
    pub server: String,
    /// The config vars it injects into the app's releases (names only; their values are
    /// in `config`).
    pub config_vars: Vec<String>,
    /// Why it failed (state `failed`), or why its last removal failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Facts from its server (`GET /v1/addons/{name}` only): size, connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<BTreeMap<String, String>>,
}

/// A backup of a PostgreSQL add-on (`GET /v1/addons/{name}/backups`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    /// Its name, per add-on: `b001`, `b002`...
    pub id: String,
    /// The add-on.
    pub addon: String,
    /// `running`, `completed` or `failed`.
    pub state: String,
    /// Made by the plan's schedule (`backup_every`), else asked for.
    pub scheduled: bool,
    /// When it started.
    pub created_at: String,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The file's size in bytes (completed backups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `POST /v1/apps/{app}/addons`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAddon {
    /// `postgres` or `redis`.
    pub kind: String,
    /// The plan; default: the kind's `default_plan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// The name; default: `<kind>-<adjective>-<number>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `POST /v1/app-setups`: creates an app from a source, as the `app.json` at its root
/// asks (add-ons, config vars, formation, postdeploy script). The source is `source` (a
/// git repository) in the JSON form, or the request's body (a gzipped tarball, this
/// struct then base64url-encoded in the `Slipway-App-Setup` header, without `source`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAppSetup {
    /// The app's name: a DNS label of at most 63 characters.
    pub name: String,
    /// The git repository and ref (JSON form only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<GitDeploy>,
    /// What overrides `app.json`.
    #[serde(default)]
    pub overrides: SetupOverrides,
}

/// The header carrying an app setup sent with a tarball: its JSON, base64url-encoded.
pub const SETUP_HEADER: &str = "slipway-app-setup";

/// The encoding of [`SETUP_HEADER`]: base64url, padded or not.
pub fn setup_header_engine() -> base64::engine::GeneralPurpose {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config =
        GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&base64::alphabet::URL_SAFE, config)
}

/// `overrides` of an app setup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupOverrides {
    /// Config vars: they win over `app.json`'s values and generators, and give required
    /// vars their values.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// What an app setup made (it answers once the app is up, or with the error once
/// everything it made is removed again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSetup {
    /// The app.
    pub app: App,
    /// Its live release.
    pub release: Release,
    /// Its add-ons, ready.
    pub addons: Vec<Addon>,
    /// The config vars made by `generator: secret` (names only).
    pub generated: Vec<String>,
    /// Whether `scripts.postdeploy` ran (and succeeded).
    pub postdeploy: bool,
    /// Where the setup did not do exactly what `app.json` says (a Heroku plan it has not).
    #[serde(default)]
    pub notes: Vec<String>,
}

// The API's error answer, `{"error": {"code", "message", "field"?}}`, is
// `slipway_config::ErrorBody`, shared by every Slipway API.

#[cfg(test)]
mod tests;
