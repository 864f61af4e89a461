//! podctl's manifest API (`podctl.io/v1`): the types of every kind, a strict loader that
//! reads a manifest directory as one revision and reports every problem as
//! `FILE:LINE:COL`, and the revision's dependency graph. Pure: no I/O beyond reading files.

mod backup_checks;
pub mod bluegreen_checks;
pub mod diagnostic;
mod document;
pub mod graph;
mod host_settings_checks;
pub mod hosts;
pub mod kinds;
pub mod load;
pub mod name;
pub mod printable;
mod reference;
pub mod revision;
pub mod schema;
pub mod unit_size;
mod validate;
pub mod values;
pub mod yaml;

pub use diagnostic::{Diagnostic, Diagnostics, Location, Mark, excerpt};
pub use graph::DependencyGraph;
pub use hosts::{HostIdentity, HostSelection};
pub use kinds::*;
pub use load::{
    LoadError, LoadOptions, SourceFile, from_sources, from_sources_for, load_dir, load_dir_with,
    plural,
};
pub use name::Name;
pub use printable::printable;
pub use revision::{Revision, Stats, object_hash};
