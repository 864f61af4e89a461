//! The shell of a blue-green switch (`Action::BlueGreen`): start the idle colour on the new
//! definition, judge it with the rollout gate, point the proxy at it through HAProxy's admin
//! socket, drain the old colour and stop it. The state file is written before each step
//! (`Starting`, `Switching`, `Draining`, `Serving`), so a pass killed anywhere leaves one
//! colour serving and a state the next pass finishes or undoes (`bluegreen::decide`). A
//! colour that fails its gate is stopped and never receives traffic.

use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant, SystemTime};

use tracing::{info, warn};

use super::Executor;
use super::enablement::Enablement;
use super::error::ActionError;
use super::rollout::{GateEnd, restart_done};
use crate::adapters::haproxy::{Haproxy, HaproxyError, ServerState};
use crate::bluegreen::state::{self, Failure};
use crate::bluegreen::{Colour, Phase, State, Switch, instance_name, instance_unit, proxy_unit};
use crate::failpoint;
use crate::render::bluegreen::{BACKEND, admin_socket};
use crate::rollout::{FailReason, ImagePin, Rollout, RolloutResult, with_image};

/// How often the old colour's sessions are looked at while it drains.
const DRAIN_POLL: Duration = Duration::from_millis(100);
/// How long a proxy started in the same pass has to open its admin socket.
const SOCKET_WAIT: Duration = Duration::from_secs(10);

impl Executor<'_> {
    /// Carries out `s`; `pulled` is the ID a pull of this pass gave its reference.
    pub(super) async fn blue_green(
        &self,
        s: &Switch,
        pulled: Option<&str>,
    ) -> Result<(), ActionError> {
        let began = StdInstant::now();
        let mut state = self.bluegreen_state(s);
        let to_pin = if s.start {
            self.start_and_judge(s, &mut state, pulled, began).await?
        } else {
            s.to_pin.clone()
        };
        self.switch_proxy(s, &mut state).await?;
        self.drain_and_stop(s, &mut state).await?;
        if let Some(to) = to_pin {
            self.record_switch(s, to, RolloutResult::Succeeded, None, began);
        }
        info!(object = %format!("container/{}", s.container), serving = %s.to, "blue-green switch done");
        Ok(())
    }

    fn bluegreen_state(&self, s: &Switch) -> State {
        match state::read(&self.state_dir, &s.container) {
            Ok(Some(state)) => state,
            Ok(None) => State::new(&s.container, s.from),
            Err(e) => {
                warn!(container = %s.container, error = %e, "blue-green state unreadable: starting a new one");
                State::new(&s.container, s.from)
            }
        }
    }

    fn save(&self, state: &State) -> Result<(), ActionError> {
        state::write(&self.state_dir, state).map_err(|e| ActionError::BlueGreenState {
            container: state.container.clone(),
            source: Arc::new(e),
        })
    }

    /// Starts `to` on its definition and judges it; on failure stops it, marks the
    /// definition failed and returns why nothing was switched. Returns the image it runs,
    /// when the switch is a rollout of the container's record.
    async fn start_and_judge(
        &self,
        s: &Switch,
        state: &mut State,
        pulled: Option<&str>,
        began: StdInstant,
    ) -> Result<Option<ImagePin>, ActionError> {
        *state = State {
            active: s.from,
            ..state.with_phase(Phase::Starting { to: s.to })
        };
        self.save(state)?;
        failpoint::hit("bluegreen-starting");
        let unit = instance_unit(&s.container, s.to);
        let to_pin = self.pin_after_pull(s, &unit, pulled).await?;
        self.reset_failed(&unit).await;
        let gate = Rollout {
            container: instance_name(&s.container, s.to),
            unit: unit.clone(),
            from: s.from_pin.clone(),
            to: to_pin.clone().unwrap_or_else(|| ImagePin {
                reference: s.reference.clone(),
                image_id: String::new(),
            }),
            trigger: s.trigger.unwrap_or(crate::rollout::Trigger::Manifest),
            gate: s.gate,
            template: s.template.clone(),
            dependents: Vec::new(),
        };
        let end = match restart_done(&unit, self.systemd.restart(&unit).await) {
            Ok(()) => self.watch_gate(&gate).await,
            Err(e) => {
                warn!(%unit, error = %e, "blue-green: the new colour did not start");
                GateEnd::Failed(FailReason::Crashed {
                    after_secs: began.elapsed().as_secs(),
                })
            }
        };
        match end {
            GateEnd::Passed => Ok(to_pin.filter(|_| s.trigger.is_some())),
            GateEnd::Interrupted => Err(ActionError::GateInterrupted { unit }),
            GateEnd::Failed(reason) => {
                Err(self.not_switched(s, state, to_pin, reason, began).await)
            }
        }
    }

    /// The image `to` starts with: the plan's pin, or (the image was not in local storage
    /// when planned) the ID the pull gave, written into `to`'s unit now.
    async fn pin_after_pull(
        &self,
        s: &Switch,
        unit: &str,
        pulled: Option<&str>,
    ) -> Result<Option<ImagePin>, ActionError> {
        if s.to_pin.is_some() {
            return Ok(s.to_pin.clone());
        }
        let Some(id) = pulled else {
            return Ok(None);
        };
        self.write_and_reload(unit, &with_image(&s.template, id))
            .await?;
        Ok(Some(ImagePin {
            reference: s.reference.clone(),
            image_id: id.to_owned(),
        }))
    }

    /// `to` failed its gate: stopped (its container goes with it), the definition marked
    /// failed in the state, the image in the record; the old colour never stopped serving.
    async fn not_switched(
        &self,
        s: &Switch,
        state: &mut State,
        to_pin: Option<ImagePin>,
        reason: FailReason,
        began: StdInstant,
    ) -> ActionError {
        let object = format!("container/{}", s.container);
        warn!(%object, colour = %s.to, %reason, serving = %s.from, "blue-green: the new colour failed its gate; not switched");
        self.stop_colour(s, s.to).await;
        *state = State {
            active: s.from,
            failed: Some(Failure {
                colour: s.to,
                definition: s.definition.clone(),
                reason: reason.to_string(),
                time: now_secs(),
            }),
            ..state.with_phase(Phase::Serving)
        };
        if let Err(e) = self.save(state) {
            warn!(%object, error = %e, "cannot write the blue-green state");
        }
        if let Some(to) = to_pin.filter(|_| s.trigger.is_some()) {
            self.record_switch(
                s,
                to,
                RolloutResult::RolledBack,
                Some(reason.clone()),
                began,
            );
        }
        ActionError::NotSwitched {
            container: s.container.clone(),
            colour: s.to,
            serving: s.from,
            reason,
        }
    }

    /// Points the proxy at `to` (ready) and away from `from` (maint: no new requests, the
    /// ones it has run on), then writes the proxy's unit with `to` as its start colour.
    async fn switch_proxy(&self, s: &Switch, state: &mut State) -> Result<(), ActionError> {
        *state = state.with_phase(Phase::Switching { to: s.to });
        self.save(state)?;
        failpoint::hit("bluegreen-switching");
        let haproxy = Haproxy::new(admin_socket(&s.container));
        let proxy_err = |e: HaproxyError| ActionError::Proxy {
            unit: proxy_unit(&s.container),
            source: Arc::new(e),
        };
        self.wait_for_socket(&haproxy).await;
        for (colour, server_state) in [(s.to, ServerState::Ready), (s.from, ServerState::Maint)] {
            haproxy
                .set_state(BACKEND, colour.as_str(), server_state)
                .await
                .map_err(proxy_err)?;
        }
        info!(object = %format!("container/{}", s.container), from = %s.from, to = %s.to, "blue-green: proxy switched");
        self.write_and_reload(&proxy_unit(&s.container), &s.proxy_after)
            .await?;
        *state = State {
            active: s.to,
            ..state.with_phase(Phase::Draining { to: s.to })
        };
        self.save(state)?;
        failpoint::hit("bluegreen-draining");
        Ok(())
    }

    /// A proxy started in this pass opens its socket once it parsed its configuration.
    async fn wait_for_socket(&self, haproxy: &Haproxy) {
        let deadline = StdInstant::now() + SOCKET_WAIT;
        while !haproxy.socket().exists() && StdInstant::now() < deadline {
            tokio::time::sleep(DRAIN_POLL).await;
        }
    }

    /// Waits until `from` has no session left (or the drain timeout), then stops it and
    /// moves the enablement to `to`.
    async fn drain_and_stop(&self, s: &Switch, state: &mut State) -> Result<(), ActionError> {
        let haproxy = Haproxy::new(admin_socket(&s.container));
        let deadline = StdInstant::now() + s.drain;
        loop {
            match haproxy.sessions(BACKEND, s.from.as_str()).await {
                Ok(0) => break,
                Ok(_) | Err(_) if StdInstant::now() < deadline => {
                    tokio::time::sleep(DRAIN_POLL).await
                }
                Ok(n) => {
                    warn!(container = %s.container, colour = %s.from, sessions = n, "drain timeout: stopping with sessions left");
                    break;
                }
                Err(e) => {
                    warn!(container = %s.container, error = %e, "cannot read the old colour's sessions: stopping it");
                    break;
                }
            }
        }
        self.stop_colour(s, s.from).await;
        if s.enabled {
            self.move_enablement(s).await;
        }
        *state = State {
            active: s.to,
            failed: None,
            ..state.with_phase(Phase::Serving)
        };
        self.save(state)
    }

    /// Stops a colour's unit; its container (`--rm`) goes with it, and is removed if not.
    async fn stop_colour(&self, s: &Switch, colour: Colour) {
        let unit = instance_unit(&s.container, colour);
        if let Err(e) = restart_done(&unit, self.systemd.stop(&unit).await) {
            warn!(%unit, error = %e, "cannot stop the colour");
        }
        // podman exits 143 on the stop's SIGTERM, which systemd records as a failure: a
        // stopped colour is idle, not failed.
        self.reset_failed(&unit).await;
        let name = instance_name(&s.container, colour);
        if let Err(e) = self.podman.remove_container(&name, true).await
            && !e.is_not_found()
        {
            warn!(container = %name, error = %e, "cannot remove the colour's container");
        }
    }

    /// At boot the colour that serves starts, not the one that served before.
    async fn move_enablement(&self, s: &Switch) {
        let (to, from) = (
            instance_unit(&s.container, s.to),
            instance_unit(&s.container, s.from),
        );
        for (change, unit) in [(Enablement::Enable, to), (Enablement::Disable, from)] {
            for (unit, result) in self.enablement_batch(change, &[unit]).await {
                if let Err(e) = result {
                    warn!(%unit, error = %e, "cannot change the enablement of a colour");
                }
            }
        }
    }

    /// The switch's end in the container's rollout record (history, rollback target).
    fn record_switch(
        &self,
        s: &Switch,
        to: ImagePin,
        result: RolloutResult,
        reason: Option<FailReason>,
        began: StdInstant,
    ) {
        let Some(trigger) = s.trigger else { return };
        let r = Rollout {
            container: s.container.clone(),
            unit: instance_unit(&s.container, s.to),
            from: s.from_pin.clone(),
            to,
            trigger,
            gate: s.gate,
            template: s.template.clone(),
            dependents: Vec::new(),
        };
        self.record(&r, result, reason, began);
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
