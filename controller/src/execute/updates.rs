//! The host-wide bound on rollouts in one execution (`--max-parallel-updates`): at most N
//! containers are between the restart onto a new image and their gate's verdict at once,
//! taken in the graph's order (the executor walks it level by level, and the semaphore is
//! fair); and once one is rolled back, the rollouts not begun yet are not begun.

use std::sync::Mutex;

use podctl_api::ObjectRef;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::Verdict;
use super::error::{ActionError, Blocked};
use crate::plan::Step;

/// The default of `--max-parallel-updates`, as the seed's auto-update policy had it.
pub const DEFAULT_MAX_PARALLEL: usize = 2;

/// Rollout slots of one execution.
#[derive(Debug)]
pub struct UpdateSlots {
    permits: Semaphore,
    /// The first container rolled back in this execution.
    stopped_by: Mutex<Option<ObjectRef>>,
}

impl UpdateSlots {
    pub fn new(max_parallel: usize) -> Self {
        Self {
            permits: Semaphore::new(max_parallel.max(1)),
            stopped_by: Mutex::new(None),
        }
    }

    /// Waits for a slot for `step` if it is a rollout (`Ok(None)` if it is not); refuses
    /// one once a rollout of this execution was rolled back.
    pub(super) async fn enter(&self, step: &Step) -> Result<Option<SemaphorePermit<'_>>, Blocked> {
        if !is_gated_rollout(step) {
            return Ok(None);
        }
        let permit = self.permits.acquire().await.ok();
        match self.stopped_by.lock().ok().and_then(|s| s.clone()) {
            Some(rolled_back) => Err(Blocked::UpdatesStopped { rolled_back }),
            None => Ok(permit),
        }
    }

    /// Notes how a step ended: a rollback stops the rollouts that have not begun.
    pub(super) fn finished(&self, step: &Step, status: &Verdict) {
        if is_gated_rollout(step)
            && rolled_back(status)
            && let Ok(mut stopped) = self.stopped_by.lock()
        {
            stopped.get_or_insert_with(|| step.object.clone());
        }
    }
}

/// Whether `step` restarts a container onto a new image and judges it with the gate.
fn is_gated_rollout(step: &Step) -> bool {
    step.is_gated_update()
}

/// Whether a step's verdict is a rollback (or a rollback that failed).
fn rolled_back(status: &Verdict) -> bool {
    matches!(
        status,
        Verdict::Failed(
            ActionError::RolledBack(_)
                | ActionError::RollbackFailed { .. }
                | ActionError::NotSwitched { .. }
        )
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use podctl_api::Kind;

    use super::*;
    use crate::execute::GateFailure;
    use crate::plan::Action;
    use crate::plan::Change;
    use crate::rollout::{FailReason, GateSpec, ImagePin, Rollout, Trigger};

    fn pin(id: &str) -> ImagePin {
        ImagePin {
            reference: "web".into(),
            image_id: id.into(),
        }
    }

    fn rollout_step(name: &str, gated: bool) -> Step {
        let rollout = Rollout {
            container: name.into(),
            unit: format!("{name}.service"),
            from: gated.then(|| pin("aaa")),
            to: pin("bbb"),
            trigger: Trigger::ImageChanged,
            gate: GateSpec {
                timeout: Duration::from_secs(1),
                watch: Duration::from_secs(1),
                health_check: false,
            },
            template: String::new(),
            dependents: Vec::new(),
        };
        Step {
            object: ObjectRef::new(Kind::Container, name.parse().unwrap()),
            change: Change::UpToDate,
            actions: vec![Action::Rollout(Box::new(rollout))],
            unit_before: None,
            unit_after: None,
            drop_ins: Vec::new(),
            rollout: None,
            unit: None,
        }
    }

    fn rolled_back_verdict() -> Verdict {
        Verdict::Failed(ActionError::RolledBack(Box::new(GateFailure {
            unit: "a.service".into(),
            from: pin("aaa"),
            to: pin("bbb"),
            reason: FailReason::Unhealthy { after_secs: 0 },
        })))
    }

    #[tokio::test]
    async fn slots_should_bound_rollouts_but_not_other_steps() {
        let slots = UpdateSlots::new(1);
        let a = rollout_step("a", true);
        let first = slots.enter(&a).await.unwrap();
        assert!(first.is_some());
        // A pin without a gate is no rollout: it never waits.
        assert!(
            slots
                .enter(&rollout_step("p", false))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            slots.permits.try_acquire().is_err(),
            "the one slot is taken"
        );
        drop(first);
        assert!(slots.enter(&rollout_step("b", true)).await.is_ok());
    }

    #[tokio::test]
    async fn a_rollback_should_stop_the_rollouts_not_begun() {
        let slots = UpdateSlots::new(2);
        let a = rollout_step("a", true);
        let permit = slots.enter(&a).await.unwrap();
        slots.finished(&a, &Verdict::Applied);
        assert!(slots.enter(&rollout_step("b", true)).await.is_ok());
        slots.finished(&a, &rolled_back_verdict());
        drop(permit);
        let refused = slots.enter(&rollout_step("c", true)).await.unwrap_err();
        assert_eq!(
            refused,
            Blocked::UpdatesStopped {
                rolled_back: a.object.clone()
            }
        );
    }
}
