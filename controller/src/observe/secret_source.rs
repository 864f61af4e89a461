//! Reading a Secret's source (a host file or podctl's environment) into memory just long
//! enough to hash it or hand it to podman. The value type has no way to be printed, and
//! every error names the source, never its content.

use std::fmt;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use podctl_api::SecretOrigin;
use sha2::{Digest, Sha256};

/// How many hex digits of the SHA-256 of a secret's content podctl shows and labels with.
pub const HASH_LEN: usize = 16;

/// podman takes a secret of 1 byte up to this many (its own limit, 4.3 through 5).
pub const MAX_SIZE: usize = 512_000;

/// A secret's value. Deliberately neither `Debug`-printable nor `Display`: it cannot end up
/// in a log line or an error by accident. Zeroed when dropped.
pub struct SecretValue(Vec<u8>);

impl SecretValue {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The truncated HMAC-SHA-256 of the value under this host's key, in hex: what outputs
    /// and labels show. Keyed, so that a label readable by every local user (unit files,
    /// D-Bus, `podman inspect`) cannot be checked against a dictionary of passwords.
    pub fn hash(&self, key: &HashKey) -> String {
        use hmac::Mac as _;
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
        let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(&key.0) else {
            return String::new();
        };
        mac.update(&self.0);
        hex_prefix(&mac.finalize().into_bytes())
    }
}

/// The host-local key of secret hashes: 32 random bytes in a root-only file under podctl's
/// state directory, made on first use. Losing it changes every secret's hash once (each
/// secret is created again and its consumers restarted once), nothing worse.
#[derive(Clone)]
pub struct HashKey([u8; 32]);

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashKey(<redacted>)")
    }
}

/// The key's file in the state directory.
pub const KEY_FILE: &str = "secret-hash.key";

impl HashKey {
    /// Reads the key from `state_dir`, or makes it (directory 0700, file 0600).
    pub fn load_or_create(state_dir: &Path) -> std::io::Result<Self> {
        use std::io::{Read as _, Write as _};
        use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
        let path = state_dir.join(KEY_FILE);
        if let Some(key) = Self::read(&path)? {
            return Ok(key);
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)?;
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        // Written whole under another name, then linked into place without replacing: a
        // second podctl making its own key at the same moment keeps the first one's.
        let tmp = state_dir.join(format!(".{KEY_FILE}.{}", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(Self(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::read(&path)?
                .ok_or_else(|| std::io::Error::other("the key file vanished while read")),
            Err(e) => Err(e),
        }
    }

    fn read(path: &Path) -> std::io::Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(bytes) => <[u8; 32]>::try_from(bytes.as_slice())
                .map(|k| Some(Self(k)))
                .map_err(|_| {
                    std::io::Error::other(format!(
                        "{} is not a 32-byte key; remove it to have a new one made",
                        path.display()
                    ))
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    #[cfg(test)]
    pub fn fixed(byte: u8) -> Self {
        Self([byte; 32])
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

impl Drop for SecretValue {
    fn drop(&mut self) {
        self.0.fill(0);
        std::hint::black_box(&self.0);
    }
}

/// The truncated SHA-256 of `content`, in hex (desired specs; never a secret's value).
pub fn content_hash(content: &[u8]) -> String {
    hex_prefix(&Sha256::digest(content))
}

fn hex_prefix(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .take(HASH_LEN / 2)
        .fold(String::with_capacity(HASH_LEN), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Reads the value. Errors say which source and what is wrong with it (for a file: the
/// path, and for a permission problem its mode and owner and who podctl runs as).
pub fn read(source: &SecretOrigin) -> Result<SecretValue, String> {
    let value = match source {
        SecretOrigin::File(path) => read_file(path)?,
        SecretOrigin::Env(name) => match std::env::var_os(name) {
            Some(v) => SecretValue(v.into_encoded_bytes()),
            None => {
                return Err(format!(
                    "environment variable {name} is not set in podctl's environment; set it for the podctl process (e.g. Environment= or EnvironmentFile= in podctl's own unit)"
                ));
            }
        },
    };
    match value.0.len() {
        0 => Err(format!(
            "secret {source} is empty; podman stores no empty secret"
        )),
        n if n > MAX_SIZE => Err(format!(
            "secret {source} is larger than podman's limit of {MAX_SIZE} bytes"
        )),
        _ => Ok(value),
    }
}

fn read_file(path: &Path) -> Result<SecretValue, String> {
    use std::io::Read as _;
    // A FIFO would block podctl and a device (/dev/zero) would not end: regular files
    // only, and never more than podman would take.
    let read = std::fs::metadata(path).and_then(|m| {
        if !m.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        let mut bytes = Vec::new();
        std::fs::File::open(path)?
            .take(MAX_SIZE as u64 + 1)
            .read_to_end(&mut bytes)?;
        Ok(bytes)
    });
    match read {
        Ok(bytes) => Ok(SecretValue(bytes)),
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            let detail = std::fs::metadata(path).map_or_else(
                |_| String::new(),
                |m| {
                    format!(
                        " (mode {:04o}, owner uid {} gid {})",
                        m.mode() & 0o7777,
                        m.uid(),
                        m.gid()
                    )
                },
            );
            Err(format!(
                "cannot read secret file {}: permission denied{detail}; podctl runs as uid {}: make the file readable by that user",
                path.display(),
                current_uid()
            ))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Err(format!(
            "cannot read secret file {}: it does not exist",
            path.display()
        )),
        Err(e) => Err(format!("cannot read secret file {}: {e}", path.display())),
    }
}

/// The effective uid from /proc, for error messages (no libc dependency for one number).
fn current_uid() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .unwrap_or_else(|| "?".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_should_never_be_debug_printed() {
        let v = SecretValue(b"hunter2".to_vec());
        assert_eq!(format!("{v:?}"), "SecretValue(<redacted>)");
    }

    #[test]
    fn hash_should_be_truncated_sha256() {
        // sha256("hunter2") = f52fbd32b2b3b86ff88ef6c490628285f482af15ddcb29541f94bcf526a3f6c7
        assert_eq!(content_hash(b"hunter2"), "f52fbd32b2b3b86f");
    }

    #[test]
    fn missing_file_should_name_the_path_and_not_the_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nope");
        let e = read(&SecretOrigin::File(path.clone())).expect_err("missing");
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn missing_env_should_name_the_variable() {
        let e = read(&SecretOrigin::Env("PODCTL_TEST_SURELY_UNSET_VAR".into())).expect_err("unset");
        assert!(e.contains("PODCTL_TEST_SURELY_UNSET_VAR"), "{e}");
    }

    #[test]
    fn devices_fifos_empty_and_oversized_files_should_be_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; MAX_SIZE + 1]).expect("write");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "").expect("write");
        for (path, why) in [
            (fifo.as_path(), "not a regular file"),
            (Path::new("/dev/zero"), "not a regular file"),
            (big.as_path(), "larger than podman's limit"),
            (empty.as_path(), "is empty"),
        ] {
            let e = read(&SecretOrigin::File(path.to_path_buf())).expect_err("refused");
            assert!(
                e.contains(why) && e.contains(&path.display().to_string()),
                "{e}"
            );
        }
    }

    #[test]
    fn file_value_should_be_read_and_hashed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s");
        std::fs::write(&path, "hunter2").expect("write");
        let v = read(&SecretOrigin::File(path)).expect("read");
        assert_eq!(v.as_bytes(), b"hunter2");
        let key = HashKey::fixed(7);
        assert_eq!(v.hash(&key), v.hash(&key), "stable under one key");
        assert_ne!(v.hash(&key), "f52fbd32b2b3b86f", "not the unkeyed sha256");
        assert_ne!(
            v.hash(&key),
            v.hash(&HashKey::fixed(8)),
            "each host its own"
        );
        assert_eq!(v.hash(&key).len(), HASH_LEN);
    }

    #[test]
    fn hash_key_should_be_made_once_root_only_and_then_read() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let first = HashKey::load_or_create(&state).expect("made");
        let again = HashKey::load_or_create(&state).expect("read");
        assert_eq!(first.0, again.0);
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&state.join(KEY_FILE)), 0o600);
        assert_eq!(mode(&state), 0o700);
        assert_eq!(
            std::fs::read_dir(&state).expect("ls").count(),
            1,
            "no temporary left"
        );
        std::fs::write(state.join(KEY_FILE), b"short").expect("write");
        let e = HashKey::load_or_create(&state).expect_err("a bad key");
        assert!(e.to_string().contains("not a 32-byte key"), "{e}");
    }
}
