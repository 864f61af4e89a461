//! The guard against a revision that would wipe the host: one that declares no container
//! while podctl manages some (a sync tool that left an empty directory, or only a Volume
//! file, behind). `apply`, `diff` and the controller all ask here, so they agree.

use std::fmt;
use std::path::{Path, PathBuf};

use podctl_api::{Kind, Revision};

use super::{Change, Plan};

/// Whether `revision` declares no Container at all.
pub fn declares_no_container(revision: &Revision) -> bool {
    revision.of_kind(Kind::Container).next().is_none()
}

/// A plan refused because it would remove every managed container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WipesTheHost {
    /// The manifest directory, as given.
    pub dir: PathBuf,
    /// How many managed containers it would remove.
    pub removed: usize,
}

impl WipesTheHost {
    /// The refusal of `plan` for `revision`, unless `allow_empty`: the revision declares no
    /// container and the plan removes at least one managed container.
    pub fn check(revision: &Revision, plan: &Plan, allow_empty: bool) -> Option<Self> {
        if allow_empty || !declares_no_container(revision) {
            return None;
        }
        let removed = plan
            .steps
            .iter()
            .filter(|s| {
                s.object.kind == Kind::Container
                    && s.change == Change::Delete
                    && !s.actions.is_empty()
            })
            .count();
        (removed > 0).then(|| Self {
            dir: revision.dir().to_path_buf(),
            removed,
        })
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        "if removing them is what you want, pass --allow-empty; otherwise check that the \
         directory holds the manifests (a sync tool may have left it empty)"
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl std::error::Error for WipesTheHost {}

impl fmt::Display for WipesTheHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the revision in {} declares no container: applying it would remove every container \
             podctl manages ({})",
            self.dir.display(),
            podctl_api::plural(self.removed, "container")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::{DB, converged, revision};

    #[test]
    fn a_volume_only_revision_that_removes_containers_should_be_refused() {
        let with_db = revision(&[("d.yaml", DB)]);
        let observed = converged(&with_db);
        let volume_only = revision(&[(
            "v.yaml",
            "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {name: data}\nspec: {}\n",
        )]);
        let plan = crate::plan::plan(&volume_only, &observed, &Default::default());
        let refused = WipesTheHost::check(&volume_only, &plan, false).expect("refused");
        assert_eq!(refused.removed, 1);
        assert!(
            refused.to_string().contains("declares no container"),
            "{refused}"
        );
        assert_eq!(WipesTheHost::check(&volume_only, &plan, true), None);
        let keep = crate::plan::plan(&with_db, &observed, &Default::default());
        assert_eq!(WipesTheHost::check(&with_db, &keep, false), None);
    }

    #[test]
    fn an_empty_revision_on_an_empty_host_should_pass() {
        let empty = revision(&[]);
        let plan = crate::plan::plan(&empty, &Default::default(), &Default::default());
        assert_eq!(WipesTheHost::check(&empty, &plan, false), None);
    }
}
