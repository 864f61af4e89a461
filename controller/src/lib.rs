//! podctl's controller: render desired state, observe the host, plan, execute.

pub mod render;
