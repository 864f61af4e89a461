//! The controller's transitions on tokio's paused clock: what is requested when, what backs
//! off, and what the shell is told to publish.

use std::path::Path;

use podctl_api::{Diagnostics, SourceFile, from_sources};
use tokio::time::advance;

use super::*;
use crate::adapters::systemd::LoadState;
use crate::controller::update_timer::UpdateTimer;
use crate::execute::ActionError;
use crate::plan::RepairReason;
use crate::plan::guard::WipesTheHost;
use crate::report::controller_status::ControllerPhase;

const DB: &str = "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: db}\nspec:\n  image: localhost/bb:v1\n";
const APP: &str = "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: app}\nspec:\n  image: localhost/bb:v1\n  dependsOn: [db]\n";
const APP_V2: &str = "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: app}\nspec:\n  image: localhost/bb:v2\n  dependsOn: [db]\n";
const VOLUME: &str = "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {name: data}\nspec: {}\n";
const BROKEN: &str = "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: db}\nspec: {}\n";

fn load(files: &[&str]) -> Result<Revision, LoadError> {
    let sources = files
        .iter()
        .enumerate()
        .map(|(i, text)| SourceFile {
            path: Path::new(&format!("m/{i}.yaml")).into(),
            text: (*text).to_owned(),
        })
        .collect();
    from_sources(
        Path::new("m"),
        Path::new("m"),
        sources,
        Diagnostics::default(),
    )
}

fn container(name: &str) -> ObjectRef {
    ObjectRef::new(Kind::Container, name.parse().unwrap())
}

fn outcome(object: &ObjectRef, change: Change, status: Verdict) -> Outcome {
    Outcome {
        object: object.clone(),
        change,
        status,
        done: Vec::new(),
        elapsed: Duration::ZERO,
    }
}

/// A pass that failed as a whole (here: refused to empty the host).
fn pass_failed() -> Option<PassError> {
    Some(PassError::Refused(WipesTheHost {
        dir: "/etc/podctl/manifests".into(),
        removed: 1,
    }))
}

fn report(outcomes: Vec<Outcome>, error: Option<PassError>) -> PassReport {
    PassReport {
        outcomes,
        units: BTreeMap::new(),
        observed_after: None,
        error,
        started: Instant::now(),
        started_at: 0.0,
        elapsed: Duration::ZERO,
        reason: Reason::Start,
    }
}

fn unit_changed(unit: &str, active_state: &str) -> HostEvent {
    HostEvent::UnitChanged {
        unit: unit.to_owned(),
        active_state: Some(ActiveState::parse(active_state)),
        sub_state: None,
        n_restarts: None,
    }
}

/// Takes the request due now, if any, without waiting.
async fn due(core: &mut Core) -> Option<Request<Work, Reason>> {
    tokio::select! {
        biased;
        r = core.scheduler.next() => Some(r),
        () = std::future::ready(()) => None,
    }
}

/// The pass `report` tells of ends (one is started first unless one is in flight: only a
/// started pass may report back).
fn pass_done(core: &mut Core, report: &PassReport, now: Instant) -> PassSummary {
    if !core.pass_in_flight {
        assert!(core.start_pass(&Reason::Retry, now).is_some());
    }
    core.on_pass_done(report, now, SystemTime::now(), 0.0)
}

/// A core past its first load of `files` and its first (successful, empty) pass.
async fn running(files: &[&str]) -> Core {
    let mut core = Core::new(false, Duration::from_millis(200), Instant::now());
    let first = due(&mut core).await.unwrap();
    assert_eq!((first.key, first.reason), (Work::Load, Reason::Start));
    let loaded = core.on_loaded(load(files), Reason::Start, Instant::now());
    assert!(matches!(loaded, Loaded::Accepted { new: Some(_), .. }));
    let pass = due(&mut core).await.unwrap();
    assert_eq!((pass.key, pass.reason), (Work::Reconcile, Reason::Start));
    assert!(core.start_pass(&Reason::Start, Instant::now()).is_some());
    // The pass saw both units with their unit files: their signals are the host's news.
    let mut first = report(Vec::new(), None);
    for unit in ["db.service", "app.service"] {
        let status = UnitStatus {
            load_state: LoadState::Loaded,
            active_state: ActiveState::Active,
            ..UnitStatus::default()
        };
        first.units.insert(unit.to_owned(), status);
    }
    pass_done(&mut core, &first, Instant::now());
    assert!(due(&mut core).await.is_none(), "nothing else to do");
    core
}

#[tokio::test(start_paused = true)]
async fn host_events_should_ask_for_a_pass_only_when_a_managed_unit_or_container_stops() {
    let mut core = running(&[DB, APP]).await;
    let now = Instant::now();

    let active = core.on_host_event(&unit_changed("db.service", "active"), now);
    assert_eq!(active.pass, None, "systemd restarts on its own");
    assert_eq!(active.counted, None);
    assert_eq!(
        active.unit_view.unwrap().1.active_state,
        Some(ActiveState::Active)
    );

    let stranger = core.on_host_event(&unit_changed("other.service", "failed"), now);
    assert_eq!(stranger, HostEventEffects::default(), "not ours");

    let started = HostEvent::Container {
        name: "db".to_owned(),
        status: ContainerEvent::parse("start"),
    };
    assert_eq!(core.on_host_event(&started, now).pass, None);

    let failed = core.on_host_event(&unit_changed("db.service", "failed"), now);
    assert_eq!(failed.counted, Some("systemd"));
    assert_eq!(
        failed.pass,
        Some((Some(container("db")), now + EVENT_DELAY))
    );

    let died = HostEvent::Container {
        name: "app".to_owned(),
        status: ContainerEvent::parse("died"),
    };
    let died = core.on_host_event(&died, now);
    assert_eq!(died.counted, Some("podman"));
    assert_eq!(died.pass, Some((Some(container("app")), now + EVENT_DELAY)));

    let lost = core.on_host_event(&HostEvent::Lost { source: "podman" }, now);
    assert_eq!(lost.pass, Some((None, now + EVENT_DELAY)));
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_host_events_should_make_one_pass_with_the_first_reason() {
    let mut core = running(&[DB, APP]).await;
    core.on_host_event(&unit_changed("db.service", "inactive"), Instant::now());
    advance(Duration::from_millis(50)).await;
    core.on_host_event(&unit_changed("app.service", "failed"), Instant::now());
    core.on_host_event(
        &HostEvent::JobFailed {
            unit: "db.service".to_owned(),
            result: "failed".to_owned(),
        },
        Instant::now(),
    );
    advance(Duration::from_millis(49)).await;
    assert!(due(&mut core).await.is_none(), "gathered for EVENT_DELAY");
    advance(Duration::from_millis(1)).await;
    let pass = due(&mut core).await.unwrap();
    assert_eq!(pass.key, Work::Reconcile);
    assert_eq!(pass.reason, Reason::Systemd("db.service".to_owned()));
    advance(Duration::from_secs(10)).await;
    assert!(due(&mut core).await.is_none(), "one pass for the burst");
}

#[tokio::test(start_paused = true)]
async fn a_unit_without_a_unit_file_should_not_count_as_drift() {
    let mut core = running(&[DB]).await;
    let mut r = report(vec![], None);
    r.units.insert(
        "db.service".to_owned(),
        UnitStatus {
            load_state: LoadState::NotFound,
            ..UnitStatus::default()
        },
    );
    pass_done(&mut core, &r, Instant::now());
    let removed = HostEvent::UnitRemoved {
        unit: "db.service".to_owned(),
    };
    assert_eq!(
        core.on_host_event(&removed, Instant::now()),
        HostEventEffects::default()
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_object_should_be_deferred_with_its_dependents_until_its_retry() {
    let mut core = running(&[DB, APP]).await;
    let db = container("db");
    let failed = outcome(
        &db,
        Change::Create,
        Verdict::Failed(ActionError::Planned("exit 1".to_owned())),
    );
    let summary = pass_done(&mut core, &report(vec![failed], None), Instant::now());
    assert_eq!(summary.failed, 1);
    assert_eq!(summary.result(), "failed");
    assert_eq!(
        summary.failures,
        [ObjectFailure {
            object: db.clone(),
            kind: FailureKind::Failed {
                message: "exit 1".to_owned(),
                reason: "plan",
            },
            retry_in: Duration::from_secs(1),
        }]
    );
    let retry_at = Instant::now() + Duration::from_secs(1);
    assert_eq!(core.scheduler.pending_at(&Work::Reconcile), Some(retry_at));

    // Its own crash waits for its retry time instead of EVENT_DELAY.
    let event = core.on_host_event(&unit_changed("db.service", "failed"), Instant::now());
    assert_eq!(event.pass, Some((Some(db.clone()), retry_at)));

    let start = core.start_pass(&Reason::Retry, Instant::now()).unwrap();
    assert_eq!(
        start.deferred,
        BTreeSet::from([db.clone(), container("app")])
    );
    let view = core.objects_view(Instant::now(), 100.0).unwrap();
    let db_status = view.objects.iter().find(|o| o.name == "db").unwrap();
    assert_eq!(db_status.status, ObjectPhase::BackingOff);
    assert_eq!(db_status.retry_at, Some(101.0));
    assert_eq!(view.backing_off, 1);
    // That pass, with both left out, changed nothing.
    pass_done(&mut core, &report(vec![], None), Instant::now());

    advance(Duration::from_secs(1)).await;
    let start = core.start_pass(&Reason::Retry, Instant::now()).unwrap();
    assert!(start.deferred.is_empty(), "retried once its time came");
}

#[tokio::test(start_paused = true)]
async fn a_failed_unit_started_again_should_back_off_like_a_failure() {
    let mut core = running(&[DB]).await;
    let db = container("db");
    let repair = Change::Repair {
        reason: RepairReason::UnitFailed,
    };
    assert!(repair.repairs_a_failed_unit());
    let summary = pass_done(
        &mut core,
        &report(vec![outcome(&db, repair.clone(), Verdict::Applied)], None),
        Instant::now(),
    );
    assert_eq!(summary.failed, 0);
    assert_eq!(summary.changed, 1);
    assert_eq!(summary.failures[0].kind, FailureKind::UnitRestarted);
    assert_eq!(summary.repaired, [(db, repair)]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_pass_should_hold_every_request_until_its_backoff_and_sighup_lifts_it() {
    let mut core = running(&[DB]).await;
    let start = Instant::now();
    let summary = pass_done(&mut core, &report(vec![], pass_failed()), start);
    assert_eq!(
        summary.pass_retry,
        Some(PassRetry {
            failures: 1,
            retry_in: Duration::from_secs(1)
        })
    );
    let event = core.on_host_event(&unit_changed("db.service", "failed"), start);
    assert_eq!(event.pass.unwrap().1, start + Duration::from_secs(1));

    advance(Duration::from_secs(1)).await;
    assert_eq!(due(&mut core).await.unwrap().reason, Reason::Retry);
    let summary = pass_done(&mut core, &report(vec![], pass_failed()), Instant::now());
    assert_eq!(summary.pass_retry.unwrap().retry_in, Duration::from_secs(2));

    core.on_sighup(Instant::now());
    let load = due(&mut core).await.unwrap();
    assert_eq!((load.key, load.reason), (Work::Load, Reason::Sighup));
    core.on_loaded(load_ok(&[DB]), Reason::Sighup, Instant::now());
    let pass = due(&mut core).await.unwrap();
    assert_eq!(
        (pass.key, pass.reason),
        (Work::Reconcile, Reason::Sighup),
        "at once, not after the pass backoff"
    );
}

fn load_ok(files: &[&str]) -> Result<Revision, LoadError> {
    let revision = load(files);
    assert!(revision.is_ok());
    revision
}

#[tokio::test(start_paused = true)]
async fn a_new_revision_should_forget_the_backoff_of_changed_objects_only() {
    let mut core = running(&[DB, APP]).await;
    let failed = |o: &ObjectRef| {
        outcome(
            o,
            Change::Create,
            Verdict::Failed(ActionError::Planned("x".to_owned())),
        )
    };
    let (db, app) = (container("db"), container("app"));
    pass_done(
        &mut core,
        &report(vec![failed(&db), failed(&app)], None),
        Instant::now(),
    );
    let loaded = core.on_loaded(load_ok(&[DB, APP_V2]), Reason::Manifests, Instant::now());
    assert!(matches!(loaded, Loaded::Accepted { new: Some(_), .. }));
    assert!(core.backoff.is_backing_off(&db, Instant::now()));
    assert!(!core.backoff.is_backing_off(&app, Instant::now()));
}

#[tokio::test(start_paused = true)]
async fn invalid_manifests_should_keep_the_revision_and_count_once() {
    let mut core = running(&[DB]).await;
    let hash = core.current.as_ref().unwrap().hash().to_owned();
    let Loaded::Invalid {
        why: Invalid::Rejected(_),
        first_seen: true,
        keeping,
    } = core.on_loaded(load(&[BROKEN]), Reason::Manifests, Instant::now())
    else {
        panic!("rejected")
    };
    assert!(keeping.starts_with("keeping revision "));
    let again = core.on_loaded(load(&[BROKEN]), Reason::Resync, Instant::now());
    assert!(matches!(
        again,
        Loaded::Invalid {
            first_seen: false,
            ..
        }
    ));
    assert_eq!(core.current.as_ref().unwrap().hash(), hash);
    assert!(core.status_line().contains("INVALID"));
    let pass = due(&mut core).await.unwrap();
    assert_eq!(pass.key, Work::Reconcile, "drift is still repaired");

    let valid = core.on_loaded(load_ok(&[DB]), Reason::Manifests, Instant::now());
    assert!(matches!(
        valid,
        Loaded::Accepted {
            new: None,
            valid_again: true
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn an_empty_revision_should_be_refused_unless_allowed() {
    let mut core = running(&[DB]).await;
    let refused = core.on_loaded(load_ok(&[VOLUME]), Reason::Manifests, Instant::now());
    assert!(matches!(
        refused,
        Loaded::Invalid {
            why: Invalid::EmptyRefused { .. },
            first_seen: true,
            ..
        }
    ));
    core.allow_empty = true;
    let allowed = core.on_loaded(load_ok(&[VOLUME]), Reason::Manifests, Instant::now());
    assert!(matches!(allowed, Loaded::Accepted { new: Some(_), .. }));
}

#[tokio::test(start_paused = true)]
async fn a_file_vanishing_during_a_load_should_be_read_again_after_the_debounce() {
    let mut core = running(&[DB]).await;
    let vanished = || {
        Err(LoadError::Io {
            path: "m/0.yaml".into(),
            source: std::io::ErrorKind::NotFound.into(),
        })
    };
    for attempt in 1..=3 {
        let loaded = core.on_loaded(vanished(), Reason::Manifests, Instant::now());
        assert!(matches!(loaded, Loaded::ReadAgain { attempt: a } if a == attempt));
        advance(Duration::from_millis(199)).await;
        assert!(due(&mut core).await.is_none());
        advance(Duration::from_millis(1)).await;
        assert_eq!(due(&mut core).await.unwrap().reason, Reason::LoadRetry);
    }
    let gave_up = core.on_loaded(vanished(), Reason::LoadRetry, Instant::now());
    assert!(matches!(gave_up, Loaded::Invalid { .. }));
}

#[tokio::test(start_paused = true)]
async fn ready_should_come_once_after_the_first_pass_and_readyz_needs_a_revision() {
    let mut core = Core::new(false, Duration::from_millis(200), Instant::now());
    assert!(due(&mut core).await.is_some());
    let loaded = core.on_loaded(load(&[BROKEN]), Reason::Start, Instant::now());
    assert!(matches!(loaded, Loaded::Invalid { ref keeping, .. } if keeping == "no revision yet"));
    let pass = due(&mut core).await.unwrap();
    assert!(core.start_pass(&pass.reason, Instant::now()).is_none());
    assert_eq!(core.phase(), ControllerPhase::Starting);
    assert_eq!(
        core.mark_ready(),
        Ready {
            first: true,
            has_revision: false
        }
    );
    assert_eq!(core.status_line(), "no valid revision yet");
    assert!(core.objects_view(Instant::now(), 0.0).is_none());

    core.on_loaded(load_ok(&[DB]), Reason::Manifests, Instant::now());
    assert_eq!(
        core.mark_ready(),
        Ready {
            first: false,
            has_revision: true
        }
    );
}

/// Passes the previous pass's observation on, as a pass that changed nothing does.
fn observed_pass(core: &mut Core) {
    let mut r = report(vec![], None);
    r.observed_after = Some(Arc::new(Observed::default()));
    pass_done(core, &r, Instant::now());
}

fn stale_of(start: &PassStart) -> Vec<&str> {
    let cached = start.cached.as_ref().expect("planned against the cache");
    cached.stale.iter().map(String::as_str).collect()
}

#[tokio::test(start_paused = true)]
async fn a_manifest_change_or_host_events_should_plan_against_the_cache_with_what_changed() {
    let mut core = running(&[DB, APP]).await;
    observed_pass(&mut core);
    let start = core.start_pass(&Reason::Manifests, Instant::now()).unwrap();
    assert!(stale_of(&start).is_empty(), "nothing happened on the host");

    observed_pass(&mut core);
    core.on_host_event(&unit_changed("db.service", "failed"), Instant::now());
    let died = HostEvent::Container {
        name: "app".to_owned(),
        status: ContainerEvent::parse("died"),
    };
    core.on_host_event(&died, Instant::now());
    let foreign = HostEvent::Container {
        name: "other".to_owned(),
        status: ContainerEvent::parse("died"),
    };
    core.on_host_event(&foreign, Instant::now());
    let start = core
        .start_pass(&Reason::Systemd("db.service".to_owned()), Instant::now())
        .unwrap();
    assert_eq!(
        stale_of(&start),
        ["app", "db"],
        "asked again, and only those"
    );

    // What arrives during a pass is still stale after it: the observation made after the
    // pass's actions may predate it.
    let health = HostEvent::Container {
        name: "db".to_owned(),
        status: ContainerEvent::parse("health_status"),
    };
    core.on_host_event(&health, Instant::now());
    observed_pass(&mut core);
    let start = core.start_pass(&Reason::Manifests, Instant::now()).unwrap();
    assert_eq!(stale_of(&start), ["db"]);
}

#[tokio::test(start_paused = true)]
async fn a_daemon_reloads_unit_removals_should_not_make_units_stale() {
    let mut core = running(&[DB, APP]).await;
    observed_pass(&mut core);
    for unit in ["db.service", "app.service"] {
        let removed = core.on_host_event(
            &HostEvent::UnitRemoved {
                unit: unit.to_owned(),
            },
            Instant::now(),
        );
        assert!(removed.pass.is_some(), "still a reason to look");
    }
    let start = core
        .start_pass(&Reason::Systemd("db.service".to_owned()), Instant::now())
        .unwrap();
    assert!(stale_of(&start).is_empty());
}

#[tokio::test(start_paused = true)]
async fn more_stale_containers_than_the_limit_should_observe_everything() {
    let files: Vec<String> = (0..=MAX_STALE)
        .map(|i| DB.replace("name: db", &format!("name: c{i}")))
        .collect();
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let mut core = running(&files).await;
    let died = |i: usize| HostEvent::Container {
        name: format!("c{i}"),
        status: ContainerEvent::parse("died"),
    };
    observed_pass(&mut core);
    for i in 0..MAX_STALE {
        core.on_host_event(&died(i), Instant::now());
    }
    let start = core.start_pass(&Reason::Manifests, Instant::now()).unwrap();
    assert_eq!(stale_of(&start).len(), MAX_STALE);

    observed_pass(&mut core);
    for i in 0..=MAX_STALE {
        core.on_host_event(&died(i), Instant::now());
    }
    let start = core.start_pass(&Reason::Manifests, Instant::now()).unwrap();
    assert!(start.cached.is_none());
    observed_pass(&mut core);
    let start = core.start_pass(&Reason::Manifests, Instant::now()).unwrap();
    assert!(stale_of(&start).is_empty(), "seen by the full observation");
}

#[tokio::test(start_paused = true)]
async fn a_resync_a_retry_or_a_lost_stream_should_observe_everything() {
    let mut core = running(&[DB]).await;
    for reason in [
        Reason::Resync,
        Reason::Retry,
        Reason::Updates,
        Reason::Sighup,
    ] {
        observed_pass(&mut core);
        core.on_host_event(&unit_changed("db.service", "failed"), Instant::now());
        let start = core.start_pass(&reason, Instant::now()).unwrap();
        assert!(start.cached.is_none(), "{reason}");
        observed_pass(&mut core);
        let start = core.start_pass(&Reason::Manifests, Instant::now()).unwrap();
        assert!(
            stale_of(&start).is_empty(),
            "{reason}: seen by the full observation"
        );
    }
    observed_pass(&mut core);
    core.on_host_event(&HostEvent::Lost { source: "podman" }, Instant::now());
    let start = core.start_pass(&Reason::Manifests, Instant::now()).unwrap();
    assert!(start.cached.is_none(), "what the stream missed is unknown");
}

#[tokio::test(start_paused = true)]
async fn phases_should_go_starting_running_stopping_and_never_back() {
    let mut core = Core::new(false, Duration::from_millis(200), Instant::now());
    assert!(due(&mut core).await.is_some());
    core.on_loaded(load_ok(&[DB]), Reason::Start, Instant::now());
    assert_eq!(core.phase(), ControllerPhase::Starting);
    assert!(core.mark_ready().first);
    assert_eq!(core.phase(), ControllerPhase::Running);

    assert!(core.on_stopping());
    assert_eq!(core.phase(), ControllerPhase::Stopping);
    assert!(!core.on_stopping(), "stopping twice is one transition");
    assert!(
        !core.mark_ready().first,
        "a stopping controller does not become ready"
    );
    assert_eq!(core.phase(), ControllerPhase::Stopping);
    let pass = due(&mut core).await.unwrap();
    assert!(
        core.start_pass(&pass.reason, Instant::now()).is_none(),
        "no pass starts once stopping"
    );
}

#[tokio::test(start_paused = true)]
async fn update_checks_should_run_on_their_timer_and_new_images_ask_for_a_pass() {
    let mut core = running(&[DB, APP]).await;
    let timer = UpdateTimer::new(Duration::from_secs(3600), Duration::from_secs(300));
    let start = Instant::now();
    core.schedule_updates(timer, start, 0.5);
    assert_eq!(
        core.scheduler.pending_at(&Work::UpdateCheck),
        Some(start + Duration::from_secs(150))
    );
    assert!(
        due(&mut core).await.is_none(),
        "nothing due before the delay"
    );
    advance(Duration::from_secs(150)).await;
    let check = due(&mut core).await.unwrap();
    assert_eq!(
        (check.key, check.reason),
        (Work::UpdateCheck, Reason::Updates)
    );
    assert!(core.start_update_check(Instant::now(), 0.0).is_some());

    // Nothing new: no pass, the next check an interval (and its delay) after this one.
    advance(Duration::from_secs(2)).await;
    let ended = Instant::now();
    let next = core.on_update_checked(false, ended, 0.0);
    assert_eq!(next, ended + Duration::from_secs(3600));
    assert_eq!(core.scheduler.pending_at(&Work::Reconcile), None);

    // New images: a pass now, on a fresh look at the host.
    advance(Duration::from_secs(3600)).await;
    assert_eq!(due(&mut core).await.unwrap().key, Work::UpdateCheck);
    assert!(core.start_update_check(Instant::now(), 0.0).is_some());
    let next = core.on_update_checked(true, Instant::now(), 1.0);
    assert_eq!(next, Instant::now() + Duration::from_secs(3900));
    assert_eq!(
        core.scheduler.pending_at(&Work::Reconcile),
        Some(Instant::now())
    );
    assert!(core.observed.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_stopping_controller_should_check_nothing() {
    let mut core = running(&[DB]).await;
    core.schedule_updates(UpdateTimer::default(), Instant::now(), 0.0);
    assert_eq!(due(&mut core).await.unwrap().key, Work::UpdateCheck);
    assert!(core.on_stopping());
    assert!(core.start_update_check(Instant::now(), 0.0).is_none());
    assert!(!core.scheduler.is_busy(&Work::UpdateCheck));
}

#[tokio::test(start_paused = true)]
async fn an_update_check_due_during_a_pass_should_run_after_it() {
    let mut core = running(&[DB]).await;
    core.schedule_updates(UpdateTimer::default(), Instant::now(), 0.0);
    assert!(core.start_pass(&Reason::Resync, Instant::now()).is_some());
    assert_eq!(due(&mut core).await.unwrap().key, Work::UpdateCheck);
    assert!(core.start_update_check(Instant::now(), 0.0).is_none());
    assert_eq!(core.scheduler.pending_at(&Work::UpdateCheck), None);
    core.on_pass_done(
        &report(Vec::new(), None),
        Instant::now(),
        SystemTime::now(),
        0.0,
    );
    assert_eq!(
        core.scheduler.pending_at(&Work::UpdateCheck),
        Some(Instant::now())
    );
}
