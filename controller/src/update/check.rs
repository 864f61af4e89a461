//! Whether one container has an update, pure: its pin and failed mark from the rollout
//! record, the newest image (the registry's digest, or the ID local storage names under the
//! reference) and what local storage knows of the images' registry digests in, a
//! [`Finding`] out.

use std::fmt;

use crate::rollout::{ImagePin, same_id};

/// An image in local storage, as far as a check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalImage {
    pub id: String,
    /// `REPO@sha256:…`: the manifests it was pulled as.
    pub repo_digests: Vec<String>,
}

/// The newest image a container could run, as its policy finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Latest {
    /// `update.policy: registry`: the digest of the manifest the registry serves for the
    /// reference now, or why the registry could not be asked.
    Registry(Result<String, String>),
    /// `update.policy: local`: the ID local storage names under the reference, if any.
    Local(Option<String>),
}

/// What a check found for one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// It runs the newest image.
    UpToDate,
    /// A newer image: `from` and `to` are registry digests (or image IDs, see
    /// [`pin_digest`]) for a registry policy, image IDs for a local one.
    Update { from: String, to: String },
    /// The newest image failed its gate before: it is not tried again.
    Held { failed: String },
    /// podctl has not rolled out any image for it yet: `apply` comes first.
    NotRolledOut,
    /// The newest image cannot be known.
    Error(String),
}

impl Finding {
    pub fn is_update(&self) -> bool {
        matches!(self, Self::Update { .. })
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Self::Error(_))
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UpToDate => f.write_str("up to date"),
            Self::Update { from, to } => write!(f, "{from} -> {to}"),
            Self::Held { failed } => {
                write!(f, "held: {failed} failed its health gate before")
            }
            Self::NotRolledOut => f.write_str("not rolled out yet (run apply first)"),
            Self::Error(e) => write!(f, "check failed: {e}"),
        }
    }
}

/// Judges one container: `current` and `failed` from its rollout record.
pub fn judge(
    current: Option<&ImagePin>,
    failed: Option<&ImagePin>,
    latest: &Latest,
    images: &[LocalImage],
) -> Finding {
    let Some(current) = current else {
        return Finding::NotRolledOut;
    };
    match latest {
        Latest::Registry(Err(e)) => Finding::Error(e.clone()),
        Latest::Registry(Ok(digest)) => {
            let has = |pin: &ImagePin| {
                local(images, &pin.image_id).is_some_and(|i| has_digest(i, digest))
            };
            if has(current) {
                Finding::UpToDate
            } else if failed.is_some_and(has) {
                Finding::Held {
                    failed: digest.clone(),
                }
            } else {
                Finding::Update {
                    from: pin_digest(current, images),
                    to: digest.clone(),
                }
            }
        }
        Latest::Local(None) => {
            Finding::Error(format!("{} is not in local storage", current.reference))
        }
        Latest::Local(Some(id)) if same_id(&current.image_id, id) => Finding::UpToDate,
        Latest::Local(Some(id)) if failed.is_some_and(|f| same_id(&f.image_id, id)) => {
            Finding::Held { failed: id.clone() }
        }
        Latest::Local(Some(id)) => Finding::Update {
            from: current.image_id.clone(),
            to: id.clone(),
        },
    }
}

/// The registry digest a pinned image was pulled as (from its reference's repository if
/// it has several), or its image ID when it came from no registry (built or loaded locally).
pub fn pin_digest(pin: &ImagePin, images: &[LocalImage]) -> String {
    let digests: Vec<(&str, &str)> = local(images, &pin.image_id)
        .map(|i| {
            i.repo_digests
                .iter()
                .filter_map(|d| d.rsplit_once('@'))
                .collect()
        })
        .unwrap_or_default();
    let repository = repository(&pin.reference);
    digests
        .iter()
        .find(|(repo, _)| *repo == repository)
        .or(digests.first())
        .map_or_else(|| pin.image_id.clone(), |(_, d)| (*d).to_owned())
}

/// `REGISTRY/PATH` of a reference, without its tag or digest.
fn repository(reference: &str) -> &str {
    let name = reference.split_once('@').map_or(reference, |(n, _)| n);
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => name,
    }
}

fn local<'a>(images: &'a [LocalImage], id: &str) -> Option<&'a LocalImage> {
    images.iter().find(|i| same_id(&i.id, id))
}

/// Whether the image was pulled as the manifest `digest` (under any repository: the
/// digest names the content).
fn has_digest(image: &LocalImage, digest: &str) -> bool {
    image
        .repo_digests
        .iter()
        .any(|d| d.rsplit_once('@').is_some_and(|(_, d)| d == digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REF: &str = "127.0.0.1:5000/web:v1";

    fn pin(id: &str) -> ImagePin {
        ImagePin {
            reference: REF.into(),
            image_id: id.into(),
        }
    }

    fn image(id: &str, digest: &str) -> LocalImage {
        LocalImage {
            id: id.into(),
            repo_digests: vec![format!("127.0.0.1:5000/web@{digest}")],
        }
    }

    fn registry(digest: &str) -> Latest {
        Latest::Registry(Ok(digest.into()))
    }

    #[test]
    fn registry_digest_of_the_pinned_image_should_be_up_to_date() {
        let images = [image("aaa", "sha256:d1")];
        assert_eq!(
            judge(Some(&pin("aaa")), None, &registry("sha256:d1"), &images),
            Finding::UpToDate
        );
    }

    #[test]
    fn new_registry_digest_should_be_an_update_from_the_pinned_digest() {
        let images = [image("aaa", "sha256:d1")];
        let found = judge(Some(&pin("aaa")), None, &registry("sha256:d2"), &images);
        assert_eq!(
            found,
            Finding::Update {
                from: "sha256:d1".into(),
                to: "sha256:d2".into()
            }
        );
        assert_eq!(found.to_string(), "sha256:d1 -> sha256:d2");
    }

    #[test]
    fn registry_digest_of_the_failed_image_should_be_held() {
        let images = [image("aaa", "sha256:d1"), image("fff", "sha256:d2")];
        assert_eq!(
            judge(
                Some(&pin("aaa")),
                Some(&pin("fff")),
                &registry("sha256:d2"),
                &images
            ),
            Finding::Held {
                failed: "sha256:d2".into()
            }
        );
        // Another digest after the failed one is an update again.
        assert!(
            judge(
                Some(&pin("aaa")),
                Some(&pin("fff")),
                &registry("sha256:d3"),
                &images
            )
            .is_update()
        );
    }

    #[test]
    fn pinned_digest_should_be_the_one_of_the_reference_repository() {
        let images = [LocalImage {
            id: "aaa".into(),
            repo_digests: vec![
                "localhost/web@sha256:other".into(),
                "127.0.0.1:5000/web@sha256:d1".into(),
            ],
        }];
        assert_eq!(pin_digest(&pin("aaa"), &images), "sha256:d1");
        assert_eq!(repository("127.0.0.1:5000/web"), "127.0.0.1:5000/web");
        assert_eq!(repository("r/web@sha256:abc"), "r/web");
    }

    #[test]
    fn pinned_image_from_no_registry_should_show_its_id() {
        let images = [LocalImage {
            id: "aaa".into(),
            repo_digests: Vec::new(),
        }];
        assert_eq!(
            judge(Some(&pin("aaa")), None, &registry("sha256:d2"), &images),
            Finding::Update {
                from: "aaa".into(),
                to: "sha256:d2".into()
            }
        );
    }

    #[test]
    fn local_policy_should_compare_image_ids() {
        let latest = |id: &str| Latest::Local(Some(id.into()));
        assert_eq!(
            judge(Some(&pin("sha256:aaa")), None, &latest("aaa"), &[]),
            Finding::UpToDate
        );
        assert_eq!(
            judge(Some(&pin("aaa")), None, &latest("bbb"), &[]),
            Finding::Update {
                from: "aaa".into(),
                to: "bbb".into()
            }
        );
        assert_eq!(
            judge(Some(&pin("aaa")), Some(&pin("bbb")), &latest("bbb"), &[]),
            Finding::Held {
                failed: "bbb".into()
            }
        );
        assert!(judge(Some(&pin("aaa")), None, &Latest::Local(None), &[]).is_error());
    }

    #[test]
    fn errors_and_missing_pins_should_be_reported_as_such() {
        let e = Latest::Registry(Err("connection refused".into()));
        assert_eq!(
            judge(Some(&pin("aaa")), None, &e, &[]),
            Finding::Error("connection refused".into())
        );
        assert_eq!(
            judge(None, None, &registry("sha256:d1"), &[]),
            Finding::NotRolledOut
        );
    }
}
