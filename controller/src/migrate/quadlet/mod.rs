//! Quadlet units (podman ≥ 4.4): manifests exported as `.container`, `.volume`, `.network`
//! and `.image` files for a given podman release, and such files (with their drop-ins,
//! `NAME.container.d/*.conf`) imported as manifests.
//!
//! What podman cannot do but podctl can (metadata labels, alert thresholds, rollout
//! strategy, a Secret's source) is reported by the export and kept in `X-Podctl…=` keys of
//! the `[Unit]` section, which Quadlet passes through and systemd ignores (systemd.unit(5):
//! keys starting with `X-` are ignored), so that `import quadlet` gives the manifests back.

pub mod export;
pub mod import;
pub mod ini;
pub mod keys;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

pub use export::export;
pub use import::import;
pub use keys::{PodmanVersion, UnitType};

/// `ExecStartPre=` of a container that waits for a dependency's health check, as the export
/// writes it and the import recognises it.
pub(crate) const HEALTH_WAIT_PREFIX: &str = "until podman healthcheck run ";
pub(crate) const HEALTH_WAIT_SUFFIX: &str = " >/dev/null 2>&1; do sleep 1; done";

/// Keys of the `[Unit]` section that carry what Quadlet cannot express.
pub(crate) const X_METADATA: &str = "X-PodctlMetadata";
pub(crate) const X_SPEC: &str = "X-PodctlSpec";
pub(crate) const X_SECRET: &str = "X-PodctlSecret";

/// One Quadlet file and its drop-ins, as read from a directory.
#[derive(Debug, Clone)]
pub struct UnitFile {
    pub path: Arc<Path>,
    /// The file name without its extension (`web` for `web.container`).
    pub stem: String,
    /// `None` for a Quadlet type podctl does not import (`.kube`, `.pod`, `.build`).
    pub unit_type: Option<UnitType>,
    pub extension: String,
    pub text: String,
    /// `NAME.container.d/*.conf` (and `container.d/*.conf`, the drop-ins of every file of
    /// the type), in the order Quadlet applies them.
    pub dropins: Vec<(Arc<Path>, String)>,
}

const QUADLET_EXTENSIONS: &[&str] = &[
    "container",
    "volume",
    "network",
    "image",
    "kube",
    "pod",
    "build",
];

/// Reads the Quadlet files of `dir` (not recursive) and their drop-ins.
pub fn read_dir(dir: &Path) -> anyhow::Result<Vec<UnitFile>> {
    let shown = podctl_api::printable(&dir.display().to_string()).into_owned();
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the Quadlet directory {shown}"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    let mut files = Vec::new();
    for path in names {
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
            continue;
        };
        if !QUADLET_EXTENSIONS.contains(&ext) {
            continue;
        }
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let file_name = format!("{stem}.{ext}");
        let mut dropins = Vec::new();
        // The type-wide directory first, then the unit's own: later entries win.
        for d in [format!("{ext}.d"), format!("{file_name}.d")] {
            let dropin_dir = dir.join(d);
            let Ok(read) = std::fs::read_dir(&dropin_dir) else {
                continue;
            };
            let mut confs: Vec<PathBuf> = read
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "conf"))
                .collect();
            confs.sort();
            for conf in confs {
                let t = std::fs::read_to_string(&conf)
                    .with_context(|| format!("cannot read {}", conf.display()))?;
                dropins.push((Arc::from(conf.as_path()), t));
            }
        }
        files.push(UnitFile {
            path: Arc::from(path.as_path()),
            stem: stem.to_string(),
            unit_type: UnitType::from_extension(ext),
            extension: ext.to_string(),
            text,
            dropins,
        });
    }
    Ok(files)
}

/// A duration as podman (Go) and systemd both read it: `1h30m`, `90s`, `500ms`, no days.
pub(crate) fn go_duration(d: podctl_api::values::Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("h", 3_600_000u128), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}
