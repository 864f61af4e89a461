use super::*;
use crate::report::controller_status::{
    self as status, ControllerInfo, ControllerPhase, ObjectStatus, RevisionInfo,
};

const C: &str = "c0ffee0000000000000000000000000000000000";

fn controller_status(commit: &str, phases: &[ObjectPhase]) -> ControllerStatus {
    ControllerStatus {
        api_version: status::API_VERSION.into(),
        kind: status::KIND.into(),
        controller: ControllerInfo {
            version: "0".into(),
            pid: 1,
            started_at: 0.0,
            manifests: "/etc/podctl/manifests".into(),
            unit_dir: "/etc/systemd/system".into(),
            ready: true,
            phase: ControllerPhase::Running,
        },
        revision: Some(RevisionInfo {
            hash: "h".into(),
            short_hash: "h".into(),
            resolved_dir: "/var/lib/podctl/sync/c".into(),
            commit: Some(commit.into()),
            objects: phases.len(),
            loaded_at: 0.0,
        }),
        invalid_revision: None,
        last_reconcile: Some(status::ReconcileInfo {
            started_at: 0.0,
            duration_ms: 1,
            reason: "start".into(),
            changed: 0,
            failed: 0,
            error: None,
        }),
        objects: phases
            .iter()
            .enumerate()
            .map(|(i, p)| ObjectStatus {
                kind: podctl_api::Kind::Container,
                name: format!("c{i}"),
                status: *p,
                message: Some("why".into()),
                change: None,
                unit: None,
                active_state: None,
                sub_state: None,
                failures: 0,
                retry_at: None,
                last_reconciled_at: None,
            })
            .collect(),
    }
}

fn sample(name: &str, up: bool, health: Option<Health>) -> ContainerSample {
    ContainerSample {
        container: name.into(),
        unit: format!("{name}.service"),
        up,
        health,
        ..ContainerSample::default()
    }
}

fn assessed(
    status: &ControllerStatus,
    samples: &[ContainerSample],
    rolled_back: &[(String, f64)],
) -> HostState {
    let o = Observation {
        disk_commit: Some(C),
        status,
        containers: samples,
        rolled_back,
        pass_running: false,
    };
    assess(&o, 100.0).0
}

/// The state and reason of a host without containers and rollbacks, no pass running.
fn assessed_with_reason(status: &ControllerStatus) -> (HostState, Option<String>) {
    let o = Observation {
        disk_commit: Some(C),
        status,
        containers: &[],
        rolled_back: &[],
        pass_running: false,
    };
    assess(&o, 0.0)
}

#[test]
fn a_host_should_be_converged_only_when_every_object_is_applied_and_every_container_healthy() {
    let s = controller_status(C, &[ObjectPhase::UpToDate, ObjectPhase::Applied]);
    let healthy = [
        sample("c0", true, Some(Health::Healthy)),
        sample("c1", true, None),
    ];
    assert_eq!(assessed(&s, &healthy, &[]), HostState::Converged);
    let starting = [sample("c0", true, Some(Health::Starting))];
    assert_eq!(assessed(&s, &starting, &[]), HostState::Progressing);
    let unhealthy = [sample("c0", true, Some(Health::Unhealthy))];
    assert_eq!(assessed(&s, &unhealthy, &[]), HostState::Degraded);
    let down = [sample("c0", false, None)];
    assert_eq!(assessed(&s, &down, &[]), HostState::Degraded);
}

#[test]
fn trouble_in_an_object_should_fail_the_host_and_a_pending_one_is_progress() {
    for phase in [
        ObjectPhase::Failed,
        ObjectPhase::Blocked,
        ObjectPhase::Conflict,
        ObjectPhase::BackingOff,
    ] {
        let s = controller_status(C, &[ObjectPhase::UpToDate, phase]);
        let (state, reason) = assessed_with_reason(&s);
        assert_eq!(state, HostState::Failed);
        assert_eq!(
            reason.as_deref(),
            Some(format!("container/c1: {phase} why").as_str())
        );
    }
    let s = controller_status(C, &[ObjectPhase::Pending]);
    assert_eq!(assessed(&s, &[], &[]), HostState::Progressing);
}

#[test]
fn a_commit_not_loaded_yet_is_progress_and_an_invalid_one_is_invalid() {
    let s = controller_status("0ld", &[ObjectPhase::UpToDate]);
    assert_eq!(assessed(&s, &[], &[]), HostState::Progressing);
    let mut s = controller_status("0ld", &[ObjectPhase::UpToDate]);
    s.invalid_revision = Some(status::InvalidRevision {
        detected_at: 0.0,
        message: "revision rejected: 1 error in 1 file".into(),
        errors: vec![status::DiagnosticInfo {
            file: "web.yaml".into(),
            line: 3,
            col: 5,
            message: "unknown field `imag`".into(),
            hint: None,
        }],
    });
    let (state, reason) = assessed_with_reason(&s);
    assert_eq!(state, HostState::Invalid);
    assert_eq!(
        reason.as_deref(),
        Some("revision rejected: 1 error in 1 file: web.yaml:3:5: unknown field `imag`")
    );
}

#[test]
fn a_rollback_since_the_commit_arrived_should_fail_the_host_and_an_older_one_not() {
    let s = controller_status(C, &[ObjectPhase::UpToDate]);
    let healthy = [sample("c0", true, Some(Health::Healthy))];
    assert_eq!(
        assessed(&s, &healthy, &[("c0".into(), 150.0)]),
        HostState::Failed
    );
    assert_eq!(
        assessed(&s, &healthy, &[("c0".into(), 50.0)]),
        HostState::Converged
    );
}

#[test]
fn the_tracker_should_keep_since_while_commit_and_state_stay_and_restart_it_on_a_change() {
    let host = super::super::FleetHost {
        name: "h".into(),
        wave: 0,
        group: "g".into(),
    };
    let mut t = Tracker::default();
    let r = t.observe(&host, Some("a"), (HostState::Progressing, None), 10.0);
    assert_eq!((r.since, r.commit_since), (10.0, 10.0));
    let r = t.observe(&host, Some("a"), (HostState::Converged, None), 20.0);
    assert_eq!((r.since, r.commit_since), (20.0, 10.0));
    let r = t.observe(&host, Some("a"), (HostState::Converged, None), 30.0);
    assert_eq!((r.since, r.commit_since), (20.0, 10.0));
    let r = t.observe(&host, Some("b"), (HostState::Converged, None), 40.0);
    assert_eq!((r.since, r.commit_since), (40.0, 40.0));
}

#[test]
fn a_container_down_while_a_pass_runs_should_be_progress_and_converged_stays_converged() {
    let s = controller_status(C, &[ObjectPhase::UpToDate]);
    let down = [sample("c0", false, None)];
    let healthy = [sample("c0", true, Some(Health::Healthy))];
    for (samples, expected) in [
        (&down, HostState::Progressing),
        (&healthy, HostState::Converged),
    ] {
        let o = Observation {
            disk_commit: Some(C),
            status: &s,
            containers: samples,
            rolled_back: &[],
            pass_running: true,
        };
        assert_eq!(assess(&o, 0.0).0, expected);
    }
}

#[test]
fn a_commit_loaded_but_not_yet_applied_by_a_pass_should_be_progress() {
    // The objects still show the previous revision's pass: UpToDate, but nothing of the new
    // commit was done yet.
    let mut s = controller_status(C, &[ObjectPhase::UpToDate]);
    if let Some(r) = s.revision.as_mut() {
        r.loaded_at = 10.0;
    }
    let healthy = [sample("c0", true, Some(Health::Healthy))];
    assert_eq!(assessed(&s, &healthy, &[]), HostState::Progressing);
    if let Some(p) = s.last_reconcile.as_mut() {
        p.started_at = 10.5;
    }
    assert_eq!(assessed(&s, &healthy, &[]), HostState::Converged);
}
