//! podctl's controller: render desired state, observe the host, plan, execute.

pub mod adapters;
pub mod backup;
pub mod bluegreen;
pub mod controller;
pub mod execute;
pub mod failpoint;
pub mod fleet;
pub mod holds;
pub mod lock;
pub mod migrate;
pub mod observe;
pub mod ownership;
pub mod plan;
pub mod reconcile;
pub mod render;
pub mod report;
pub mod rollout;
pub mod state_file;
pub mod sync;
pub mod update;
