//! A container's rollout record: the image it is pinned to, the rollback target, the
//! image that failed its gate, and the history. Versioned JSON; the transitions here are
//! pure, the file is read and written (atomically) by `observe/rollouts.rs`.

use serde::{Deserialize, Serialize};

use super::{FailReason, ImagePin, Trigger};

/// The format version written; a record of another version is not read (and not
/// overwritten by guesswork: the reader reports it).
pub const VERSION: u32 = 1;

/// How many history entries a record keeps, newest last.
pub const HISTORY: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutRecord {
    pub version: u32,
    pub container: String,
    /// The image the unit is pinned to: the last that passed its gate (or was first).
    #[serde(default)]
    pub current: Option<ImagePin>,
    /// The image before `current`: kept in storage, the target of `podctl rollback`.
    #[serde(default)]
    pub previous: Option<ImagePin>,
    /// The last image that failed its gate (or was rolled back from by hand): not tried
    /// again while the reference still names it.
    #[serde(default)]
    pub failed: Option<ImagePin>,
    #[serde(default)]
    pub history: Vec<Entry>,
}

/// One rollout, as it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Seconds since the Unix epoch, when it ended.
    pub time: u64,
    pub trigger: Trigger,
    #[serde(default)]
    pub from: Option<ImagePin>,
    pub to: ImagePin,
    pub result: RolloutResult,
    #[serde(default)]
    pub reason: Option<FailReason>,
    /// How long the rollout took, gate included, in milliseconds.
    #[serde(default)]
    pub duration_ms: u64,
}

/// How a rollout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RolloutResult {
    /// The first image pinned: nothing to judge it against.
    Pinned,
    /// The new image passed its gate and is kept.
    Succeeded,
    /// The new image failed its gate; the previous one runs again.
    RolledBack,
    /// The new image failed, and putting the previous one back failed too.
    RollbackFailed,
}

impl RolloutResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pinned => "Pinned",
            Self::Succeeded => "Succeeded",
            Self::RolledBack => "RolledBack",
            Self::RollbackFailed => "RollbackFailed",
        }
    }
}

impl std::fmt::Display for RolloutResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RolloutRecord {
    pub fn new(container: &str) -> Self {
        Self {
            version: VERSION,
            container: container.to_owned(),
            current: None,
            previous: None,
            failed: None,
            history: Vec::new(),
        }
    }

    pub fn last(&self) -> Option<&Entry> {
        self.history.last()
    }

    /// Records how a rollout ended and moves the pins accordingly.
    pub fn finish(&mut self, entry: Entry) {
        match entry.result {
            RolloutResult::Pinned | RolloutResult::Succeeded => {
                let old = self.current.replace(entry.to.clone());
                if let Some(old) = old.filter(|o| !super::same_id(&o.image_id, &entry.to.image_id))
                {
                    self.previous = Some(old);
                }
                // A manual rollback marks the image it left as failed; anything else that
                // passes clears the mark, so the next change of the reference is tried.
                if entry.trigger != Trigger::Rollback {
                    self.failed = None;
                }
            }
            RolloutResult::RolledBack | RolloutResult::RollbackFailed => {
                self.failed = Some(entry.to.clone());
                if let Some(from) = &entry.from {
                    self.current = Some(from.clone());
                }
            }
        }
        self.history.push(entry);
        let extra = self.history.len().saturating_sub(HISTORY);
        self.history.drain(..extra);
    }

    /// `podctl rollback`: the previous image becomes current again, and the one left is
    /// marked failed so that no check rolls forward to it by itself.
    pub fn rolled_back_by_hand(&mut self, entry: Entry) {
        let left = self.current.clone();
        self.finish(entry);
        self.failed = left;
    }

    /// The image IDs this record keeps in storage (current and rollback target).
    pub fn kept_ids(&self) -> impl Iterator<Item = &str> {
        self.current
            .iter()
            .chain(self.previous.iter())
            .map(|p| p.image_id.as_str())
    }
}

/// `2026-12-01T10:04:05Z` for seconds since the epoch (UTC, no leap seconds).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
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

    fn entry(from: Option<ImagePin>, to: ImagePin, result: RolloutResult) -> Entry {
        Entry {
            time: 0,
            trigger: Trigger::Manifest,
            from,
            to,
            result,
            reason: None,
            duration_ms: 0,
        }
    }

    #[test]
    fn success_should_keep_the_old_image_as_rollback_target() {
        let mut r = RolloutRecord::new("web");
        r.finish(entry(None, pin("v1", "a"), RolloutResult::Pinned));
        r.finish(entry(
            Some(pin("v1", "a")),
            pin("v2", "b"),
            RolloutResult::Succeeded,
        ));
        assert_eq!(r.current, Some(pin("v2", "b")));
        assert_eq!(r.previous, Some(pin("v1", "a")));
        assert_eq!(r.kept_ids().collect::<Vec<_>>(), ["b", "a"]);
    }

    #[test]
    fn rollback_should_keep_current_and_mark_the_failed_image() {
        let mut r = RolloutRecord::new("web");
        r.finish(entry(None, pin("v2", "b"), RolloutResult::Pinned));
        r.finish(entry(
            Some(pin("v2", "b")),
            pin("broken", "f"),
            RolloutResult::RolledBack,
        ));
        assert_eq!(r.current, Some(pin("v2", "b")));
        assert_eq!(r.failed, Some(pin("broken", "f")));
        assert_eq!(r.last().map(|e| e.result), Some(RolloutResult::RolledBack));
    }

    #[test]
    fn history_should_be_bounded() {
        let mut r = RolloutRecord::new("web");
        for i in 0..(HISTORY + 5) {
            r.finish(entry(None, pin("v", &i.to_string()), RolloutResult::Pinned));
        }
        assert_eq!(r.history.len(), HISTORY);
    }

    #[test]
    fn record_should_round_trip_as_versioned_json() {
        let mut r = RolloutRecord::new("web");
        r.finish(Entry {
            reason: Some(FailReason::Crashed { after_secs: 4 }),
            ..entry(
                Some(pin("v1", "a")),
                pin("v2", "b"),
                RolloutResult::RolledBack,
            )
        });
        let text = serde_json::to_string(&r).expect("serializes");
        assert!(text.starts_with("{\"version\":1,"), "{text}");
        let back: RolloutRecord = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, r);
    }

    #[test]
    fn utc_formats_the_epoch_and_a_leap_day() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
