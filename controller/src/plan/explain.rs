//! Explains a unit change in manifest terms: which Container fields differ between two
//! rendered units (`env`, `healthCheck`, ...), so `diff` and `apply` can say why.

use std::collections::{BTreeMap, BTreeSet};

use crate::render::quote::split_exec_line;

/// The manifest field a unit directive or a podman flag comes from.
fn field_of_directive(key: &str) -> Option<&'static str> {
    Some(match key {
        "Requires" | "After" => "dependsOn/after/requires",
        "StartLimitBurst" | "StartLimitIntervalSec" | "Restart" | "RestartSec" => "restart",
        "TimeoutStopSec" => "stopTimeout",
        "CPUQuota" | "CPUWeight" | "MemoryMax" | "TasksMax" => "resources",
        "NoNewPrivileges" => "security.noNewPrivileges",
        "ProtectSystem" | "ProtectHome" | "ReadWritePaths" => "security.systemd",
        "WantedBy" => "wantedBy",
        "Description" => "image",
        _ => return None,
    })
}

fn field_of_flag(flag: &str, value: &str) -> &'static str {
    match flag {
        "--env" | "--env-file" => "env",
        "--user" => "user",
        "--workdir" => "workingDir",
        "--network" => "network",
        "--publish" => "ports",
        "--volume" => "volumes",
        "--secret" | "--tmpfs" => "secrets",
        "--stop-timeout" => "stopTimeout",
        "--cpus"
        | "--cpu-shares"
        | "--cpuset-cpus"
        | "--memory"
        | "--memory-reservation"
        | "--pids-limit" => "resources",
        "--read-only" | "--security-opt" | "--cap-drop" | "--cap-add" => "security",
        "--log-driver" | "--log-opt" => "logging",
        "--entrypoint" => "command",
        "--label" if value.starts_with("io.containers.autoupdate=") => "update",
        "--label" if value.starts_with("io.podctl.secret.") => "secrets",
        "--label" if value.starts_with("io.podctl.") => "",
        "--label" => "labels",
        f if f.starts_with("--health") => "healthCheck",
        _ => "podman options",
    }
}

/// The fields that differ between the `old` and `new` unit text, in a stable order.
pub fn changed_fields(old: &str, new: &str) -> Vec<String> {
    let (old_directives, old_exec) = parse(old);
    let (new_directives, new_exec) = parse(new);
    let mut fields: BTreeSet<String> = BTreeSet::new();

    let keys: BTreeSet<&String> = old_directives.keys().chain(new_directives.keys()).collect();
    for key in keys {
        if old_directives.get(key) != new_directives.get(key)
            && let Some(field) = field_of_directive(key)
        {
            fields.insert(field.to_string());
        }
    }

    let (old_flags, old_tail) = split_run(&old_exec);
    let (new_flags, new_tail) = split_run(&new_exec);
    for (flag, value) in old_flags.symmetric_difference(&new_flags) {
        let field = field_of_flag(flag, value);
        if !field.is_empty() {
            fields.insert(field.to_string());
        }
    }
    match (old_tail.split_first(), new_tail.split_first()) {
        (Some((old_image, old_args)), Some((new_image, new_args))) => {
            if old_image != new_image {
                fields.insert("image".into());
            }
            if old_args != new_args {
                fields.insert("args".into());
            }
        }
        (a, b) if a != b => {
            fields.insert("image".into());
        }
        _ => {}
    }
    if fields.is_empty() {
        fields.insert("unit file".into());
    }
    fields.into_iter().collect()
}

/// The unit's directives (all but `ExecStart`, values of repeated keys joined) and the
/// words of `ExecStart`.
fn parse(text: &str) -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    let mut directives: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut exec = Vec::new();
    // Continuation lines (a backslash at the end) belong to the directive above them.
    let joined = text.replace(" \\\n", " ");
    for line in joined.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        if key == "ExecStart" {
            exec = split_exec_line(value);
        } else if key != "X-Podctl-Hash" {
            directives
                .entry(key.to_string())
                .or_default()
                .push(value.to_string());
        }
    }
    (directives, exec)
}

/// `podman run` flags as (flag, value) pairs, and the image with its arguments.
fn split_run(words: &[String]) -> (BTreeSet<(String, String)>, Vec<String>) {
    let mut flags = BTreeSet::new();
    let mut rest = Vec::new();
    let mut in_flags = true;
    for word in words.iter().skip_while(|w| *w != "run").skip(1) {
        if in_flags && word.starts_with("--") {
            let (flag, value) = word.split_once('=').unwrap_or((word, ""));
            flags.insert((flag.to_string(), value.to_string()));
        } else {
            in_flags = false;
            rest.push(word.clone());
        }
    }
    (flags, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "# Managed by podctl. Changes will be overwritten.\n[Unit]\nX-Podctl-Hash=aaa\nAfter=network-online.target\n[Service]\nRestart=on-failure\nExecStart=/usr/bin/podman run --name=app --label=io.podctl.hash=aaa --env=A=1 img:1 --flag\n";

    #[test]
    fn names_the_env_field() {
        let new = BASE.replace("--env=A=1", "--env=A=2").replace("aaa", "bbb");
        assert_eq!(changed_fields(BASE, &new), ["env"]);
    }

    #[test]
    fn names_image_args_and_restart() {
        let new = BASE
            .replace("img:1 --flag", "img:2")
            .replace("on-failure", "always");
        assert_eq!(changed_fields(BASE, &new), ["args", "image", "restart"]);
    }

    #[test]
    fn hand_edits_outside_known_fields_are_the_unit_file() {
        let new = BASE.replace("[Service]\n", "[Service]\nUser=nobody\n");
        assert_eq!(changed_fields(BASE, &new), ["unit file"]);
    }
}
