//! The test host harness: drives the sandbox of `hack/sandbox` from Rust tests.
//!
//! [`TestHost`] finds the running sandbox, runs commands and `podctl` inside it, writes
//! manifest sets where it can read them, and queries podman. [`Systemd`] reads unit state over
//! the sandbox's D-Bus system bus, as podctl itself will. [`wait_until`] is the only way tests
//! wait: a bounded poll on a condition, never a fixed sleep.

pub mod controller;
pub mod fleet;
mod host;
pub mod load;
mod podctl;
mod systemd;
mod turn;
mod wait;

pub use host::{ExecOutput, ManifestDir, TestHost};
pub use load::Load;
pub use podctl::line_of;
pub use systemd::{Systemd, UnitStatus};
pub use turn::ApplyTurn;
pub use wait::wait_until;
