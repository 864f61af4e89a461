//! Blue-green rollouts, the pure part: the two colours a container runs as, the state
//! podctl keeps of them (`STATE_DIR/bluegreen/NAME.json`: which colour serves, and how far
//! a switch got), and `decide`, which picks the next step from that state and what the host
//! shows. The shell is `execute/bluegreen.rs` (start, gate, switch the proxy, drain, stop);
//! the units are rendered in `render/bluegreen.rs`, planned in `plan/bluegreen.rs`.

pub mod state;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use state::{Phase, State};

/// How long the old colour is given to finish the requests it has after the switch,
/// before it is stopped. Long requests beyond it are cut off by the stop.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// One of the two instances of a blue-green container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    Blue,
    Green,
}

impl Colour {
    pub const ALL: [Colour; 2] = [Colour::Blue, Colour::Green];

    pub fn other(self) -> Self {
        match self {
            Self::Blue => Self::Green,
            Self::Green => Self::Blue,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blue => "blue",
            Self::Green => "green",
        }
    }

    /// Its internal port: the published one plus this colour's offset.
    pub fn port(self, published: u16) -> u16 {
        let offset = match self {
            Self::Blue => podctl_api::bluegreen_checks::BLUE_PORT_OFFSET,
            Self::Green => podctl_api::bluegreen_checks::GREEN_PORT_OFFSET,
        };
        published.saturating_add(offset)
    }
}

impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The container name (and unit stem) of one colour of `container`.
pub fn instance_name(container: &str, colour: Colour) -> String {
    format!("{container}-{colour}")
}

/// The unit of one colour of `container`.
pub fn instance_unit(container: &str, colour: Colour) -> String {
    format!("{}.service", instance_name(container, colour))
}

/// The unit of `container`'s proxy.
pub fn proxy_unit(container: &str) -> String {
    format!("{container}-proxy.service")
}

/// Every unit a blue-green container runs as: its colours' and its proxy's.
pub fn units(container: &str) -> Vec<String> {
    let mut units: Vec<String> = Colour::ALL
        .iter()
        .map(|c| instance_unit(container, *c))
        .collect();
    units.push(proxy_unit(container));
    units
}

/// The units that run a Container object's containers: `NAME.service`, or a blue-green
/// container's two colours (its proxy runs none).
pub fn container_units(object: &podctl_api::Object) -> Vec<String> {
    match object.as_container() {
        Some(c) if podctl_api::bluegreen_checks::is_blue_green(c) => Colour::ALL
            .iter()
            .map(|c| instance_unit(object.name().as_str(), *c))
            .collect(),
        _ => vec![crate::render::unit_name(object.name())],
    }
}

/// What the host shows of one colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InstanceSeen {
    /// Its unit is active (or activating).
    pub running: bool,
    /// Its unit file is the desired definition rendered for this colour.
    pub current: bool,
}

/// What `decide` reads: the state file and both colours.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Seen {
    pub state: Option<State>,
    pub blue: InstanceSeen,
    pub green: InstanceSeen,
    /// The desired definition of the idle colour failed its gate before (its hash is the
    /// state's `failed`): it is not tried again until the definition changes.
    pub desired_failed: bool,
}

impl Seen {
    pub fn of(&self, colour: Colour) -> InstanceSeen {
        match colour {
            Colour::Blue => self.blue,
            Colour::Green => self.green,
        }
    }

    /// The colour the proxy sends traffic to, by the state (blue before any).
    pub fn active(&self) -> Colour {
        self.state.as_ref().map_or(Colour::Blue, |s| s.active)
    }
}

/// The next step of a blue-green container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The active colour runs the desired definition; the idle one is stopped if it runs
    /// (a rollout cut off before its switch is undone that way).
    Serving { active: Colour },
    /// Nothing serves: the colour is started directly (the first apply, or both stopped).
    Bootstrap { colour: Colour },
    /// Start `to` on the desired definition beside `from`, judge it, switch the proxy,
    /// drain and stop `from`.
    Roll { from: Colour, to: Colour },
    /// A switch was cut off half-way, or the active colour is gone while the other runs:
    /// point the proxy at `to` (which runs), drain and stop `from`.
    Finish { from: Colour, to: Colour },
}

impl Next {
    /// The colour that serves once this step is done.
    pub fn serving(self) -> Colour {
        match self {
            Self::Serving { active } => active,
            Self::Bootstrap { colour } => colour,
            Self::Roll { to, .. } | Self::Finish { to, .. } => to,
        }
    }
}

/// Decides the next step from the state file and what runs.
pub fn decide(seen: &Seen) -> Next {
    if let Some(next) = resume(seen) {
        return next;
    }
    let active = seen.active();
    let (a, idle) = (seen.of(active), seen.of(active.other()));
    match (a.running, idle.running) {
        (false, true) => Next::Finish {
            from: active,
            to: active.other(),
        },
        (false, false) => Next::Bootstrap { colour: active },
        (true, _) if a.current || seen.desired_failed => Next::Serving { active },
        (true, _) => Next::Roll {
            from: active,
            to: active.other(),
        },
    }
}

/// A state file that says a switch began: finish it if the new colour runs, else go back.
fn resume(seen: &Seen) -> Option<Next> {
    let state = seen.state.as_ref()?;
    let to = match state.phase {
        Phase::Serving | Phase::Starting { .. } => return None,
        Phase::Switching { to } | Phase::Draining { to } => to,
    };
    let from = to.other();
    Some(match (seen.of(to).running, seen.of(from).running) {
        (true, _) => Next::Finish { from, to },
        (false, true) => Next::Finish { from: to, to: from },
        (false, false) => Next::Bootstrap { colour: to },
    })
}

#[cfg(test)]
mod tests;

/// One switch the executor carries out (`Action::BlueGreen`): with `start`, a rollout
/// (start `to` on the new definition, judge it, switch, drain, stop `from`); without, the
/// end of a switch that was cut off (`to` runs: switch, drain, stop `from`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    pub container: String,
    pub from: Colour,
    pub to: Colour,
    pub start: bool,
    pub gate: crate::rollout::GateSpec,
    /// `to`'s unit with the image placeholder: written pinned to the ID a pull told, when
    /// the plan did not know it (`to_pin` is `None`).
    pub template: String,
    pub reference: String,
    pub from_pin: Option<crate::rollout::ImagePin>,
    pub to_pin: Option<crate::rollout::ImagePin>,
    /// What the container's rollout record gets (an image change), if anything.
    pub trigger: Option<crate::rollout::Trigger>,
    /// The definition `to` starts with (its unit's hash and image), marked failed when it
    /// fails its gate so that it is not tried again.
    pub definition: String,
    /// The proxy's unit once `to` serves: written after the switch, so that a restart of
    /// the proxy (a reboot) starts on the colour that serves.
    pub proxy_after: String,
    /// Enable `to`'s unit and disable `from`'s after the switch (the manifest's `enabled`).
    pub enabled: bool,
    pub drain: Duration,
}

impl fmt::Display for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (from, to) = (
            instance_name(&self.container, self.from),
            instance_name(&self.container, self.to),
        );
        if self.start {
            write!(
                f,
                "start {to} beside {from} (gate: {}s to start, {}s watch), switch {} to {to}, drain {from} (up to {}s), stop it",
                self.gate.timeout.as_secs(),
                self.gate.watch.as_secs(),
                proxy_unit(&self.container),
                self.drain.as_secs()
            )
        } else {
            write!(
                f,
                "finish the switch: {} to {to}, drain {from} (up to {}s), stop it",
                proxy_unit(&self.container),
                self.drain.as_secs()
            )
        }
    }
}
