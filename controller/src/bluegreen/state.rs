//! The state of one blue-green container, `STATE_DIR/bluegreen/NAME.json`: which colour the
//! proxy sends traffic to and how far a switch got, written (atomically, through
//! `state_file`) before each step that changes it, so that a pass killed at any point
//! leaves a state the next pass can finish or undo (`super::decide`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Colour;
use crate::state_file::{self, StateFileError};

/// The format of the file; another is not read.
pub const VERSION: u32 = 1;

const DIR: &str = "bluegreen";

/// Where a switch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "camelCase")]
pub enum Phase {
    /// `active` serves; nothing in progress.
    Serving,
    /// `to` is being started and judged; the proxy still sends everything to `active`.
    Starting { to: Colour },
    /// `to` passed its gate; the proxy is being pointed at it.
    Switching { to: Colour },
    /// The proxy sends to `to`; the old colour is draining and then stopped.
    Draining { to: Colour },
}

/// The last rollout that did not switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub colour: Colour,
    /// The hash of the definition that failed (its unit's `X-Podctl-Hash` and image).
    pub definition: String,
    /// Why, as people read it.
    pub reason: String,
    /// Seconds since the epoch.
    pub time: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub version: u32,
    pub container: String,
    /// The colour the proxy sends new requests to (the old one until a switch is done).
    pub active: Colour,
    #[serde(flatten)]
    pub phase: Phase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<Failure>,
}

impl State {
    pub fn new(container: &str, active: Colour) -> Self {
        Self {
            version: VERSION,
            container: container.to_owned(),
            active,
            phase: Phase::Serving,
            failed: None,
        }
    }

    /// The same state in `phase`.
    pub fn with_phase(&self, phase: Phase) -> Self {
        Self {
            phase,
            ..self.clone()
        }
    }
}

pub fn path(state_dir: &Path, container: &str) -> PathBuf {
    state_dir.join(DIR).join(format!("{container}.json"))
}

/// The state of `container`; `Ok(None)` before its first blue-green apply.
pub fn read(state_dir: &Path, container: &str) -> Result<Option<State>, StateFileError> {
    state_file::read(&path(state_dir, container), VERSION)
}

pub fn write(state_dir: &Path, state: &State) -> Result<(), StateFileError> {
    state_file::write(&path(state_dir, &state.container), state)
}

/// Removes the state of a container that left the revision (or blue-green).
pub fn remove(state_dir: &Path, container: &str) -> std::io::Result<()> {
    match std::fs::remove_file(path(state_dir, container)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
