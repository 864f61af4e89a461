//! Diagnostics: what is wrong with a manifest, where (`FILE:LINE:COL`) and how to fix it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

// Text quoted from a manifest may hold newlines or terminal escape sequences: shown escaped
// (`a\nb`), so that one diagnostic stays one line and cannot drive the terminal.
use crate::printable::printable;

/// A position in a source text: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mark {
    pub line: usize,
    pub col: usize,
}

impl Mark {
    pub fn new(line: usize, col: usize) -> Self {
        Self { line, col }
    }
}

/// A position in a named file: what every diagnostic and every object carries.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub file: Arc<Path>,
    pub mark: Mark,
}

impl Location {
    pub fn new(file: Arc<Path>, mark: Mark) -> Self {
        Self { file, mark }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.file.display(),
            self.mark.line,
            self.mark.col
        )
    }
}

/// One problem with a revision, pinned to a place in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub location: Location,
    pub message: String,
    /// What to do about it, when podctl can tell.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(location: Location, message: impl Into<String>) -> Self {
        Self {
            location,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn file(&self) -> &Path {
        &self.location.file
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The location names a file, whose name is anyone's text too.
        write!(
            f,
            "{}: {}",
            printable(&self.location.to_string()),
            printable(&self.message)
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {}", printable(hint))?;
        }
        Ok(())
    }
}

/// At most this many characters of a key or value podctl does not know are quoted back: a
/// file that is not a manifest (a linked `/etc/shadow`, a key pasted by mistake) must not be
/// copied into logs, CI output and the controller's status.
pub const EXCERPT_CHARS: usize = 24;

/// `text` as it may be quoted in a diagnostic: control characters escaped, and cut after
/// [`EXCERPT_CHARS`] characters with the number of characters left out.
pub fn excerpt(text: &str) -> String {
    let count = text.chars().count();
    let head: String = text.chars().take(EXCERPT_CHARS).collect();
    let shown = printable(&head).into_owned();
    if count > EXCERPT_CHARS {
        format!("{shown}… ({} more characters)", count - EXCERPT_CHARS)
    } else {
        shown
    }
}

/// Every problem found in one revision, in file order: podctl reports all of them at once
/// so that an operator fixes a commit in one round, not one error per run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.0.extend(other);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// Sorts by file, line and column, dropping exact repeats, so reports are stable.
    pub fn sort(&mut self) {
        self.0
            .sort_by(|a, b| (&a.location, &a.message).cmp(&(&b.location, &b.message)));
        self.0.dedup();
    }

    /// How many distinct files the diagnostics point into.
    pub fn file_count(&self) -> usize {
        let mut files: Vec<&Path> = self.0.iter().map(|d| d.file()).collect();
        files.sort();
        files.dedup();
        files.len()
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.0
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Suggests the closest of `candidates` to a misspelled `input`, for "did you mean" hints.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::jaro_winkler(&input.to_ascii_lowercase(), &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// A path shown to users: relative paths stay as given, so reports match what the
/// operator typed (`manifests/app.yaml`, not an absolute path of a symlink target).
pub fn display_path(dir_as_given: &Path, relative: &Path) -> PathBuf {
    dir_as_given.join(relative)
}

#[cfg(test)]
mod excerpt_tests {
    use super::*;

    #[test]
    fn excerpt_should_cut_long_text_and_escape_control_characters() {
        assert_eq!(excerpt("image"), "image");
        assert_eq!(excerpt("a\u{1b}[2J"), "a\\u{1b}[2J");
        let shadow = "root:$6$saltsalt$0123456789abcdefghijklmnopqrstuvwxyz:19000:0:99999:7:::";
        let shown = excerpt(shadow);
        assert!(shown.starts_with("root:$6$saltsalt$0123456…"), "{shown}");
        assert!(!shown.contains("abcdef"), "{shown}");
        assert!(shown.ends_with("more characters)"), "{shown}");
    }
}
