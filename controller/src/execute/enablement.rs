//! What starts at boot: one `EnableUnitFiles` and one `DisableUnitFiles` call per batch,
//! one call per unit when the batch fails, so that one bad unit does not fail the others.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use tracing::warn;

use super::Executor;
use super::error::ActionError;
use crate::adapters::systemd::{Systemd, SystemdError};

/// The two unit-file calls that change what starts at boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enablement {
    Enable,
    Disable,
}

impl Enablement {
    async fn call(self, systemd: &Systemd, units: &[String]) -> Result<(), SystemdError> {
        match self {
            Self::Enable => systemd.enable(units).await.map(drop),
            Self::Disable => systemd.disable(units).await.map(drop),
        }
    }

    fn failed(self, e: SystemdError) -> ActionError {
        ActionError::Enablement {
            change: self,
            source: Arc::new(e),
        }
    }
}

impl fmt::Display for Enablement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Enable => "enable",
            Self::Disable => "disable",
        })
    }
}

/// The result of a batch, by unit: every unit asked for has one.
pub(super) type Results = BTreeMap<String, Result<(), ActionError>>;

impl Executor<'_> {
    /// One `EnableUnitFiles` and one `DisableUnitFiles` call for the whole batch.
    pub(super) async fn change_enablement(&self, enable: &[String], disable: &[String]) -> Results {
        let mut results = self.enablement_batch(Enablement::Enable, enable).await;
        results.extend(self.enablement_batch(Enablement::Disable, disable).await);
        results
    }

    /// One call for all `units`; when it fails, one call per unit. systemd fails the whole
    /// call for one unit it cannot take (a file in the way of its symlink, a unit it cannot
    /// parse), so only the second pass tells which units really fail, and the others
    /// still converge.
    pub(super) async fn enablement_batch(&self, change: Enablement, units: &[String]) -> Results {
        let all_ok = || units.iter().map(|u| (u.clone(), Ok(()))).collect();
        let batch_error = match units {
            [] => return Results::new(),
            [unit] => {
                let result = change.call(self.systemd, units).await;
                return Results::from([(unit.clone(), result.map_err(|e| change.failed(e)))]);
            }
            _ => match change.call(self.systemd, units).await {
                Ok(()) => return all_ok(),
                Err(e) => e,
            },
        };
        warn!(error = %batch_error, units = units.len(), "batched {change} failed; one unit at a time");
        let mut results = Results::new();
        for unit in units {
            let result = change.call(self.systemd, std::slice::from_ref(unit)).await;
            results.insert(unit.clone(), result.map_err(|e| change.failed(e)));
        }
        results
    }
}
