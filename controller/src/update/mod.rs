//! Finding new images for containers that follow their reference (`update.policy: registry`
//! or `local`): which containers a check looks at, which registry references it asks about
//! (each distinct one once), and what it found. `podctl update` and the controller's
//! scheduled check share it; the rollout itself is the reconcile pass's (`rollout/`).
//!
//! This file and `check.rs` are pure; `run.rs` is the shell that asks skopeo and podman.

pub mod check;
mod run;

use std::collections::BTreeMap;
use std::path::PathBuf;

use podctl_api::{ContainerSpec, ImageSource, Kind, ObjectRef, Revision, UpdatePolicy, printable};

pub use check::{Finding, Latest, LocalImage};
pub use run::{CheckError, check, pull};

use crate::render::container::image_reference;

/// How a registry is reached for one reference: as the Image object pulls it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// `Some(false)`: the Image object says `tlsVerify: false`; `None`: the host's
    /// configuration (registries.conf) decides.
    pub tls_verify: Option<bool>,
    pub auth_file: Option<PathBuf>,
}

/// Where a container's new images come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Registry(Access),
    Local,
}

/// One container a check looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub container: String,
    pub reference: String,
    pub source: Source,
}

/// Why the containers asked for cannot be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("container/{0} is not in the manifests")]
    Unknown(String),
    #[error("container/{0} has update.policy none: nothing to check")]
    NoPolicy(String),
}

impl SelectError {
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Unknown(_) => "name a Container of the manifest directory (-f)",
            Self::NoPolicy(_) => {
                "set `update: {policy: registry}` (or `local`) on it; without a policy a container runs its pinned image until the manifest names another"
            }
        }
    }
}

/// The containers to check: every one with an update policy, or the ones named (each must
/// have one).
pub fn targets(revision: &Revision, names: &[String]) -> Result<Vec<Target>, SelectError> {
    let all = revision.of_kind(Kind::Container).filter_map(|o| {
        let spec = o.as_container()?;
        Some((
            o.name().to_string(),
            target(o.name().as_str(), spec, revision),
        ))
    });
    if names.is_empty() {
        return Ok(all.filter_map(|(_, t)| t).collect());
    }
    let mut all: BTreeMap<String, Option<Target>> = all.collect();
    names
        .iter()
        .map(|name| match all.remove(name) {
            Some(Some(t)) => Ok(t),
            Some(None) => Err(SelectError::NoPolicy(printable(name).into_owned())),
            None => Err(SelectError::Unknown(printable(name).into_owned())),
        })
        .collect()
}

fn target(name: &str, spec: &ContainerSpec, revision: &Revision) -> Option<Target> {
    let source = match spec.update.policy {
        UpdatePolicy::None => return None,
        UpdatePolicy::Local => Source::Local,
        UpdatePolicy::Registry => Source::Registry(access(spec, revision)),
    };
    Some(Target {
        container: name.to_owned(),
        reference: image_reference(spec, revision)?.to_string(),
        source,
    })
}

/// The Image object's TLS and credentials, for a container that names one.
fn access(spec: &ContainerSpec, revision: &Revision) -> Access {
    let ImageSource::Object(name) = &spec.image else {
        return Access::default();
    };
    revision
        .get(&ObjectRef::new(Kind::Image, name.clone()))
        .and_then(|o| o.as_image())
        .map(|i| Access {
            tls_verify: (!i.tls_verify).then_some(false),
            auth_file: i.auth_file.as_ref().map(|p| p.as_path().to_path_buf()),
        })
        .unwrap_or_default()
}

/// The registry references to ask about, each once (the first target's access wins).
pub fn lookups(targets: &[Target]) -> BTreeMap<&str, &Access> {
    let mut out = BTreeMap::new();
    for t in targets {
        if let Source::Registry(access) = &t.source {
            out.entry(t.reference.as_str()).or_insert(access);
        }
    }
    out
}

/// One container's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub target: Target,
    pub finding: Finding,
}

impl Checked {
    /// `container/NAME REF old -> new` (or what else was found), escaped for a terminal.
    pub fn line(&self) -> String {
        printable(&format!(
            "container/{} {} {}",
            self.target.container, self.target.reference, self.finding
        ))
        .into_owned()
    }
}

/// What a check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub checked: Vec<Checked>,
    /// Registry requests made (one per distinct reference).
    pub lookups: usize,
}

/// How a check ended, for `--check`'s exit status and the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing would update.
    Current,
    /// Something would update.
    Updates,
    /// A newest image could not be known (errors win over updates: the answer is partial).
    Failed,
}

impl Report {
    pub fn verdict(&self) -> Verdict {
        if self.checked.iter().any(|c| c.finding.is_error()) {
            Verdict::Failed
        } else if self.checked.iter().any(|c| c.finding.is_update()) {
            Verdict::Updates
        } else {
            Verdict::Current
        }
    }

    /// The containers with an update.
    pub fn updates(&self) -> impl Iterator<Item = &Checked> {
        self.checked.iter().filter(|c| c.finding.is_update())
    }

    /// The registry references to pull for the updates found, each once.
    pub fn pulls(&self) -> BTreeMap<&str, &Access> {
        let mut out = BTreeMap::new();
        for c in self.updates() {
            if let Source::Registry(access) = &c.target.source {
                out.entry(c.target.reference.as_str()).or_insert(access);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::plan::tests::revision;

    fn container(name: &str, image: &str, policy: &str) -> String {
        format!(
            "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {{name: {name}}}\nspec:\n  image: {image}\n  update: {{policy: {policy}}}\n"
        )
    }

    fn target(name: &str, reference: &str, source: Source) -> Target {
        Target {
            container: name.into(),
            reference: reference.into(),
            source,
        }
    }

    #[test]
    fn targets_should_be_the_containers_with_a_policy() {
        let r = revision(&[
            (
                "a.yaml",
                &container("a", "127.0.0.1:5000/web:v1", "registry"),
            ),
            ("b.yaml", &container("b", "localhost/web:v1", "local")),
            ("c.yaml", &container("c", "localhost/web:v1", "none")),
        ]);
        let all = targets(&r, &[]).unwrap();
        assert_eq!(
            all,
            vec![
                target(
                    "a",
                    "127.0.0.1:5000/web:v1",
                    Source::Registry(Access::default())
                ),
                target("b", "localhost/web:v1", Source::Local),
            ]
        );
        assert_eq!(targets(&r, &["b".into()]).unwrap().len(), 1);
        assert_eq!(
            targets(&r, &["c".into()]),
            Err(SelectError::NoPolicy("c".into()))
        );
        assert_eq!(
            targets(&r, &["zz".into()]),
            Err(SelectError::Unknown("zz".into()))
        );
    }

    #[test]
    fn each_registry_reference_should_be_looked_up_once() {
        let reg = || Source::Registry(Access::default());
        let t = [
            target("a", "r/web:v1", reg()),
            target("b", "r/web:v1", reg()),
            target("c", "r/web:v2", reg()),
            target("d", "r/web:v1", Source::Local),
        ];
        assert_eq!(
            lookups(&t).keys().copied().collect::<Vec<_>>(),
            ["r/web:v1", "r/web:v2"]
        );
    }

    #[test]
    fn errors_should_win_over_updates_in_the_verdict() {
        let checked = |finding| Checked {
            target: target("a", "r/web:v1", Source::Local),
            finding,
        };
        let update = Finding::Update {
            from: "a".into(),
            to: "b".into(),
        };
        let mut report = Report {
            checked: vec![checked(Finding::UpToDate)],
            lookups: 0,
        };
        assert_eq!(report.verdict(), Verdict::Current);
        report.checked.push(checked(update));
        assert_eq!(report.verdict(), Verdict::Updates);
        // A local update pulls nothing.
        assert!(report.pulls().is_empty());
        report.checked.push(checked(Finding::Error("down".into())));
        assert_eq!(report.verdict(), Verdict::Failed);
        assert_eq!(
            report.checked[1].line(),
            "container/a r/web:v1 a -> b".to_owned()
        );
    }
}
