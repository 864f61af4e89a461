use super::*;
use crate::fleet::report::VERSION;

const C: &str = "c0ffee0000000000000000000000000000000000";
const OLD: &str = "0ld0000000000000000000000000000000000000";

fn policy() -> Policy {
    Policy {
        soak: Duration::from_secs(60),
        max_parallel: 1,
    }
}

fn me(wave: u32) -> FleetHost {
    FleetHost {
        name: "web-9".into(),
        wave,
        group: "web".into(),
    }
}

fn report(name: &str, wave: u32, commit: &str, state: HostState, since: f64) -> HostReport {
    HostReport {
        version: VERSION,
        name: name.into(),
        wave,
        group: "web".into(),
        commit: Some(commit.into()),
        state,
        reason: (state != HostState::Converged).then(|| "container/web: unhealthy".into()),
        since,
        commit_since: since,
    }
}

#[test]
fn a_canary_should_take_a_commit_at_once_and_the_current_one_is_up_to_date() {
    let reports = [report("web-2", 1, OLD, HostState::Converged, 0.0)];
    assert_eq!(
        decide(&me(0), Some(OLD), C, &reports, &policy(), 10.0),
        Decision::Proceed
    );
    assert_eq!(
        decide(&me(0), Some(C), C, &reports, &policy(), 10.0),
        Decision::UpToDate
    );
}

#[test]
fn a_later_wave_should_wait_for_the_lower_waves_to_take_the_commit_and_soak_it() {
    let p = policy();
    let on_old = [report("web-1", 0, OLD, HostState::Converged, 0.0)];
    let Decision::Wait(why) = decide(&me(1), Some(OLD), C, &on_old, &p, 100.0) else {
        panic!("must wait")
    };
    assert!(
        why.contains("web-1 (wave 0) runs 0ld000000000, not c0ffee000000 yet"),
        "{why}"
    );

    let starting = [report("web-1", 0, C, HostState::Progressing, 100.0)];
    let Decision::Wait(why) = decide(&me(1), Some(OLD), C, &starting, &p, 110.0) else {
        panic!("must wait")
    };
    assert!(why.contains("is Progressing on c0ffee000000"), "{why}");

    let soaking = [report("web-1", 0, C, HostState::Converged, 100.0)];
    let Decision::Wait(why) = decide(&me(1), Some(OLD), C, &soaking, &p, 130.0) else {
        panic!("must wait")
    };
    assert!(why.contains("soaking c0ffee000000: 30s of 1m"), "{why}");
    assert_eq!(
        decide(&me(1), Some(OLD), C, &soaking, &p, 160.0),
        Decision::Proceed
    );
}

#[test]
fn every_lower_wave_should_count_and_hosts_of_the_same_or_higher_waves_not() {
    let p = policy();
    let reports = [
        report("web-1", 0, C, HostState::Converged, 0.0),
        report("web-2", 1, C, HostState::Converged, 0.0),
        report("web-3", 1, OLD, HostState::Converged, 0.0),
        report("web-4", 2, OLD, HostState::Failed, 0.0),
    ];
    // Wave 1 needs only wave 0; wave 2 needs web-3 (wave 1) too.
    assert_eq!(
        decide(&me(1), Some(OLD), C, &reports, &p, 100.0),
        Decision::Proceed
    );
    assert!(matches!(
        decide(&me(2), Some(OLD), C, &reports, &p, 100.0),
        Decision::Wait(why) if why.contains("web-3 (wave 1) runs")
    ));
}

#[test]
fn a_failed_or_invalid_canary_should_halt_later_waves_even_while_others_are_on_their_way() {
    let p = policy();
    for state in [HostState::Failed, HostState::Invalid] {
        let reports = [
            report("web-0", 0, OLD, HostState::Converged, 0.0),
            report("web-1", 0, C, state, 100.0),
        ];
        let Decision::Halt(why) = decide(&me(2), Some(OLD), C, &reports, &p, 101.0) else {
            panic!("must halt on {state}")
        };
        assert!(
            why.starts_with(&format!(
                "web-1 (wave 0) is {state} on c0ffee000000: container/web"
            )),
            "{why}"
        );
    }
}

#[test]
fn a_canary_unhealthy_for_a_whole_soak_should_halt_and_a_moment_down_only_wait() {
    let p = policy();
    // Degraded since 100 (the commit came at 40): a restart during its rollout, say.
    let mut canary = report("web-1", 0, C, HostState::Degraded, 100.0);
    canary.commit_since = 40.0;
    let reports = [canary];
    assert!(matches!(
        decide(&me(1), Some(OLD), C, &reports, &p, 150.0),
        Decision::Wait(_)
    ));
    let Decision::Halt(why) = decide(&me(1), Some(OLD), C, &reports, &p, 160.0) else {
        panic!("must halt")
    };
    assert!(
        why.contains("has been unhealthy on c0ffee000000 for the soak time (1m)"),
        "{why}"
    );
}

#[test]
fn a_fixing_commit_should_be_judged_on_its_own() {
    let fix = "f1x0000000000000000000000000000000000000";
    let reports = [report("web-1", 0, fix, HostState::Converged, 0.0)];
    // web-1 failed on C before; now it runs the fix converged: C is not what counts.
    assert_eq!(
        decide(&me(1), Some(OLD), fix, &reports, &policy(), 61.0),
        Decision::Proceed
    );
}

#[test]
fn slots_should_follow_fleetlock_semantics() {
    let p = Policy {
        soak: Duration::ZERO,
        max_parallel: 2,
    };
    let slot = |host: &str| Slot {
        host: host.into(),
        commit: C.into(),
        since: 0.0,
    };
    assert!(may_take_slot("a", &[], &p, 5.0).is_ok());
    assert!(may_take_slot("a", &[slot("b")], &p, 5.0).is_ok());
    // Re-entrant: a holder may take its slot again (a fixing commit on a failed canary).
    assert!(may_take_slot("a", &[slot("a"), slot("b")], &p, 5.0).is_ok());
    let why = may_take_slot("c", &[slot("a"), slot("b")], &p, 65.0).unwrap_err();
    assert_eq!(
        why,
        "all 2 slot(s) of the group are taken: a (c0ffee000000 for 1m5s), b (c0ffee000000 for 1m5s)"
    );
}

#[test]
fn a_slot_should_be_done_when_its_commit_converged() {
    let slot = Slot {
        host: "web-9".into(),
        commit: C.into(),
        since: 0.0,
    };
    assert!(slot_done(
        &slot,
        &report("web-9", 1, C, HostState::Converged, 0.0)
    ));
    assert!(!slot_done(
        &slot,
        &report("web-9", 1, C, HostState::Degraded, 0.0)
    ));
    assert!(!slot_done(
        &slot,
        &report("web-9", 1, OLD, HostState::Converged, 0.0)
    ));
}
