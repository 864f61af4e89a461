//! `update.backupBefore: true`: before a container moves to another image, each of its
//! volumes that has a `backup` is backed up (`backup::run`, with the volume's consistency).
//! It runs before any unit file of the execution is written, so a backup that stops and
//! starts the container (`consistency: stop`) starts it on the image it runs now; a backup
//! that fails holds the container on that image: its unit is not written, it is not
//! restarted, and it reports the failure.

use std::sync::Arc;

use podctl_api::{ContainerSpec, Kind, Revision};
use tracing::{info, warn};

use super::error::ActionError;
use super::gate::Gate;
use super::{Executor, Verdict};
use crate::backup::{self, BackupConfig, Target};
use crate::plan::Step;

impl Executor<'_> {
    /// Backs up the volumes of the containers of `desired` about to be rolled out to a new
    /// image whose manifest asks for it, one container after the other (a backup is
    /// disk- and network-bound, and these are few).
    pub(super) async fn backups_before_updates(
        &self,
        desired: &[&Step],
        revision: &Revision,
        gate: &mut Gate,
    ) {
        for step in desired {
            if gate.held.contains_key(&step.object) {
                continue;
            }
            let Some(spec) = updating_with_backup(step, revision) else {
                continue;
            };
            if let Err(e) = self.back_up_volumes(step, spec, revision).await {
                warn!(object = %step.object, error = %e, "update not made: its backup failed");
                gate.held.insert(step.object.clone(), Verdict::Failed(e));
            }
        }
    }

    async fn back_up_volumes(
        &self,
        step: &Step,
        spec: &ContainerSpec,
        revision: &Revision,
    ) -> Result<(), ActionError> {
        let config = BackupConfig::new(
            &self.state_dir,
            std::path::Path::new(backup::DEFAULT_RUNTIME_DIR),
        );
        for volume in backed_up_volumes(spec, revision) {
            let failed = |source| ActionError::BackupBeforeUpdate {
                volume: volume.to_owned(),
                source: Arc::new(source),
            };
            let target = Target::resolve(revision, volume).map_err(failed)?;
            let report = backup::run(self.podman, self.systemd, revision, &target, &config)
                .await
                .map_err(failed)?;
            info!(
                object = %step.object,
                volume,
                snapshot = %report.snapshot,
                "backed up before the update"
            );
        }
        Ok(())
    }
}

/// The container's spec when `step` moves it to another image (a gated rollout: there is
/// an image it runs now) and its manifest has `update.backupBefore: true`.
fn updating_with_backup<'r>(step: &Step, revision: &'r Revision) -> Option<&'r ContainerSpec> {
    if step.object.kind != Kind::Container {
        return None;
    }
    let gated = step.is_gated_update();
    let spec = revision.get(&step.object)?.as_container()?;
    (gated && spec.update.backup_before).then_some(spec)
}

/// The volumes the container mounts that have a `backup`, in mount order, once each.
fn backed_up_volumes<'r>(spec: &'r ContainerSpec, revision: &'r Revision) -> Vec<&'r str> {
    let mut volumes: Vec<&str> = Vec::new();
    for name in spec.volumes.iter().filter_map(|m| m.volume.as_ref()) {
        let has_backup = revision
            .get(&podctl_api::ObjectRef::new(Kind::Volume, name.clone()))
            .and_then(|o| o.as_volume())
            .is_some_and(|v| v.backup.is_some());
        if has_backup && !volumes.contains(&name.as_str()) {
            volumes.push(name.as_str());
        }
    }
    volumes
}
