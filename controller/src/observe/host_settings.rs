//! What the host has of a HostSettings: podctl's sysctl.d file and journald drop-in, the
//! kernel's current value of each desired parameter (`/proc/sys`), and which sysctl.d file
//! systemd-sysctl applies last for it (the one that wins).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::ownership::owns_unit_file;

/// podctl's sysctl file; `90-` so that distribution defaults (`50-*`) come first and an
/// admin's `99-*` can still win (podctl then reports it).
pub const SYSCTL_FILE: &str = "90-podctl.conf";
/// podctl's drop-in of journald.conf.
pub const JOURNALD_FILE: &str = "90-podctl.conf";

/// Where the host keeps these files; the real paths outside tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPaths {
    /// Where podctl writes its sysctl file.
    pub sysctl_dir: PathBuf,
    /// Every directory systemd-sysctl reads, in its order of precedence for equal names.
    pub sysctl_dirs: Vec<PathBuf>,
    pub journald_dir: PathBuf,
    pub proc_sys: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        Self {
            sysctl_dir: PathBuf::from("/etc/sysctl.d"),
            sysctl_dirs: [
                "/etc/sysctl.d",
                "/run/sysctl.d",
                "/usr/local/lib/sysctl.d",
                "/usr/lib/sysctl.d",
                "/lib/sysctl.d",
            ]
            .into_iter()
            .map(PathBuf::from)
            .collect(),
            journald_dir: PathBuf::from("/etc/systemd/journald.conf.d"),
            proc_sys: PathBuf::from("/proc/sys"),
        }
    }
}

/// The host's side of HostSettings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSettingsStatus {
    pub sysctl_path: PathBuf,
    pub journald_path: PathBuf,
    /// podctl's files as they are (`None`: absent), and whether podctl wrote them.
    pub sysctl_file: Option<OwnedFile>,
    pub journald_file: Option<OwnedFile>,
    /// The kernel's value of each desired key, whitespace folded; `None`: no such key.
    pub values: BTreeMap<String, Option<String>>,
    /// For each desired key, the sysctl.d file systemd-sysctl applies last among those that
    /// set it.
    pub winners: BTreeMap<String, PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedFile {
    pub content: String,
    pub managed: bool,
}

/// Reads the files and the values of `keys`.
pub fn observe<'k>(
    paths: &HostPaths,
    keys: impl IntoIterator<Item = &'k String>,
) -> HostSettingsStatus {
    let sysctl_path = paths.sysctl_dir.join(SYSCTL_FILE);
    let journald_path = paths.journald_dir.join(JOURNALD_FILE);
    let files = sysctl_files(&paths.sysctl_dirs);
    let mut status = HostSettingsStatus {
        sysctl_file: read_owned(&sysctl_path),
        journald_file: read_owned(&journald_path),
        sysctl_path,
        journald_path,
        ..HostSettingsStatus::default()
    };
    for key in keys {
        status
            .values
            .insert(key.clone(), value_of(&paths.proc_sys, key));
        if let Some(winner) = winner(&files, key) {
            status.winners.insert(key.clone(), winner);
        }
    }
    status
}

fn read_owned(path: &Path) -> Option<OwnedFile> {
    let content = std::fs::read_to_string(path).ok()?;
    Some(OwnedFile {
        managed: owns_unit_file(&content),
        content,
    })
}

/// `net.core.somaxconn` -> `/proc/sys/net/core/somaxconn` (a `/` inside a word is a dot of
/// an interface name), its value with whitespace folded (the kernel separates numbers with
/// tabs).
fn value_of(proc_sys: &Path, key: &str) -> Option<String> {
    let relative: PathBuf = key.split('.').map(|w| w.replace('/', ".")).collect();
    let text = std::fs::read_to_string(proc_sys.join(relative)).ok()?;
    Some(fold(&text))
}

pub fn fold(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The sysctl.d files systemd-sysctl reads, in the order it applies them: by file name,
/// the first directory holding a name hiding the same name in the later ones.
fn sysctl_files(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut by_name: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for path in entries.flatten().map(|e| e.path()) {
            let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            if name.ends_with(".conf") {
                by_name.entry(name).or_insert(path);
            }
        }
    }
    by_name.into_values().collect()
}

/// The last of `files` with a line setting `key` (`key = value`, `-key = value`).
fn winner(files: &[PathBuf], key: &str) -> Option<PathBuf> {
    files
        .iter()
        .rev()
        .find(|f| {
            std::fs::read_to_string(f).is_ok_and(|text| {
                text.lines().any(|line| {
                    let line = line.trim().trim_start_matches('-');
                    line.split_once('=')
                        .is_some_and(|(k, _)| k.trim().replace('/', ".") == key.replace('/', "."))
                })
            })
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_file_by_name_setting_a_key_should_win() {
        let root = tempfile::tempdir().expect("tempdir");
        let (etc, lib) = (root.path().join("etc"), root.path().join("lib"));
        for d in [&etc, &lib] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(etc.join("90-podctl.conf"), "net.core.somaxconn = 4096\n").expect("w");
        std::fs::write(lib.join("99-vendor.conf"), "net.core.somaxconn=128\n").expect("w");
        // Hidden by /etc's file of the same name: not applied.
        std::fs::write(lib.join("90-podctl.conf"), "vm.swappiness = 1\n").expect("w");
        let files = sysctl_files(&[etc.clone(), lib.clone()]);
        assert_eq!(
            winner(&files, "net.core.somaxconn"),
            Some(lib.join("99-vendor.conf"))
        );
        assert_eq!(winner(&files, "vm.swappiness"), None);
    }

    #[test]
    fn values_should_be_read_from_proc_sys_with_whitespace_folded() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join("net/ipv4")).expect("mkdir");
        std::fs::write(
            root.path().join("net/ipv4/tcp_rmem"),
            "4096\t87380\t6291456\n",
        )
        .expect("w");
        assert_eq!(
            value_of(root.path(), "net.ipv4.tcp_rmem").as_deref(),
            Some("4096 87380 6291456")
        );
        assert_eq!(value_of(root.path(), "net.ipv4.nope"), None);
    }
}
