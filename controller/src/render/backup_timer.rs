//! A volume's `backup.schedule` as two units podctl owns: `podctl-backup@VOLUME.timer`
//! (`OnCalendar=` the schedule, `Persistent=true`) and the oneshot
//! `podctl-backup@VOLUME.service` it starts, which runs `podctl backup run VOLUME -f DIR`.
//!
//! The names carry `@`, which no Container name may hold (DNS-1123), so they can never clash
//! with a container's `NAME.service`. Each is a file of its own, not an instance of a
//! template: systemd loads `podctl-backup@data.service` from that file, and
//! `ListUnitsByNames` answers for it (it refuses a bare template name).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use podctl_api::{Name, VolumeBackup};

use super::{MANAGED_MARKER, quote};

const PREFIX: &str = "podctl-backup@";
const SERVICE: &str = ".service";
const TIMER: &str = ".timer";

/// What the backup service runs: this podctl, against the manifests and the state directory
/// it was applied with (so its records reach the same `/metrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupCommand {
    pub podctl: PathBuf,
    pub manifests: PathBuf,
    /// `--allow-links-to` of the apply, passed on.
    pub link_roots: Vec<PathBuf>,
    /// `--host` of the apply, passed on, so the run reads the same host's revision.
    pub host_file: Option<PathBuf>,
    pub state_dir: PathBuf,
}

impl Default for BackupCommand {
    fn default() -> Self {
        Self {
            podctl: PathBuf::from("/usr/bin/podctl"),
            manifests: PathBuf::from("/etc/podctl/manifests"),
            link_roots: Vec::new(),
            host_file: None,
            state_dir: PathBuf::from(crate::reconcile::DEFAULT_STATE_DIR),
        }
    }
}

impl BackupCommand {
    /// The manifests a timer's run reads: the directory the apply (or the controller) was
    /// given, made absolute but not resolved, so a symlink a sync tool swaps is followed at
    /// each run.
    pub fn set_manifests(&mut self, dir: &Path, link_roots: &[PathBuf], host_file: Option<&Path>) {
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
        self.manifests = absolute(dir);
        self.link_roots = link_roots.iter().map(|p| absolute(p)).collect();
        self.host_file = host_file.map(absolute);
    }
}

/// `podctl-backup@VOLUME.service`.
pub fn service_name(volume: &str) -> String {
    format!("{PREFIX}{volume}{SERVICE}")
}

/// `podctl-backup@VOLUME.timer`.
pub fn timer_name(volume: &str) -> String {
    format!("{PREFIX}{volume}{TIMER}")
}

/// The volume a backup unit's name is for: `podctl-backup@data.timer` -> `data`.
pub fn volume_of(unit: &str) -> Option<&str> {
    let rest = unit.strip_prefix(PREFIX)?;
    rest.strip_suffix(SERVICE)
        .or_else(|| rest.strip_suffix(TIMER))
        .filter(|v| !v.is_empty())
}

/// The two unit files (service, then timer) of `volume`'s schedule; none without one.
pub fn units(
    volume: &Name,
    backup: &VolumeBackup,
    command: &BackupCommand,
) -> Vec<(String, String)> {
    let Some(schedule) = &backup.schedule else {
        return Vec::new();
    };
    let delay = backup.randomized_delay.map_or(0, |d| d.as_std().as_secs());
    vec![
        (service_name(volume.as_str()), service(volume, command)),
        (timer_name(volume.as_str()), timer(volume, schedule, delay)),
    ]
}

fn service(volume: &Name, command: &BackupCommand) -> String {
    let path = |p: &PathBuf| p.to_string_lossy().into_owned();
    let mut argv = vec![
        path(&command.podctl),
        "backup".to_owned(),
        "run".to_owned(),
        volume.to_string(),
        "-f".to_owned(),
        path(&command.manifests),
        "--state-dir".to_owned(),
        path(&command.state_dir),
    ];
    for root in &command.link_roots {
        argv.extend(["--allow-links-to".to_owned(), path(root)]);
    }
    if let Some(host) = &command.host_file {
        argv.extend(["--host".to_owned(), path(host)]);
    }
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        s,
        "{MANAGED_MARKER}\n[Unit]\nDescription=podctl backup of volume {volume}\n\
         Wants=network-online.target\nAfter=network-online.target\n\n\
         [Service]\nType=oneshot\nExecStart={}\n",
        quote::exec_line(&argv)
    );
    s
}

/// `Persistent=true`: a run missed while the host was off happens at the next boot.
/// `AccuracySec=1s`: systemd's default of one minute would move every backup by up to a
/// minute on top of the randomized delay the operator chose.
fn timer(volume: &Name, schedule: &str, delay_secs: u64) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{MANAGED_MARKER}\n[Unit]\nDescription=podctl backup schedule of volume {volume}\n\n\
         [Timer]\nOnCalendar={}\nPersistent=true\nRandomizedDelaySec={delay_secs}\nAccuracySec=1s\n\n\
         [Install]\nWantedBy=timers.target\n",
        quote::value(schedule)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(schedule: Option<&str>) -> VolumeBackup {
        VolumeBackup {
            repository: "main".parse().expect("name"),
            schedule: schedule.map(str::to_owned),
            randomized_delay: Some(podctl_api::values::Duration::from_millis(600_000)),
            retention: None,
            consistency: podctl_api::Consistency::None,
        }
    }

    #[test]
    fn a_schedule_should_render_a_persistent_timer_and_its_oneshot_service() {
        let volume: Name = "pgdata".parse().expect("name");
        let units = units(
            &volume,
            &backup(Some("*-*-* 03:00")),
            &BackupCommand::default(),
        );
        let names: Vec<&str> = units.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["podctl-backup@pgdata.service", "podctl-backup@pgdata.timer"]
        );
        assert!(units[0].1.starts_with(MANAGED_MARKER));
        assert!(units[0].1.contains(
            "ExecStart=/usr/bin/podctl backup run pgdata -f /etc/podctl/manifests --state-dir /var/lib/podctl\n"
        ));
        assert!(
            units[1]
                .1
                .contains("OnCalendar=*-*-* 03:00\nPersistent=true\nRandomizedDelaySec=600\n")
        );
        assert!(units[1].1.contains("WantedBy=timers.target"));
    }

    #[test]
    fn no_schedule_should_render_nothing() {
        let volume: Name = "pgdata".parse().expect("name");
        assert!(units(&volume, &backup(None), &BackupCommand::default()).is_empty());
    }

    #[test]
    fn volume_of_should_read_back_only_backup_unit_names() {
        assert_eq!(volume_of("podctl-backup@data.timer"), Some("data"));
        assert_eq!(volume_of("podctl-backup@data.service"), Some("data"));
        assert_eq!(volume_of("podctl-backup@.service"), None);
        assert_eq!(volume_of("data.service"), None);
    }
}
