//! The services' vitals (restarts, start and exit) kept between `/metrics` scrapes, so a
//! scrape asks systemd only for the services that changed since it last read them.
//!
//! systemd signals every change of a unit (`PropertiesChanged` of its `ActiveState`, and of
//! `NRestarts` and the `ExecMain*` properties), which the controller's event stream turns into
//! [`Self::changed`]; a stream that lost signals calls [`Self::changed_all`]. Changes and reads
//! are ordered by an epoch: a read that began before a unit's last change is stale even if it
//! ends after it, so a change that lands while a scrape reads is never lost.

use std::collections::HashMap;

use crate::adapters::systemd::UnitVitals;

#[derive(Debug, Default)]
pub struct VitalsCache {
    /// Bumped by every change.
    epoch: u64,
    /// The epoch of each unit's last change.
    changed_at: HashMap<String, u64>,
    /// The epoch of the last change of every unit at once (signals lost).
    all_changed_at: u64,
    /// unit → (its vitals, the epoch at which the read that gave them began).
    read: HashMap<String, (UnitVitals, u64)>,
}

impl VitalsCache {
    /// The epoch a read beginning now is stamped with.
    pub fn begin_read(&self) -> u64 {
        self.epoch
    }

    pub fn changed(&mut self, unit: &str) {
        self.epoch += 1;
        self.changed_at.insert(unit.to_owned(), self.epoch);
    }

    pub fn changed_all(&mut self) {
        self.epoch += 1;
        self.all_changed_at = self.epoch;
        self.changed_at.clear();
    }

    /// The vitals of `unit` if no change came after the read that gave them began.
    pub fn get(&self, unit: &str) -> Option<&UnitVitals> {
        let (vitals, read_at) = self.read.get(unit)?;
        let last_change = self
            .changed_at
            .get(unit)
            .copied()
            .unwrap_or(0)
            .max(self.all_changed_at);
        (last_change <= *read_at).then_some(vitals)
    }

    /// Keeps what a read that began at `read_at` gave.
    pub fn put(&mut self, unit: &str, vitals: UnitVitals, read_at: u64) {
        self.read.insert(unit.to_owned(), (vitals, read_at));
    }

    /// Forgets every unit but `units` (the containers of the running revision).
    pub fn retain(&mut self, units: &[&str]) {
        self.read.retain(|u, _| units.contains(&u.as_str()));
        self.changed_at.retain(|u, _| units.contains(&u.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::systemd::ActiveState;

    fn vitals(restarts: u32) -> UnitVitals {
        UnitVitals {
            active_state: ActiveState::Active,
            n_restarts: Some(restarts),
            ..UnitVitals::default()
        }
    }

    #[test]
    fn a_read_should_serve_until_its_unit_changes() {
        let mut cache = VitalsCache::default();
        let at = cache.begin_read();
        cache.put("a.service", vitals(0), at);
        cache.put("b.service", vitals(0), at);
        assert_eq!(cache.get("a.service"), Some(&vitals(0)));
        cache.changed("a.service");
        assert_eq!(cache.get("a.service"), None);
        assert_eq!(cache.get("b.service"), Some(&vitals(0)));
        let at = cache.begin_read();
        cache.put("a.service", vitals(1), at);
        assert_eq!(cache.get("a.service"), Some(&vitals(1)));
    }

    /// The change lands while the read is under way: what the read gave may predate it.
    #[test]
    fn a_change_during_a_read_should_make_that_read_stale() {
        let mut cache = VitalsCache::default();
        let at = cache.begin_read();
        cache.changed("a.service");
        cache.put("a.service", vitals(0), at);
        assert_eq!(cache.get("a.service"), None);
    }

    #[test]
    fn lost_signals_should_make_every_read_stale() {
        let mut cache = VitalsCache::default();
        let at = cache.begin_read();
        cache.put("a.service", vitals(0), at);
        cache.changed_all();
        assert_eq!(cache.get("a.service"), None);
        cache.retain(&[]);
        let at = cache.begin_read();
        cache.put("a.service", vitals(0), at);
        assert_eq!(cache.get("a.service"), Some(&vitals(0)));
    }
}
