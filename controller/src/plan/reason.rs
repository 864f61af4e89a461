//! Why an object that is as declared still needs work (a repair): one variant per cause,
//! so that code matches on the cause (backoff, `podctl get`) and only people read the text.
//!
//! The `Display` texts are what `diff`, `apply`, `get` and the controller's logs show;
//! scripts and the e2e tests match on them, so they do not change.

use std::fmt;
use std::path::PathBuf;

use podctl_api::{Name, ObjectRef};

use crate::observe::ActiveState;

/// The cause of a [`super::Change::Repair`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepairReason {
    /// systemd gave up on the unit (it failed, or exhausted its restarts).
    UnitFailed,
    /// The unit is not running and not failed (inactive, deactivating, maintenance, ...).
    UnitInactive(ActiveState),
    /// systemd has no unit loaded under the name although the file is there.
    UnitNotLoaded,
    NotEnabled,
    EnabledButShouldNot,
    /// Same desired state, different text: someone edited the file.
    UnitFileEdited,
    /// Its container is still there: the unit file was deleted behind podctl's back.
    UnitFileRemoved,
    /// The container runs another definition than its unit file (an apply or a pass was
    /// stopped between writing the unit and restarting it).
    StaleDefinition {
        running: String,
        desired: String,
    },
    /// The unit file on disk changed since systemd loaded it.
    ReloadPending,
    /// A `pullPolicy: Always` reference now names another image than the one that runs
    /// (both IDs shortened).
    NewerImage {
        running: String,
        reference: String,
        current: String,
    },
    /// A kernel parameter of a HostSettings was changed behind its file (`sysctl -w`).
    SysctlChanged {
        key: String,
        value: String,
    },
    /// Drop-ins change the unit behind the manifest.
    OverriddenByDropIn {
        paths: Vec<PathBuf>,
    },
    /// Only the image is missing: it is pulled.
    ImageMissing,
    /// systemd restarts it together with this dependency (`Requires=`).
    RestartedWith(ObjectRef),
    /// Stopped while this network is recreated, started again after.
    NetworkRecreated(Name),
    /// An Image that is present and pulled again on every apply.
    AlwaysPulled,
    /// The unit runs its image by reference (written before podctl pinned images); the
    /// container already runs the image it is pinned to, so only the file changes.
    ImageNotPinned,
    /// The container runs a new image whose rollout was interrupted before its gate
    /// decided (Ctrl-C, a kill): it is judged now, without a restart.
    RolloutUnjudged,
    /// A blue-green container's idle colour runs beside the serving one (a rollout cut
    /// off before its switch): it is stopped.
    IdleColourRunning(crate::bluegreen::Colour),
    /// A blue-green container's proxy unit is not as desired (missing, stopped, changed).
    ProxyChanged,
    /// A blue-green switch to this colour was cut off half-way: it is finished (or, when
    /// that colour does not run, undone).
    SwitchInterrupted(crate::bluegreen::Colour),
}

impl RepairReason {
    /// The reason a unit that is not running is repaired (started): `None` means systemd
    /// has no such unit loaded.
    pub fn of_stopped_unit(active: Option<&ActiveState>) -> Self {
        match active {
            None => Self::UnitNotLoaded,
            Some(ActiveState::Failed) => Self::UnitFailed,
            Some(other) => Self::UnitInactive(other.clone()),
        }
    }
}

impl fmt::Display for RepairReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnitFailed => f.write_str("unit is failed"),
            Self::UnitInactive(state) => write!(f, "unit is {state}"),
            Self::UnitNotLoaded => f.write_str("unit is not loaded"),
            Self::NotEnabled => f.write_str("unit is not enabled"),
            Self::EnabledButShouldNot => f.write_str("unit is enabled but should not be"),
            Self::UnitFileEdited => f.write_str("unit file edited outside podctl"),
            Self::UnitFileRemoved => f.write_str("unit file removed outside podctl"),
            Self::StaleDefinition { running, desired } => write!(
                f,
                "container runs definition {running}, its unit file is {desired} (an earlier apply was interrupted before the restart)"
            ),
            Self::ReloadPending => f.write_str(
                "unit file changed on disk since systemd loaded it (daemon-reload pending)",
            ),
            Self::NewerImage {
                running,
                reference,
                current,
            } => write!(f, "runs image {running}, {reference} is now {current}"),
            Self::OverriddenByDropIn { paths } => {
                let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "overridden by drop-in {}: podctl never removes it; move the setting into the manifest or delete the file",
                    files.join(", ")
                )
            }
            Self::SysctlChanged { key, value } => {
                write!(f, "sysctl {key} was changed to {value}; applied again")
            }
            Self::ImageMissing => f.write_str("image missing"),
            Self::RestartedWith(with) => write!(f, "restarted with {with}"),
            Self::NetworkRecreated(network) => write!(f, "network {network} is recreated"),
            Self::AlwaysPulled => f.write_str("pullPolicy Always"),
            Self::RolloutUnjudged => f.write_str(
                "runs a new image its health gate has not judged (an interrupted rollout)",
            ),
            Self::IdleColourRunning(colour) => write!(
                f,
                "{colour} runs beside the serving colour (a rollout cut off before its switch)"
            ),
            Self::ProxyChanged => f.write_str("blue-green proxy not as desired"),
            Self::SwitchInterrupted(colour) => {
                write!(f, "a blue-green switch to {colour} was cut off half-way")
            }
            Self::ImageNotPinned => {
                f.write_str("unit runs its image by reference; pinned to the image ID it runs")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use podctl_api::Kind;

    use super::*;

    fn name(s: &str) -> Name {
        s.parse().expect("a valid name")
    }

    /// Every text is the one podctl printed before the reasons were typed: `diff`, `get`
    /// and the e2e tests read them.
    #[test]
    fn repair_reason_display_should_keep_the_texts_users_see() {
        let cases: Vec<(RepairReason, &str)> = vec![
            (RepairReason::UnitFailed, "unit is failed"),
            (
                RepairReason::UnitInactive(ActiveState::Inactive),
                "unit is inactive",
            ),
            (
                RepairReason::UnitInactive(ActiveState::Deactivating),
                "unit is deactivating",
            ),
            (RepairReason::UnitNotLoaded, "unit is not loaded"),
            (RepairReason::NotEnabled, "unit is not enabled"),
            (
                RepairReason::EnabledButShouldNot,
                "unit is enabled but should not be",
            ),
            (
                RepairReason::UnitFileEdited,
                "unit file edited outside podctl",
            ),
            (
                RepairReason::UnitFileRemoved,
                "unit file removed outside podctl",
            ),
            (
                RepairReason::StaleDefinition {
                    running: "0ld0ld0ld0ld".into(),
                    desired: "n3wn3wn3wn3w".into(),
                },
                "container runs definition 0ld0ld0ld0ld, its unit file is n3wn3wn3wn3w (an earlier apply was interrupted before the restart)",
            ),
            (
                RepairReason::ReloadPending,
                "unit file changed on disk since systemd loaded it (daemon-reload pending)",
            ),
            (
                RepairReason::NewerImage {
                    running: "id1".into(),
                    reference: "127.0.0.1:5000/bb:v1".into(),
                    current: "id2".into(),
                },
                "runs image id1, 127.0.0.1:5000/bb:v1 is now id2",
            ),
            (
                RepairReason::OverriddenByDropIn {
                    paths: vec![
                        PathBuf::from("/etc/systemd/system/app.service.d/a.conf"),
                        PathBuf::from("/run/systemd/system.control/app.service.d/b.conf"),
                    ],
                },
                "overridden by drop-in /etc/systemd/system/app.service.d/a.conf, /run/systemd/system.control/app.service.d/b.conf: podctl never removes it; move the setting into the manifest or delete the file",
            ),
            (RepairReason::ImageMissing, "image missing"),
            (
                RepairReason::RestartedWith(ObjectRef::new(Kind::Container, name("db"))),
                "restarted with container/db",
            ),
            (
                RepairReason::NetworkRecreated(name("net")),
                "network net is recreated",
            ),
            (RepairReason::AlwaysPulled, "pullPolicy Always"),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.to_string(), text, "{reason:?}");
        }
    }

    #[test]
    fn a_stopped_unit_should_be_failed_inactive_or_not_loaded_by_its_active_state() {
        assert_eq!(
            RepairReason::of_stopped_unit(Some(&ActiveState::Failed)),
            RepairReason::UnitFailed
        );
        assert_eq!(
            RepairReason::of_stopped_unit(Some(&ActiveState::Maintenance)),
            RepairReason::UnitInactive(ActiveState::Maintenance)
        );
        assert_eq!(
            RepairReason::of_stopped_unit(None),
            RepairReason::UnitNotLoaded
        );
    }
}
