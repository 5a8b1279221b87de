//! What every client command gets: the API client, the global flags and standard output.

use super::client::Client;
use super::error::CliError;
use super::output::Out;

/// What the client commands share.
#[derive(Debug)]
pub struct Ctx {
    /// The API client.
    pub client: Client,
    /// `--json`.
    pub json: bool,
    /// `--app`.
    pub app: Option<String>,
    /// Standard output.
    pub out: Out,
}

impl Ctx {
    /// The app given with `--app` (or `SLIPWAY_APP`).
    pub fn app(&self) -> Result<&str, CliError> {
        self.app.as_deref().ok_or_else(|| {
            CliError::usage("no app given").hint("pass --app NAME (or set SLIPWAY_APP); `slipway apps` lists them")
        })
    }
}
