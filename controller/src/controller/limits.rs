//! Process limits the controller sets for itself at start: the soft limit of open files is
//! raised to the hard one, so that HTTP clients, podman pipes and D-Bus never compete for
//! the 1,024 descriptors a service gets by default.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Where the soft limit goes when the hard one is unlimited (the kernel refuses more than
/// `fs.nr_open`, whose default is this).
const UNLIMITED_NOFILE: u64 = 1 << 20;

/// The soft `RLIMIT_NOFILE` before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised {
    pub before: Option<u64>,
    pub after: Option<u64>,
}

/// Raises the soft limit of open files to the hard limit. Raising a soft limit needs no
/// privilege, so failure is unexpected: it is returned for the caller to log, not to stop.
pub fn raise_nofile() -> Result<Raised, rustix::io::Errno> {
    let limit = getrlimit(Resource::Nofile);
    let target = limit.maximum.unwrap_or(UNLIMITED_NOFILE);
    if limit.current.is_some_and(|c| c >= target) {
        return Ok(Raised {
            before: limit.current,
            after: limit.current,
        });
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(target),
            maximum: limit.maximum,
        },
    )?;
    Ok(Raised {
        before: limit.current,
        after: getrlimit(Resource::Nofile).current,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_nofile_should_leave_the_soft_limit_at_the_hard_one() {
        let raised = raise_nofile().unwrap();
        let limit = getrlimit(Resource::Nofile);
        assert_eq!(raised.after, limit.current);
        assert_eq!(
            limit.current,
            Some(limit.maximum.unwrap_or(UNLIMITED_NOFILE))
        );
    }
}
