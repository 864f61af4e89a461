//! The shell of a check: local storage listed once, each distinct registry reference asked
//! once (a few at a time), the records read, every target judged; and the pulls that bring
//! the updates found into local storage, where the next pass rolls them out.

use std::collections::BTreeMap;
use std::path::Path;

use futures_util::stream::{self, StreamExt as _};

use super::check::{self, Latest, LocalImage};
use super::{Access, Checked, Report, Source, Target, lookups};
use crate::adapters::podman::{Podman, PodmanError};
use crate::adapters::registry::Skopeo;
use crate::observe::rollouts;
use crate::plan::image_candidates;

/// Registry requests in flight at once: five references cost about two round trips, and a
/// registry is not hit by dozens of requests from one host.
const LOOKUPS_IN_FLIGHT: usize = 4;

/// Why a check could not judge anything.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot list the images in local storage")]
    Images(#[source] PodmanError),
}

impl CheckError {
    pub fn kind(&self) -> &'static str {
        match self {
            CheckError::Images(_) => "images",
        }
    }
}

/// Checks `targets`: what each one's newest image is, against its rollout record.
pub async fn check(
    podman: &Podman,
    skopeo: &Skopeo,
    state_dir: &Path,
    targets: Vec<Target>,
) -> Result<Report, CheckError> {
    let images = podman.images().await.map_err(CheckError::Images)?;
    let digests = look_up(skopeo, &targets).await;
    let records = rollouts::read_all(state_dir, targets.iter().map(|t| t.container.as_str()));
    let ids: BTreeMap<&str, &str> = images
        .iter()
        .flat_map(|i| i.names.iter().map(|n| (n.as_str(), i.id.as_str())))
        .collect();
    let local: Vec<LocalImage> = images
        .iter()
        .map(|i| LocalImage {
            id: i.id.clone(),
            repo_digests: i.repo_digests.clone(),
        })
        .collect();
    let checked = targets
        .into_iter()
        .map(|target| {
            let latest = latest(&target, &digests, &ids);
            let record = records.get(&target.container);
            let finding = check::judge(
                record.and_then(|r| r.current.as_ref()),
                record.and_then(|r| r.failed.as_ref()),
                &latest,
                &local,
            );
            Checked { target, finding }
        })
        .collect();
    Ok(Report {
        checked,
        lookups: digests.len(),
    })
}

/// The registry digest of each distinct registry reference of `targets` (or why not).
async fn look_up(skopeo: &Skopeo, targets: &[Target]) -> BTreeMap<String, Result<String, String>> {
    let wanted: Vec<(String, Access)> = lookups(targets)
        .into_iter()
        .map(|(r, a)| (r.to_owned(), a.clone()))
        .collect();
    stream::iter(wanted)
        .map(|(reference, access)| async move {
            let digest = skopeo
                .manifest_digest(&reference, access.tls_verify, access.auth_file.as_deref())
                .await
                .map_err(|e| e.to_string());
            (reference, digest)
        })
        .buffer_unordered(LOOKUPS_IN_FLIGHT)
        .collect()
        .await
}

/// The newest image of `target` as its policy finds it: the looked-up digest, or the ID
/// local storage names under the reference (`ids`: every name of every local image).
fn latest(
    target: &Target,
    digests: &BTreeMap<String, Result<String, String>>,
    ids: &BTreeMap<&str, &str>,
) -> Latest {
    match &target.source {
        Source::Registry(_) => Latest::Registry(
            digests
                .get(&target.reference)
                .cloned()
                .unwrap_or_else(|| Err("not looked up".to_owned())),
        ),
        Source::Local => Latest::Local(
            image_candidates(&target.reference)
                .iter()
                .find_map(|c| ids.get(c.as_str()))
                .map(|id| (*id).to_owned()),
        ),
    }
}

/// Pulls each registry reference with an update once; the result per reference.
pub async fn pull(podman: &Podman, report: &Report) -> Vec<(String, Result<(), PodmanError>)> {
    let mut out = Vec::new();
    for (reference, access) in report.pulls() {
        tracing::info!(reference, "pulling the new image");
        let result = podman
            .pull(reference, access.tls_verify, access.auth_file.as_deref())
            .await;
        out.push((reference.to_owned(), result));
    }
    out
}
