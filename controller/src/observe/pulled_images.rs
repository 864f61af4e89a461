//! podctl's record of the images it pulled itself (`STATE_DIR/pulled-images`, one
//! reference a line): pruning removes only these, never an image someone else put there.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

const FILE: &str = "pulled-images";

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// The recorded references; a missing or unreadable record is empty (podctl then prunes
/// no images, the safe side).
pub fn read(state_dir: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path(state_dir))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Adds `pulled` and drops `removed`, rewriting the record atomically (temp file + rename).
pub fn update(state_dir: &Path, pulled: &[String], removed: &[String]) -> io::Result<()> {
    if pulled.is_empty() && removed.is_empty() {
        return Ok(());
    }
    let mut refs = read(state_dir);
    refs.extend(pulled.iter().cloned());
    for r in removed {
        refs.remove(r);
    }
    std::fs::create_dir_all(state_dir)?;
    let tmp = state_dir.join(format!(".{FILE}.tmp"));
    let mut text =
        String::from("# Images podctl pulled; it may remove them when no manifest uses them.\n");
    for r in &refs {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path(state_dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_should_add_and_remove_references() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(read(dir.path()).is_empty());
        update(dir.path(), &["a:1".into(), "b:2".into()], &[]).expect("update");
        update(dir.path(), &[], &["a:1".into()]).expect("update");
        assert_eq!(read(dir.path()), BTreeSet::from(["b:2".to_string()]));
    }
}
