//! A HostSettings as podctl's two files: `/etc/sysctl.d/90-podctl.conf` (one `key = value`
//! line per parameter) and the journald.conf drop-in. Each starts with podctl's marker and
//! names its object, so that a removal knows whose file it removes.

use std::fmt::Write as _;

use podctl_api::{HostSettingsSpec, Name};

use super::MANAGED_MARKER;

const OBJECT_LINE: &str = "# podctl object: hostsettings/";

fn header(name: &Name) -> String {
    format!("{MANAGED_MARKER}\n{OBJECT_LINE}{name}\n")
}

/// The object named in a file podctl wrote, if any.
pub fn object_of(content: &str) -> Option<&str> {
    content
        .lines()
        .find_map(|l| l.strip_prefix(OBJECT_LINE))
        .map(str::trim)
}

/// The sysctl file; `None` without parameters.
pub fn sysctl_file(name: &Name, spec: &HostSettingsSpec) -> Option<String> {
    if spec.sysctl.is_empty() {
        return None;
    }
    let mut s = header(name);
    for (key, value) in &spec.sysctl {
        // Validation keeps keys and values on one line.
        let _ = writeln!(s, "{key} = {}", value.trim());
    }
    Some(s)
}

/// The journald.conf drop-in; `None` without `journald`.
pub fn journald_file(name: &Name, spec: &HostSettingsSpec) -> Option<String> {
    let j = spec.journald?;
    let mut s = header(name);
    s.push_str("[Journal]\n");
    if let Some(size) = j.system_max_use {
        let _ = writeln!(s, "SystemMaxUse={}", size.bytes());
    }
    if let Some(size) = j.system_keep_free {
        let _ = writeln!(s, "SystemKeepFree={}", size.bytes());
    }
    if let Some(age) = j.max_retention {
        let _ = writeln!(s, "MaxRetentionSec={}s", age.as_std().as_secs());
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_files_should_start_with_the_marker_and_name_their_object() {
        let spec: HostSettingsSpec = serde_norway::from_str(
            "sysctl: {net.core.somaxconn: '4096', vm.swappiness: '10'}\njournald: {systemMaxUse: 1G, maxRetention: 7d}\n",
        )
        .expect("spec");
        let name: Name = "base".parse().expect("name");
        let sysctl = sysctl_file(&name, &spec).expect("sysctl");
        assert!(sysctl.starts_with(MANAGED_MARKER));
        assert!(sysctl.ends_with("net.core.somaxconn = 4096\nvm.swappiness = 10\n"));
        assert_eq!(object_of(&sysctl), Some("base"));
        let journald = journald_file(&name, &spec).expect("journald");
        assert!(
            journald.ends_with("[Journal]\nSystemMaxUse=1073741824\nMaxRetentionSec=604800s\n")
        );
    }
}
