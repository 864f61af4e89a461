//! The controller's scheduled update check (`Work::UpdateCheck`): the same check as
//! `podctl update`, then the pulls of the new registry images; the pass the core requests
//! afterwards rolls them out through the gate. Runs in its own task beside the passes: it
//! only reads and pulls, and the controller holds the host lock for its whole life.

use podctl_api::Revision;
use tracing::{info, warn};

use crate::adapters::podman::PodmanError;
use crate::adapters::registry::Skopeo;
use crate::reconcile::Host;
use crate::update::{self, CheckError, Finding, Report, Source, Verdict};

/// What one check found and pulled, sent back to the loop.
pub(super) struct UpdateChecked {
    pub result: Result<Report, CheckError>,
    /// Each registry reference with an update, and how its pull went.
    pub pulled: Vec<(String, Result<(), PodmanError>)>,
}

impl UpdateChecked {
    /// Whether local storage now holds a new image for some container: a pass rolls it out.
    pub fn found(&self) -> bool {
        let Ok(report) = &self.result else {
            return false;
        };
        report.updates().any(|c| match &c.target.source {
            Source::Local => true,
            Source::Registry(_) => self
                .pulled
                .iter()
                .any(|(r, result)| *r == c.target.reference && result.is_ok()),
        })
    }

    /// Whether every container's newest image is known: the check counts as done for
    /// `podctl_update_last_check_timestamp_seconds`.
    pub fn complete(&self) -> bool {
        self.result
            .as_ref()
            .is_ok_and(|r| r.verdict() != Verdict::Failed)
    }

    /// One journal line per update, held image, failed lookup and failed pull.
    pub fn log(&self) {
        let report = match &self.result {
            Ok(report) => report,
            Err(e) => {
                warn!(error = %e, kind = e.kind(), "update check failed: {e}");
                return;
            }
        };
        for c in &report.checked {
            let object = format!("container/{}", c.target.container);
            let reference = c.target.reference.as_str();
            match &c.finding {
                Finding::Update { from, to } => {
                    info!(object, reference, from, to, "new image: {}", c.line());
                }
                Finding::Held { .. } => info!(object, reference, "{}", c.line()),
                Finding::Error(e) => {
                    warn!(object, reference, error = %e, "update check failed: {}", c.line());
                }
                Finding::UpToDate | Finding::NotRolledOut => {
                    tracing::debug!(object, reference, "{}", c.line());
                }
            }
        }
        for (reference, result) in &self.pulled {
            if let Err(e) = result {
                warn!(reference, error = %e, "cannot pull the new image: {e}");
            }
        }
    }
}

/// Checks every container of `revision` with an update policy and pulls what is new.
pub(super) async fn run(host: &Host, revision: &Revision) -> UpdateChecked {
    let targets = match update::targets(revision, &[]) {
        Ok(t) if !t.is_empty() => t,
        // Without names no target is refused; nothing to check is a complete check.
        Ok(_) | Err(_) => {
            return UpdateChecked {
                result: Ok(Report::default()),
                pulled: Vec::new(),
            };
        }
    };
    let result = update::check(
        &host.podman,
        &Skopeo::default(),
        &host.config.state_dir,
        targets,
    )
    .await;
    let pulled = match &result {
        Ok(report) => update::pull(&host.podman, report).await,
        Err(_) => Vec::new(),
    };
    UpdateChecked { result, pulled }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::podman::Argv;
    use crate::update::{Access, Checked, Target};

    fn checked(name: &str, source: Source, finding: Finding) -> Checked {
        Checked {
            target: Target {
                container: name.into(),
                reference: format!("r/{name}:v1"),
                source,
            },
            finding,
        }
    }

    fn update() -> Finding {
        Finding::Update {
            from: "a".into(),
            to: "b".into(),
        }
    }

    #[test]
    fn a_registry_update_should_count_once_its_pull_succeeded() {
        let report = Report {
            checked: vec![checked("a", Source::Registry(Access::default()), update())],
            lookups: 1,
        };
        let with = |pull: Result<(), PodmanError>| UpdateChecked {
            result: Ok(report.clone()),
            pulled: vec![("r/a:v1".into(), pull)],
        };
        assert!(with(Ok(())).found());
        let failed = PodmanError::Parse {
            argv: Argv(vec!["podman".into()]),
            source: serde_json::from_str::<u8>("x").unwrap_err(),
        };
        assert!(!with(Err(failed)).found());
    }

    #[test]
    fn a_local_update_should_count_without_a_pull() {
        let found = UpdateChecked {
            result: Ok(Report {
                checked: vec![
                    checked("a", Source::Local, update()),
                    checked("b", Source::Local, Finding::Error("gone".into())),
                ],
                lookups: 0,
            }),
            pulled: Vec::new(),
        };
        assert!(found.found());
        assert!(
            !found.complete(),
            "a failed lookup leaves the check incomplete"
        );
    }
}
