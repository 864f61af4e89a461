//! The unit directory on disk: which units podctl owns, and atomic writes and removals.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::UnitFileOnDisk;
use crate::ownership::owns_unit_file;

#[derive(Debug, thiserror::Error)]
pub enum UnitDirError {
    #[error("cannot read unit directory {path}: {source}")]
    ReadDir { path: PathBuf, source: io::Error },
    #[error("cannot read unit file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write unit file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot remove unit file {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
}

/// Reads the `*.service` and `*.timer` files of `dir` (timers: volumes' backup schedules):
/// the full text of podctl's own, only the existence of the others. A missing directory is
/// empty.
pub fn read_unit_dir(
    dir: &Path,
) -> Result<std::collections::BTreeMap<String, UnitFileOnDisk>, UnitDirError> {
    let mut out = std::collections::BTreeMap::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(source) => {
            return Err(UnitDirError::ReadDir {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    for entry in entries {
        let entry = entry.map_err(|source| UnitDirError::ReadDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !(name.ends_with(".service") || name.ends_with(".timer")) || name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Symlinks here are enablement links or aliases of someone else's units.
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            out.insert(
                name,
                UnitFileOnDisk {
                    path,
                    content: String::new(),
                    managed: false,
                },
            );
            continue;
        }
        let content = read_if_managed(&path)?;
        let managed = content.is_some();
        out.insert(
            name,
            UnitFileOnDisk {
                path,
                content: content.unwrap_or_default(),
                managed,
            },
        );
    }
    Ok(out)
}

/// The file's text when its first line is podctl's mark; reads only that line otherwise.
fn read_if_managed(path: &Path) -> Result<Option<String>, UnitDirError> {
    let err = |source| UnitDirError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = fs::File::open(path).map_err(err)?;
    let mut head = [0u8; 64];
    let n = read_up_to(&mut file, &mut head).map_err(err)?;
    let marker = crate::render::MANAGED_MARKER.as_bytes();
    if n < marker.len() || &head[..marker.len()] != marker {
        return Ok(None);
    }
    let mut rest = Vec::new();
    file.read_to_end(&mut rest).map_err(err)?;
    let mut bytes = head[..n].to_vec();
    bytes.extend(rest);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok(owns_unit_file(&text).then_some(text))
}

fn read_up_to(file: &mut fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Writes a unit file atomically: a temporary file in the same directory, fsync, rename,
/// fsync of the directory. A crash leaves the old file or the new one, never half of one.
pub fn write_unit_file(dir: &Path, name: &str, content: &str) -> Result<PathBuf, UnitDirError> {
    let path = dir.join(name);
    let err = |source| UnitDirError::Write {
        path: path.clone(),
        source,
    };
    fs::create_dir_all(dir).map_err(err)?;
    let tmp = dir.join(format!(".{name}.podctl-tmp"));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        file.write_all(content.as_bytes())?;
        file.sync_all()?;
        drop(file);
        set_mode(&tmp)?;
        fs::rename(&tmp, &path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err)?;
    Ok(path)
}

fn set_mode(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))
}

/// Removes a unit file podctl wrote; one already gone is fine.
pub fn remove_unit_file(path: &Path) -> Result<(), UnitDirError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(UnitDirError::Remove {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::MANAGED_MARKER;

    #[test]
    fn only_marked_files_are_managed() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_unit_file(
            dir.path(),
            "a.service",
            &format!("{MANAGED_MARKER}\n[Unit]\n"),
        )
        .expect("write");
        fs::write(
            dir.path().join("b.service"),
            "[Unit]\nDescription=foreign\n",
        )
        .expect("write");
        fs::write(dir.path().join("c.timer"), "[Timer]\n").expect("write");
        fs::write(dir.path().join("d.socket"), "[Socket]\n").expect("write");
        let files = read_unit_dir(dir.path()).expect("read");
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["a.service", "b.service", "c.timer"]
        );
        assert!(!files["c.timer"].managed);
        assert!(files["a.service"].managed);
        assert!(files["a.service"].content.contains("[Unit]"));
        assert!(!files["b.service"].managed);
        assert!(files["b.service"].content.is_empty());
    }

    #[test]
    fn write_replaces_atomically_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_unit_file(dir.path(), "a.service", "one").expect("write");
        write_unit_file(dir.path(), "a.service", "two").expect("write");
        assert_eq!(
            fs::read_to_string(dir.path().join("a.service")).expect("read"),
            "two"
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn missing_directory_reads_as_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(
            read_unit_dir(&dir.path().join("nope"))
                .expect("read")
                .is_empty()
        );
    }
}
