//! Slugs: a release's runnable code, unpacked on disk under `<data_dir>/slugs/<app>/<id>`,
//! and the pieces around them: the Procfile, gzipped tarballs (packed by the CLI,
//! unpacked by the control plane with size limits and no path escapes).
//!
//! Until builds exist, a deployed source *is* the slug (see [`crate::build`]). A slug's
//! id is derived from its content (the tarball's SHA-256 or the git commit), so deploying
//! the same code twice reuses one directory; slugs stay as long as their app, for
//! rollbacks. Every dyno of a release runs in its slug's directory (shared, like a
//! read-mostly checkout; apps that write files write them there).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest Procfile read.
const MAX_PROCFILE: u64 = 64 * 1024;

/// A problem with a source or its Procfile.
#[derive(Debug, thiserror::Error)]
pub enum SlugError {
    /// The source has no Procfile.
    #[error("the source has no Procfile at its root: add one, e.g. `web: python3 -m http.server $PORT`")]
    NoProcfile,
    /// The Procfile is malformed.
    #[error("Procfile: {0}")]
    Procfile(String),
    /// The archive is not a gzipped tarball, or is damaged.
    #[error("not a valid gzipped tarball: {0}")]
    Archive(String),
    /// The archive unpacks to too much.
    #[error("the source unpacks to more than {max} bytes (deploy.max_source_bytes)")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// A file system operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SlugError {
    let what = what.into();
    move |source| SlugError::Io { what, source }
}

/// Checks a process type name: 1 to 30 of `a-z 0-9 _ -`, starting with a letter or digit.
pub fn check_process_type(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 30
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not a process type: use 1 to 30 of a-z, 0-9, '_' and '-', like \"web\" or \"worker\""))
    }
}

/// Parses a Procfile: `type: command` lines; blank lines and `#` comments are skipped.
pub fn parse_procfile(text: &str) -> Result<BTreeMap<String, String>, SlugError> {
    let mut types = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, command)) = line.split_once(':') else {
            return Err(SlugError::Procfile(format!("line {n}: expected `<type>: <command>`, found {line:?}")));
        };
        let (name, command) = (name.trim(), command.trim());
        check_process_type(name).map_err(|p| SlugError::Procfile(format!("line {n}: {p}")))?;
        if command.is_empty() {
            return Err(SlugError::Procfile(format!("line {n}: process type {name:?} has no command")));
        }
        if types.insert(name.to_owned(), command.to_owned()).is_some() {
            return Err(SlugError::Procfile(format!("line {n}: process type {name:?} is declared twice")));
        }
    }
    if types.is_empty() {
        return Err(SlugError::Procfile("it declares no process; add a line like `web: python3 app.py`".into()));
    }
    Ok(types)
}

/// Reads and parses `<dir>/Procfile`.
pub fn read_procfile(dir: &Path) -> Result<BTreeMap<String, String>, SlugError> {
    let path = dir.join("Procfile");
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SlugError::NoProcfile),
        Err(e) => return Err(io("reading the Procfile")(e)),
    };
    let mut text = String::new();
    file.take(MAX_PROCFILE)
        .read_to_string(&mut text)
        .map_err(|e| SlugError::Procfile(format!("not readable as UTF-8 text: {e}")))?;
    parse_procfile(&text)
}

/// The directory holding the source: `dir` itself, or its only subdirectory when the
/// Procfile is in there (a tarball made of one top-level folder).
pub fn source_root(dir: &Path) -> PathBuf {
    if dir.join("Procfile").exists() {
        return dir.to_owned();
    }
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|it| it.filter_map(Result::ok).map(|e| e.path()).take(2).collect())
        .unwrap_or_default();
    match entries.as_slice() {
        [only] if only.is_dir() && only.join("Procfile").exists() => only.clone(),
        _ => dir.to_owned(),
    }
}

/// Unpacks the gzipped tarball at `file` into `dest` (which must exist), refusing more
/// than `max_bytes` of content. Entries that would land outside `dest` (absolute paths,
/// `..`, through symlinks) are refused by `tar`'s `unpack_in`; devices and FIFOs are
/// skipped.
pub fn unpack(file: &Path, dest: &Path, max_bytes: u64) -> Result<(), SlugError> {
    let archive_error = |e: std::io::Error| SlugError::Archive(e.to_string());
    let reader = std::fs::File::open(file).map_err(io("opening the upload"))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(reader)));
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_unpack_xattrs(false);
    archive.set_overwrite(true);
    let mut total: u64 = 0;
    for entry in archive.entries().map_err(archive_error)? {
        let mut entry = entry.map_err(archive_error)?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir() || kind.is_symlink() || kind.is_hard_link()) {
            continue;
        }
        total = total.saturating_add(entry.size());
        if total > max_bytes {
            return Err(SlugError::TooLarge { max: max_bytes });
        }
        let path = entry.path().map(|p| p.display().to_string()).unwrap_or_default();
        let inside = entry.unpack_in(dest).map_err(|e| SlugError::Archive(format!("{path}: {e}")))?;
        if !inside {
            return Err(SlugError::Archive(format!("{path:?} points outside the archive's directory")));
        }
    }
    Ok(())
}

/// Packs `dir` into a gzipped tarball (paths relative to `dir`), leaving out `.git` and
/// `.slipway` directories and keeping symlinks as symlinks.
pub fn pack_dir(dir: &Path) -> std::io::Result<Vec<u8>> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    builder.follow_symlinks(false);
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(dir.join(&rel))?.collect::<Result<_, _>>()?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let name = entry.file_name();
            if name == ".git" || name == ".slipway" {
                continue;
            }
            let rel_path = rel.join(&name);
            let file_type = entry.file_type()?;
            builder.append_path_with_name(entry.path(), &rel_path)?;
            if file_type.is_dir() {
                stack.push(rel_path);
            }
        }
    }
    builder.into_inner()?.finish()
}

/// Packs in-memory files (path, content, mode) into a gzipped tarball.
pub fn pack_files(files: &[(&str, &[u8], u32)]) -> std::io::Result<Vec<u8>> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    for (path, content, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(*mode);
        header.set_mtime(0);
        header.set_cksum();
        builder.append_data(&mut header, path, *content)?;
    }
    builder.into_inner()?.finish()
}

/// The slugs on disk.
#[derive(Debug, Clone)]
pub struct Slugs {
    root: PathBuf,
    tmp: PathBuf,
}

impl Slugs {
    /// Slugs under `<data_dir>/slugs`, work space under `<data_dir>/tmp`.
    pub fn new(data_dir: &Path) -> Slugs {
        Slugs { root: data_dir.join("slugs"), tmp: data_dir.join("tmp") }
    }

    /// Creates the directories, and empties the work space left by a previous run.
    pub fn prepare(&self) -> Result<(), SlugError> {
        let _ = std::fs::remove_dir_all(&self.tmp);
        std::fs::create_dir_all(&self.root).map_err(io(format!("creating {}", self.root.display())))?;
        std::fs::create_dir_all(&self.tmp).map_err(io(format!("creating {}", self.tmp.display())))
    }

    /// A new temporary directory (removed when dropped).
    pub fn temp_dir(&self) -> Result<tempfile::TempDir, SlugError> {
        tempfile::Builder::new().prefix("work-").tempdir_in(&self.tmp).map_err(io("creating a temporary directory"))
    }

    /// The directory of slug `id` of `app`.
    pub fn dir(&self, app: &str, id: &str) -> PathBuf {
        self.root.join(app).join(id)
    }

    /// Moves a prepared source tree into place as slug `id` (kept as is if it exists).
    pub fn install(&self, app: &str, id: &str, tree: &Path) -> Result<PathBuf, SlugError> {
        let dest = self.dir(app, id);
        if dest.exists() {
            return Ok(dest);
        }
        let parent = self.root.join(app);
        std::fs::create_dir_all(&parent).map_err(io(format!("creating {}", parent.display())))?;
        std::fs::rename(tree, &dest).map_err(io(format!("moving the source to {}", dest.display())))?;
        Ok(dest)
    }

    /// Deletes every slug of `app`.
    pub fn remove_app(&self, app: &str) {
        let dir = self.root.join(app);
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(app, dir = %dir.display(), error = %e, "cannot delete the app's slugs");
        }
    }
}

#[cfg(test)]
mod tests;
