//! Moving to and from podctl: Compose files and Quadlet units become manifests, manifests
//! become Quadlet units. Pure functions of text: the CLI (`podctl import`, `podctl export`)
//! reads and writes the files. Nothing is dropped silently: every key that has no place on
//! the other side is a [`Finding`] with its position and the reason.

pub mod compose;
pub mod interpolate;
pub mod manifest;
pub mod names;
pub mod quadlet;

use std::fmt;

use podctl_api::{Diagnostic, Location};

/// How much a finding matters to the person migrating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Mapped, with a change worth knowing (a renamed object, a path made absolute).
    Note,
    /// Not mapped: the source said something the result does not (`--strict` fails on it).
    NotMapped,
}

/// One key (or value) that was not carried over as written, at its place in the source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub location: Location,
    pub severity: Severity,
    /// The key's path in the source (`services.web.build`, `[Container] Pod`).
    pub key: String,
    pub reason: String,
}

impl Finding {
    pub fn not_mapped(
        location: Location,
        key: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            location,
            severity: Severity::NotMapped,
            key: key.into(),
            reason: reason.into(),
        }
    }

    pub fn note(location: Location, key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            location,
            severity: Severity::Note,
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.severity {
            Severity::Note => "note",
            Severity::NotMapped => "warning: not mapped",
        };
        // Keys and reasons quote the source file: anyone's text, escaped.
        write!(
            f,
            "{}: {what}: `{}`: {}",
            podctl_api::printable(&self.location.to_string()),
            podctl_api::printable(&self.key),
            podctl_api::printable(&self.reason)
        )
    }
}

/// What an import or export found: the findings, and the errors that stop it.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// Problems that make the source unusable (a syntax error, a required variable that is
    /// missing, a value the manifest cannot hold): nothing is written when there is one.
    pub errors: Vec<Diagnostic>,
}

impl Report {
    pub fn not_mapped(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::NotMapped)
            .count()
    }

    pub fn sort(&mut self) {
        self.findings.sort();
        self.findings.dedup();
        self.errors.sort_by(|a, b| a.location.cmp(&b.location));
    }
}
