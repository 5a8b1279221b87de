//! Builds: turning a fetched source into a runnable slug.
//!
//! This is the seam where buildpack-style builds (detect/build for static sites, Node.js,
//! Python; OCI images) will plug in. Until then the only builder is [`SourceIsSlug`]: the
//! source already is the slug, and its `Procfile` says what to run.

use std::collections::BTreeMap;
use std::path::Path;

use futures_util::future::BoxFuture;

use crate::slug::{self, SlugError};

/// What a build produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOutput {
    /// Process type → command.
    pub process_types: BTreeMap<String, String>,
}

/// Turns a source tree into a slug, in place.
pub trait Builder: Send + Sync + std::fmt::Debug {
    /// Builds `app`'s source in `dir` (which becomes the slug) and says what it runs.
    fn build<'a>(&'a self, app: &'a str, dir: &'a Path) -> BoxFuture<'a, Result<BuildOutput, SlugError>>;
}

/// No build: the source runs as it is, as its `Procfile` says.
#[derive(Debug, Clone, Copy, Default)]
pub struct SourceIsSlug;

impl Builder for SourceIsSlug {
    fn build<'a>(&'a self, _app: &'a str, dir: &'a Path) -> BoxFuture<'a, Result<BuildOutput, SlugError>> {
        let dir = dir.to_owned();
        Box::pin(async move {
            let process_types = tokio::task::spawn_blocking(move || slug::read_procfile(&dir))
                .await
                .map_err(|e| SlugError::Procfile(format!("reading stopped: {e}")))??;
            Ok(BuildOutput { process_types })
        })
    }
}
