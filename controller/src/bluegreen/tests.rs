use super::*;

fn seen(state: Option<State>, blue: (bool, bool), green: (bool, bool)) -> Seen {
    Seen {
        state,
        blue: InstanceSeen {
            running: blue.0,
            current: blue.1,
        },
        green: InstanceSeen {
            running: green.0,
            current: green.1,
        },
        desired_failed: false,
    }
}

fn in_phase(active: Colour, phase: Phase) -> Option<State> {
    Some(State::new("web", active).with_phase(phase))
}

#[test]
fn decide_should_bootstrap_blue_when_nothing_runs_and_there_is_no_state() {
    let next = decide(&seen(None, (false, false), (false, false)));
    assert_eq!(
        next,
        Next::Bootstrap {
            colour: Colour::Blue
        }
    );
}

#[test]
fn decide_should_keep_serving_when_the_active_colour_runs_the_desired_definition() {
    let state = in_phase(Colour::Green, Phase::Serving);
    let next = decide(&seen(state, (false, false), (true, true)));
    assert_eq!(
        next,
        Next::Serving {
            active: Colour::Green
        }
    );
}

#[test]
fn decide_should_roll_to_the_idle_colour_when_the_definition_changed() {
    let state = in_phase(Colour::Blue, Phase::Serving);
    let next = decide(&seen(state, (true, false), (false, false)));
    assert_eq!(
        next,
        Next::Roll {
            from: Colour::Blue,
            to: Colour::Green
        }
    );
}

#[test]
fn decide_should_hold_a_definition_that_failed_its_gate_before() {
    let mut s = seen(
        in_phase(Colour::Blue, Phase::Serving),
        (true, false),
        (false, false),
    );
    s.desired_failed = true;
    assert_eq!(
        decide(&s),
        Next::Serving {
            active: Colour::Blue
        }
    );
}

#[test]
fn decide_should_undo_a_rollout_cut_off_before_its_switch_when_the_old_definition_is_wanted() {
    // Killed while green was judged, and the manifest went back: blue serves, green stops.
    let state = in_phase(Colour::Blue, Phase::Starting { to: Colour::Green });
    let next = decide(&seen(state, (true, true), (true, false)));
    assert_eq!(
        next,
        Next::Serving {
            active: Colour::Blue
        }
    );
}

#[test]
fn decide_should_start_over_a_rollout_cut_off_before_its_switch() {
    let state = in_phase(Colour::Blue, Phase::Starting { to: Colour::Green });
    let next = decide(&seen(state, (true, false), (true, true)));
    assert_eq!(
        next,
        Next::Roll {
            from: Colour::Blue,
            to: Colour::Green
        }
    );
}

#[test]
fn decide_should_finish_a_switch_cut_off_while_the_new_colour_runs() {
    for phase in [
        Phase::Switching { to: Colour::Green },
        Phase::Draining { to: Colour::Green },
    ] {
        let state = in_phase(Colour::Blue, phase);
        let next = decide(&seen(state, (true, false), (true, true)));
        assert_eq!(
            next,
            Next::Finish {
                from: Colour::Blue,
                to: Colour::Green
            }
        );
    }
}

#[test]
fn decide_should_go_back_to_the_old_colour_when_the_new_one_died_mid_switch() {
    let state = in_phase(Colour::Blue, Phase::Switching { to: Colour::Green });
    let next = decide(&seen(state, (true, false), (false, true)));
    assert_eq!(
        next,
        Next::Finish {
            from: Colour::Green,
            to: Colour::Blue
        }
    );
}

#[test]
fn decide_should_move_traffic_to_the_idle_colour_when_only_it_runs() {
    let state = in_phase(Colour::Blue, Phase::Serving);
    let next = decide(&seen(state, (false, true), (true, true)));
    assert_eq!(
        next,
        Next::Finish {
            from: Colour::Blue,
            to: Colour::Green
        }
    );
}

#[test]
fn state_should_round_trip_through_its_file_at_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut state =
        State::new("web", Colour::Green).with_phase(Phase::Draining { to: Colour::Blue });
    state.failed = Some(state::Failure {
        colour: Colour::Blue,
        definition: "abc".into(),
        reason: "unhealthy after 2s".into(),
        time: 1,
    });
    state::write(dir.path(), &state).unwrap();
    assert_eq!(state::read(dir.path(), "web").unwrap(), Some(state));
    let text = std::fs::read_to_string(state::path(dir.path(), "web")).unwrap();
    assert!(text.contains("\"phase\": \"draining\""), "{text}");
}
