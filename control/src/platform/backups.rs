//! Backups of add-ons (PostgreSQL: `pg_dump` custom format, see
//! [`crate::addons::backup`]): making one when asked or when the plan's schedule says
//! so, listing them, restoring one, pruning past the plan's `backup_keep`, and removing
//! them all with their add-on.
//!
//! A backup is recorded `running` first, written to `<data_dir>/backups/<addon>/<id>.dump.partial`
//! and renamed to `<id>.dump` only once complete, so a half-written file is never listed
//! nor restored; a control plane stopped midway marks it failed and removes the partial
//! file at its next start. One backup or restore of an add-on runs at a time (and none
//! while it is destroyed).
//!
//! The schedule is counted from recorded times (the last scheduled backup, else the
//! add-on's creation), so a control plane that was down catches up at once when it
//! starts, with one backup, not one per missed period.

use std::collections::HashSet;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use super::{Platform, PlatformError, invalid};
use crate::addons::{AddonError, BackupFile, Kind, Resource, naming};
use crate::clock;
use crate::model;
use crate::store::{AddonRow, AddonState, BackupRow, BackupState, StoreError, parse_backup_label};

/// The add-ons being backed up, restored or destroyed now.
#[derive(Debug, Default)]
pub(super) struct Jobs(Arc<Mutex<HashSet<String>>>);

/// An add-on marked busy until dropped.
#[derive(Debug)]
pub(super) struct Busy {
    jobs: Arc<Mutex<HashSet<String>>>,
    name: String,
}

impl Jobs {
    /// Marks `name` busy; a conflict if it is already.
    pub(super) fn take(&self, name: &str) -> Result<Busy, PlatformError> {
        let mut busy = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !busy.insert(name.to_owned()) {
            return Err(PlatformError::Conflict(format!(
                "add-on {name:?} is being backed up, restored or destroyed: try again once that is done"
            )));
        }
        Ok(Busy { jobs: self.0.clone(), name: name.to_owned() })
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.name);
    }
}

impl Platform {
    /// Backs add-on `name` up now; answers once the backup is complete (or failed).
    pub async fn create_backup(self: &Arc<Self>, name: &str) -> Result<model::Backup, PlatformError> {
        let addon = self.backed_up_addon(name).await?;
        let busy = self.backup_jobs.take(name)?;
        let platform = self.clone();
        // Spawned: the backup goes on even if the client that asked goes away.
        let task = tokio::spawn(async move { platform.back_up(&addon, false, clock::now_ms(), busy).await });
        task.await.map_err(|e| PlatformError::Unavailable(format!("the backup stopped: {e}")))?
    }

    /// The add-on's backups, oldest first.
    pub async fn backups(&self, name: &str) -> Result<Vec<model::Backup>, PlatformError> {
        let addon = self.backed_up_addon(name).await?;
        Ok(self.store.backups_of(addon.id).await?.iter().map(|b| backup_model(&addon.name, b)).collect())
    }

    /// Restores add-on `name` from its backup `id` (`b001`): what the backup holds
    /// replaces what the database has of the same objects, all or nothing.
    pub async fn restore_backup(&self, name: &str, id: &str) -> Result<model::Backup, PlatformError> {
        let addon = self.backed_up_addon(name).await?;
        let backup = self.completed_backup(&addon, id).await?;
        let _busy = self.backup_jobs.take(name)?;
        let provider = self.addon_provider(&addon)?;
        let file = self.backup_path(&addon.name, &backup.label(), false);
        let resource = Resource { name: addon.name.clone(), server: addon.server.clone() };
        let url = own_url(&addon)?;
        provider.restore(BackupFile { resource: &resource, url: &url, file: &file }).await?;
        tracing::info!(app = %addon.app, addon = %addon.name, backup = %backup.label(), "add-on restored");
        self.logs.event(&addon.app, "", format!("Add-on {} restored from backup {}", addon.name, backup.label()));
        Ok(backup_model(&addon.name, &backup))
    }

    /// Makes the backups the plans' schedules say are due at `now` (Unix ms), one after
    /// the other; what was made (or why not). The scheduler calls it every
    /// `addons.backup_check_interval` with the clock's time.
    pub async fn run_scheduled_backups(self: &Arc<Self>, now: i64) -> Vec<Result<model::Backup, PlatformError>> {
        let mut made = Vec::new();
        let addons = match self.store.all_addons().await {
            Ok(addons) => addons,
            Err(e) => return vec![Err(e.into())],
        };
        for addon in addons {
            let plan = self.config.addons.postgres.plans.get(&addon.plan);
            let Some(every) = plan.and_then(|p| p.backup_every) else { continue };
            if addon.state != AddonState::Ready || Kind::parse(&addon.kind) != Some(Kind::Postgres) {
                continue;
            }
            let last = match self.store.last_scheduled_backup(addon.id).await {
                Ok(last) => last.unwrap_or(addon.created_at),
                Err(e) => {
                    made.push(Err(e.into()));
                    continue;
                }
            };
            let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
            if now < last.saturating_add(every_ms) {
                continue;
            }
            // Busy (being backed up, restored or destroyed): the next check tries again.
            let Ok(busy) = self.backup_jobs.take(&addon.name) else { continue };
            made.push(self.back_up(&addon, true, now, busy).await);
        }
        made
    }

    /// Writes one backup of `addon` (recorded as started at `now`), then prunes its old
    /// ones. Holds `_busy` throughout.
    async fn back_up(
        &self,
        addon: &AddonRow,
        scheduled: bool,
        now: i64,
        _busy: Busy,
    ) -> Result<model::Backup, PlatformError> {
        let provider = self.addon_provider(addon)?;
        let url = own_url(addon)?;
        let row = self.store.create_backup(addon.id, scheduled, now).await.map_err(conflict_or)?;
        let label = row.label();
        let (partial, file) =
            (self.backup_path(&addon.name, &label, true), self.backup_path(&addon.name, &label, false));
        let resource = Resource { name: addon.name.clone(), server: addon.server.clone() };
        let written = async {
            let dir = self.backups_dir(&addon.name);
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| local_failure(&format!("creating {}", dir.display()), &e))?;
            provider.backup(BackupFile { resource: &resource, url: &url, file: &partial }).await?;
            // Renamed once complete: a half-written file is never taken for a backup.
            std::fs::rename(&partial, &file)
                .map_err(|e| local_failure(&format!("keeping the backup as {}", file.display()), &e))?;
            let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            Ok::<i64, AddonError>(i64::try_from(size).unwrap_or(i64::MAX))
        }
        .await;
        let failure = match written {
            Ok(size) => {
                self.store.finish_backup(row.id, Some(size), None, clock::now_ms()).await?;
                tracing::info!(app = %addon.app, addon = %addon.name, backup = %label, size, scheduled, "backup completed");
                self.logs.event(&addon.app, "", format!("Backup {label} of {} completed ({size} bytes)", addon.name));
                None
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                let message = e.to_string();
                self.store.finish_backup(row.id, None, Some(&message), clock::now_ms()).await?;
                tracing::warn!(app = %addon.app, addon = %addon.name, backup = %label, error = %message, "backup failed");
                self.logs.event(&addon.app, "", format!("Backup {label} of {} failed: {message}", addon.name));
                Some(e)
            }
        };
        self.prune_backups(addon).await?;
        if let Some(e) = failure {
            return Err(e.into());
        }
        let row = self.store.backup(addon.id, row.number).await?.ok_or_else(|| no_backup(&addon.name, &label))?;
        Ok(backup_model(&addon.name, &row))
    }

    /// Deletes the oldest completed backups past the plan's `backup_keep` (files, then
    /// records), and as many failed records.
    async fn prune_backups(&self, addon: &AddonRow) -> Result<(), PlatformError> {
        let Some(plan) = self.config.addons.postgres.plans.get(&addon.plan) else { return Ok(()) };
        let keep = usize::try_from(plan.backup_keep).unwrap_or(usize::MAX);
        let all = self.store.backups_of(addon.id).await?;
        for state in [BackupState::Completed, BackupState::Failed] {
            let of_state: Vec<&BackupRow> = all.iter().filter(|b| b.state == state).collect();
            for old in &of_state[..of_state.len().saturating_sub(keep)] {
                let file = self.backup_path(&addon.name, &old.label(), false);
                match std::fs::remove_file(&file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(addon = %addon.name, file = %file.display(), error = %e, "cannot remove an old backup");
                        continue;
                    }
                }
                self.store.delete_backup(old.id).await?;
                tracing::info!(addon = %addon.name, backup = %old.label(), keep, "old backup removed");
            }
        }
        Ok(())
    }

    /// Removes every backup file of add-on `name` (its records go with its own).
    pub(super) fn remove_backup_files(&self, name: &str) -> Result<(), PlatformError> {
        match std::fs::remove_dir_all(self.backups_dir(name)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(local_failure(&format!("removing the backups of {name}"), &e).into()),
        }
    }

    /// At start: backups a previous run left running are failed (their partial files
    /// removed), and backup directories of add-ons with no record are removed.
    pub(super) async fn recover_backups(&self) -> Result<(), PlatformError> {
        let interrupted = self
            .store
            .fail_running_backups("interrupted: the control plane stopped while it ran", clock::now_ms())
            .await?;
        if !interrupted.is_empty() {
            tracing::warn!(backups = interrupted.len(), "backups left running by the previous run are marked failed");
        }
        let known: HashSet<String> = self.store.all_addons().await?.into_iter().map(|a| a.name).collect();
        let Ok(entries) = std::fs::read_dir(self.config.data_dir.join("backups")) else { return Ok(()) };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !known.contains(&name) {
                tracing::warn!(addon = %name, "backups of an add-on with no record: removing them");
                self.remove_backup_files(&name)?;
                continue;
            }
            let Ok(files) = std::fs::read_dir(entry.path()) else { continue };
            for file in files.flatten().filter(|f| f.file_name().to_string_lossy().ends_with(".partial")) {
                let _ = std::fs::remove_file(file.path());
            }
        }
        Ok(())
    }

    /// The add-on `name`, if it is ready and its kind has backups.
    async fn backed_up_addon(&self, name: &str) -> Result<AddonRow, PlatformError> {
        let addon = self.store.addon(name).await?.ok_or_else(|| super::addons::no_addon(name))?;
        let provider = self.addon_provider(&addon)?;
        if !provider.has_backups() {
            return Err(AddonError::no_backups(provider.kind()).into());
        }
        if addon.state != AddonState::Ready {
            return Err(PlatformError::Conflict(format!(
                "add-on {name:?} is {}: backups need it ready",
                addon.state.as_str()
            )));
        }
        Ok(addon)
    }

    /// Backup `id` of `addon`, if completed.
    async fn completed_backup(&self, addon: &AddonRow, id: &str) -> Result<BackupRow, PlatformError> {
        let number =
            parse_backup_label(id).ok_or_else(|| invalid("backup", format!("{id:?} is not a backup id like b001")))?;
        let backup = self
            .store
            .backup(addon.id, number)
            .await?
            .ok_or_else(|| no_backup(&addon.name, &crate::store::backup_label(number)))?;
        if backup.state != BackupState::Completed {
            return Err(PlatformError::Conflict(format!(
                "backup {} of {} is {}: only a completed backup can be restored",
                backup.label(),
                addon.name,
                backup.state.as_str()
            )));
        }
        Ok(backup)
    }

    fn addon_provider(&self, addon: &AddonRow) -> Result<&Arc<dyn crate::addons::Provider>, PlatformError> {
        Kind::parse(&addon.kind).and_then(|k| self.providers.get(k, &addon.plan)).ok_or_else(|| {
            PlatformError::Unavailable(format!(
                "add-on {:?} has plan {:?}, which is no longer in addons.{}.plans",
                addon.name, addon.plan, addon.kind
            ))
        })
    }

    fn backups_dir(&self, addon: &str) -> PathBuf {
        self.config.data_dir.join("backups").join(addon)
    }

    fn backup_path(&self, addon: &str, label: &str, partial: bool) -> PathBuf {
        self.backups_dir(addon).join(if partial { format!("{label}.dump.partial") } else { format!("{label}.dump") })
    }
}

/// The add-on's own URL (its `<ATTACHMENT>_URL`), never the server's admin.
fn own_url(addon: &AddonRow) -> Result<String, PlatformError> {
    addon
        .config
        .get(&naming::var(&addon.attachment, "url"))
        .cloned()
        .ok_or_else(|| PlatformError::Conflict(format!("add-on {:?} has no URL recorded (is it ready?)", addon.name)))
}

/// A failure of the control plane's own disk, named as the dedicated plans name theirs.
fn local_failure(what: &str, e: &std::io::Error) -> AddonError {
    AddonError::Server {
        kind: Kind::Postgres,
        server: crate::addons::dedicated::LOCAL.to_owned(),
        what: what.to_owned(),
        problem: e.to_string(),
    }
}

fn conflict_or(e: StoreError) -> PlatformError {
    match e {
        StoreError::Conflict(message) => PlatformError::Conflict(message),
        e => e.into(),
    }
}

fn no_backup(addon: &str, label: &str) -> PlatformError {
    PlatformError::NotFound(format!(
        "add-on {addon:?} has no backup {label} (list them with `slipway addons backups {addon}`)"
    ))
}

/// The API's view of a backup row.
fn backup_model(addon: &str, row: &BackupRow) -> model::Backup {
    model::Backup {
        id: row.label(),
        addon: addon.to_owned(),
        state: row.state.as_str().to_owned(),
        scheduled: row.scheduled,
        created_at: clock::rfc3339(row.created_at),
        finished_at: row.finished_at.map(clock::rfc3339),
        size: row.size.and_then(|s| u64::try_from(s).ok()),
        error: row.error.clone(),
    }
}
