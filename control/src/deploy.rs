//! Getting a deploy's source onto disk: an uploaded gzipped tarball, or a git repository
//! at a ref.
//!
//! Git goes through the `git` program rather than a library: it is on every machine that
//! has code to deploy, and it already speaks every transport and authentication the
//! operator has set up (SSH agents and keys, credential helpers, `insteadOf` rules) —
//! a library would have to be configured again for each. Each clone runs with prompts
//! off, a timeout, and only the ordinary transports allowed (`ext::` and other remote
//! helpers that run commands are refused), and the checked-out tree loses its `.git`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::model::SourceRef;
use crate::slug::{self, SlugError};

/// A deploy's source, fetched into a temporary directory.
#[derive(Debug)]
pub struct Fetched {
    /// Holds the temporary directory until the slug is installed.
    pub work: tempfile::TempDir,
    /// The source tree (inside `work`).
    pub root: PathBuf,
    /// Where it came from.
    pub source: SourceRef,
    /// A content-derived slug id.
    pub slug_id: String,
}

/// Why a source could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The archive or the tree is unusable.
    #[error(transparent)]
    Slug(#[from] SlugError),
    /// A field of the request is invalid.
    #[error("{field}: {problem}")]
    Invalid {
        /// `url` or `ref`.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// git failed.
    #[error("git {step}: {message}")]
    Git {
        /// `clone`, `checkout`, ...
        step: &'static str,
        /// git's own words.
        message: String,
    },
}

/// Unpacks an uploaded tarball (already on disk, with its SHA-256).
pub async fn from_tarball(
    slugs: &slug::Slugs,
    upload: PathBuf,
    sha256: String,
    max_bytes: u64,
) -> Result<Fetched, FetchError> {
    let work = slugs.temp_dir()?;
    let tree = work.path().join("src");
    let unpacked = tokio::task::spawn_blocking(move || {
        std::fs::create_dir(&tree)
            .map_err(|source| SlugError::Io { what: "creating the source directory".into(), source })?;
        slug::unpack(&upload, &tree, max_bytes)?;
        Ok::<_, SlugError>(slug::source_root(&tree))
    })
    .await
    .map_err(|e| SlugError::Archive(format!("unpacking stopped: {e}")))?;
    let root = unpacked?;
    let slug_id = format!("t-{}", &sha256[..sha256.len().min(24)]);
    Ok(Fetched { work, root, source: SourceRef::Tarball { sha256 }, slug_id })
}

/// Checks a repository URL: no options in disguise, no command-running transports.
pub fn check_git_url(url: &str) -> Result<(), FetchError> {
    let bad = |problem: &str| Err(FetchError::Invalid { field: "url", problem: problem.to_owned() });
    if url.is_empty() || url.len() > 2048 {
        return bad("must be 1 to 2048 characters long");
    }
    if url.starts_with('-') {
        return bad("must not start with '-'");
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("must not contain spaces or control characters");
    }
    // `<transport>::<address>` runs a remote helper (`ext::` runs any command).
    if let Some((scheme, _)) = url.split_once("::")
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '+' || c == '.')
    {
        return bad("remote helpers (`<transport>::...`) are not allowed; use an https://, ssh:// or file:// URL");
    }
    Ok(())
}

/// Checks a git ref: a branch, tag or commit name.
pub fn check_git_ref(reference: &str) -> Result<(), FetchError> {
    let ok = !reference.is_empty()
        && reference.len() <= 255
        && !reference.starts_with('-')
        && !reference.contains("..")
        && !reference.contains("@{")
        && reference.bytes().all(|b| b.is_ascii_alphanumeric() || b"._/-+@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(FetchError::Invalid { field: "ref", problem: format!("{reference:?} is not a branch, tag or commit name") })
    }
}

/// Clones `url` and checks out `reference` (default: the repository's default branch).
pub async fn from_git(
    slugs: &slug::Slugs,
    git: &Path,
    url: &str,
    reference: Option<&str>,
    timeout: Duration,
) -> Result<Fetched, FetchError> {
    check_git_url(url)?;
    if let Some(r) = reference {
        check_git_ref(r)?;
    }
    let work = slugs.temp_dir()?;
    let tree = work.path().join("src");
    let run = async {
        let tree_arg = tree.to_string_lossy().into_owned();
        git_cmd(git, None, &["clone", "--quiet", "--no-checkout", "--", url, &tree_arg], "clone").await?;
        let candidates: Vec<String> = match reference {
            None => vec!["HEAD".to_owned()],
            Some(r) => vec![format!("refs/remotes/origin/{r}"), format!("refs/tags/{r}"), r.to_owned()],
        };
        let mut commit = None;
        for candidate in &candidates {
            let spec = format!("{candidate}^{{commit}}");
            if let Ok(sha) =
                git_cmd(git, Some(&tree), &["rev-parse", "--verify", "--quiet", "--end-of-options", &spec], "rev-parse")
                    .await
            {
                commit = Some(sha.trim().to_owned());
                break;
            }
        }
        let Some(commit) = commit else {
            let asked = reference.unwrap_or("HEAD");
            return Err(FetchError::Git {
                step: "checkout",
                message: format!("{asked:?} is not a branch, tag or commit of {url}"),
            });
        };
        git_cmd(
            git,
            Some(&tree),
            &["-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", &commit],
            "checkout",
        )
        .await?;
        Ok(commit)
    };
    let commit = tokio::time::timeout(timeout, run).await.map_err(|_| FetchError::Git {
        step: "clone",
        message: format!("took longer than {timeout:?} (deploy.git_timeout)"),
    })??;
    let dot_git = tree.join(".git");
    tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dot_git))
        .await
        .map_err(|e| SlugError::Archive(e.to_string()))?
        .map_err(|source| SlugError::Io { what: "removing .git from the checkout".into(), source })?;
    let slug_id = format!("g-{}", &commit[..commit.len().min(24)]);
    let source = SourceRef::Git { url: url.to_owned(), reference: reference.unwrap_or("HEAD").to_owned(), commit };
    Ok(Fetched { work, root: tree, source, slug_id })
}

/// Runs git without prompts, with only the ordinary transports; returns its stdout.
async fn git_cmd(git: &Path, dir: Option<&Path>, args: &[&str], step: &'static str) -> Result<String, FetchError> {
    let mut command = Command::new(git);
    if let Some(dir) = dir {
        command.arg("-C").arg(dir);
    }
    command
        .args(["-c", "protocol.allow=never"])
        .args(["-c", "protocol.https.allow=always", "-c", "protocol.http.allow=always"])
        .args(["-c", "protocol.ssh.allow=always", "-c", "protocol.git.allow=always"])
        .args(["-c", "protocol.file.allow=always"])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "/bin/false")
        .env("SSH_ASKPASS", "/bin/false")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if std::env::var_os("GIT_SSH_COMMAND").is_none() {
        command.env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes");
    }
    let output = command.output().await.map_err(|e| FetchError::Git {
        step,
        message: format!("cannot run {}: {e} (is git installed? see deploy.git)", git.display()),
    })?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let message = stderr.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("failed").to_owned();
    Err(FetchError::Git { step, message })
}

#[cfg(test)]
mod tests;
