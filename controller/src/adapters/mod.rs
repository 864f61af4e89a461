//! Thin adapters to the two systems podctl drives: systemd over D-Bus and the podman CLI.
//!
//! They only translate: domain types in, domain types out, errors that say which unit or
//! which podman command failed and why. Policy (what to create, in which order) lives above.

pub mod cgroup;
pub mod haproxy;
pub mod podman;
pub mod restic;
pub mod systemd;
