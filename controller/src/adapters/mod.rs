//! Thin adapters to the systems podctl drives: systemd over D-Bus, the podman CLI, and the
//! tools it calls beside them (restic, skopeo for registry lookups, cgroup files).
//!
//! They only translate: domain types in, domain types out, errors that say which unit or
//! which podman command failed and why. Policy (what to create, in which order) lives above.

pub mod cgroup;
pub mod git;
pub mod haproxy;
pub mod podman;
pub mod process;
pub mod registry;
pub mod restic;
pub mod systemd;
