//! Guarded rollouts, the pure part: which image a container runs (pinned by image ID),
//! when an image change is a rollout and when it is held back (`decide`), the record of
//! a container's rollouts (`record`), and the health gate that judges one (`gate`). The
//! executor's `execute/rollout.rs` is the shell that restarts, watches and rolls back.

pub mod gate;
pub mod record;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use gate::{FailReason, GateSpec};
pub use record::{Entry, RolloutRecord, RolloutResult};

/// Stand-in for the image word of a unit's `podman run` line in a unit template: the
/// pinned image ID (or the reference, before it is known) replaces it.
pub const IMAGE_PLACEHOLDER: &str = "@@PODCTL_IMAGE@@";

/// An image a container was rolled out with: the reference it was asked for by, and the
/// image ID that reference named then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImagePin {
    pub reference: String,
    pub image_id: String,
}

impl ImagePin {
    /// The first 12 hex digits of the ID, as podman shows it.
    pub fn short_id(&self) -> &str {
        short_id(&self.image_id)
    }
}

impl fmt::Display for ImagePin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.reference, self.short_id())
    }
}

/// The first 12 hex digits of an image ID.
pub fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

/// Whether two image IDs name the same image (one may be abbreviated).
pub fn same_id(a: &str, b: &str) -> bool {
    let (a, b) = (
        a.strip_prefix("sha256:").unwrap_or(a),
        b.strip_prefix("sha256:").unwrap_or(b),
    );
    !a.is_empty() && !b.is_empty() && (a.starts_with(b) || b.starts_with(a))
}

/// What started a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Trigger {
    /// The manifest names another image reference.
    Manifest,
    /// The same reference names another image now (a pull, or a tag moved locally).
    ImageChanged,
    /// `podctl rollback`.
    Rollback,
    /// The first image podctl pinned for this container: nothing to judge it against.
    FirstPin,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Manifest => "manifest",
            Self::ImageChanged => "image-changed",
            Self::Rollback => "rollback",
            Self::FirstPin => "first-pin",
        })
    }
}

/// One rollout the executor carries out after the container's restart: judge `to`
/// with the gate and keep it, or put `from` back. Without `from` it only records the pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    pub container: String,
    pub unit: String,
    pub from: Option<ImagePin>,
    pub to: ImagePin,
    pub trigger: Trigger,
    pub gate: GateSpec,
    /// The unit's text with [`IMAGE_PLACEHOLDER`] for the image word: a rollback writes
    /// it back with `from`.
    pub template: String,
    /// Units that `Requires=` this one: a failed new version may have taken them down,
    /// so a rollback starts them again.
    pub dependents: Vec<String>,
}

impl Rollout {
    /// Whether the new image is judged by a gate (there is something to roll back to).
    pub fn is_gated(&self) -> bool {
        self.from.is_some()
    }
}

/// The unit text of a template with `image` as the image word.
pub fn with_image(template: &str, image: &str) -> String {
    template.replace(IMAGE_PLACEHOLDER, image)
}

/// Which image a container is to run, decided from its desired reference, what that
/// reference names in local storage now, the container's record and what it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// It runs (or is to run) the image it was rolled out with.
    Pinned(ImagePin),
    /// A new image, judged by the gate against `from` (or only recorded, without).
    Roll {
        from: Option<ImagePin>,
        to: ImagePin,
        trigger: Trigger,
    },
    /// The reference is not in local storage yet: the executor pins it after the pull.
    AfterPull {
        from: Option<ImagePin>,
        trigger: Trigger,
    },
    /// The desired image failed its gate before: the current one stays until the
    /// manifest or the image behind the reference changes.
    Held { current: ImagePin, failed: ImagePin },
}

impl Decision {
    /// The image word the unit is rendered with: a pinned ID, or `None` for the reference.
    pub fn image_word(&self) -> Option<&str> {
        match self {
            Self::Pinned(pin) | Self::Held { current: pin, .. } | Self::Roll { to: pin, .. } => {
                Some(&pin.image_id)
            }
            Self::AfterPull { .. } => None,
        }
    }
}

/// Decides what `container` runs. `resolved` is the ID `reference` names in local storage
/// (`None`: not there, a pull comes first); `running` the image the container runs now,
/// if podctl's container of that name runs. `follow_tag`: a new image under the same
/// reference is rolled out (`update.policy` registry or local, or an Image pulled
/// `Always`); otherwise the pin holds until the manifest names another reference.
pub fn decide(
    reference: &str,
    resolved: Option<&str>,
    record: Option<&RolloutRecord>,
    running: Option<ImagePin>,
    follow_tag: bool,
) -> Decision {
    // What runs is the rollback target: the recorded pin, or (before any record, e.g. a
    // unit from an older podctl) the image the running container was made from.
    let current = record.and_then(|r| r.current.clone()).or(running);
    let trigger = |current: &ImagePin| {
        if current.reference == reference {
            Trigger::ImageChanged
        } else {
            Trigger::Manifest
        }
    };
    let Some(id) = resolved else {
        let trigger = current.as_ref().map_or(Trigger::FirstPin, trigger);
        return Decision::AfterPull {
            from: current,
            trigger,
        };
    };
    let to = ImagePin {
        reference: reference.to_owned(),
        image_id: id.to_owned(),
    };
    match current {
        Some(current) if same_id(&current.image_id, id) => Decision::Pinned(ImagePin {
            // The reference shown is the desired one (two tags may name one image).
            reference: reference.to_owned(),
            image_id: current.image_id,
        }),
        Some(current) if !follow_tag && current.reference == reference => Decision::Pinned(current),
        Some(current) => match record.and_then(|r| r.failed.clone()) {
            Some(failed) if same_id(&failed.image_id, id) => Decision::Held { current, failed },
            _ => Decision::Roll {
                trigger: trigger(&current),
                from: Some(current),
                to,
            },
        },
        None => Decision::Roll {
            from: None,
            to,
            trigger: Trigger::FirstPin,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(reference: &str, id: &str) -> ImagePin {
        ImagePin {
            reference: reference.into(),
            image_id: id.into(),
        }
    }

    fn record(current: ImagePin, failed: Option<ImagePin>) -> RolloutRecord {
        RolloutRecord {
            current: Some(current),
            failed,
            ..RolloutRecord::new("web")
        }
    }

    #[test]
    fn same_image_should_stay_pinned() {
        let r = record(pin("web:v1", "aaa"), None);
        assert_eq!(
            decide("web:v1", Some("aaa"), Some(&r), None, true),
            Decision::Pinned(pin("web:v1", "aaa"))
        );
    }

    #[test]
    fn new_reference_should_roll_from_the_pinned_image() {
        let r = record(pin("web:v1", "aaa"), None);
        assert_eq!(
            decide("web:v2", Some("bbb"), Some(&r), None, true),
            Decision::Roll {
                from: Some(pin("web:v1", "aaa")),
                to: pin("web:v2", "bbb"),
                trigger: Trigger::Manifest
            }
        );
    }

    #[test]
    fn moved_tag_should_roll_as_image_changed() {
        let r = record(pin("web:v1", "aaa"), None);
        assert!(matches!(
            decide("web:v1", Some("ccc"), Some(&r), None, true),
            Decision::Roll {
                trigger: Trigger::ImageChanged,
                ..
            }
        ));
    }

    #[test]
    fn failed_image_should_be_held_until_the_image_changes() {
        let r = record(pin("web:v2", "bbb"), Some(pin("web:broken", "fff")));
        assert_eq!(
            decide("web:broken", Some("fff"), Some(&r), None, true),
            Decision::Held {
                current: pin("web:v2", "bbb"),
                failed: pin("web:broken", "fff")
            }
        );
        // A new image under the same tag is tried again.
        assert!(matches!(
            decide("web:broken", Some("ggg"), Some(&r), None, true),
            Decision::Roll { .. }
        ));
    }

    #[test]
    fn without_a_record_the_running_image_is_the_rollback_target() {
        assert_eq!(
            decide(
                "web:v2",
                Some("bbb"),
                None,
                Some(pin("web:v1", "aaa")),
                true
            ),
            Decision::Roll {
                from: Some(pin("web:v1", "aaa")),
                to: pin("web:v2", "bbb"),
                trigger: Trigger::Manifest
            }
        );
        assert_eq!(
            decide("web:v1", Some("aaa"), None, None, true),
            Decision::Roll {
                from: None,
                to: pin("web:v1", "aaa"),
                trigger: Trigger::FirstPin
            }
        );
    }

    #[test]
    fn absent_image_should_be_pinned_after_the_pull() {
        let r = record(pin("web:v1", "aaa"), None);
        assert_eq!(
            decide("reg/web:v2", None, Some(&r), None, true),
            Decision::AfterPull {
                from: Some(pin("web:v1", "aaa")),
                trigger: Trigger::Manifest
            }
        );
    }

    #[test]
    fn moved_tag_should_stay_pinned_without_an_update_policy() {
        let r = record(pin("web:v1", "aaa"), None);
        assert_eq!(
            decide("web:v1", Some("ccc"), Some(&r), None, false),
            Decision::Pinned(pin("web:v1", "aaa"))
        );
    }

    #[test]
    fn ids_compare_abbreviated_and_prefixed() {
        assert!(same_id("sha256:abcdef", "abc"));
        assert!(!same_id("", "abc"));
        assert!(!same_id("abd", "abc"));
    }
}
