//! The renderer on every revision the loader accepts: rendering never panics, and the
//! `ExecStart=` it writes splits back (as systemd splits it) into exactly the intended argv.
#![no_main]

use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use podctl::render::quote::split_exec_line;
use podctl::render::{RenderContext, container_unit, podman_run_args};
use podctl_api::{Diagnostics, Kind, SourceFile, from_sources};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = Path::new("manifests");
    let file = SourceFile {
        path: Arc::from(dir.join("f.yaml")),
        text: text.to_owned(),
    };
    let Ok(revision) = from_sources(dir, dir, vec![file], Diagnostics::default()) else {
        return;
    };
    let ctx = RenderContext::default();
    for object in revision.of_kind(Kind::Container) {
        let Some(unit) = container_unit(object, &revision, &ctx) else {
            continue;
        };
        let Some(spec) = object.as_container() else {
            continue;
        };
        let Some(image) = podctl::render::container::image_reference(spec, &revision) else {
            continue;
        };
        let exec = exec_start(&unit.content);
        let mut intended = vec![ctx.podman.display().to_string()];
        intended.extend(
            podman_run_args(object.name(), spec, image)
                .into_iter()
                .map(|w| w.replace("@@PODCTL_HASH@@", &unit.hash)),
        );
        assert_eq!(split_exec_line(&exec), intended, "{}", unit.content);
    }
});

/// The `ExecStart=` value with systemd's line continuations joined.
fn exec_start(content: &str) -> String {
    let start = content.find("\nExecStart=").map_or(0, |i| i + "\nExecStart=".len());
    let mut out = String::new();
    for line in content[start..].lines() {
        match line.strip_suffix('\\') {
            Some(head) => out.push_str(head),
            None => {
                out.push_str(line);
                break;
            }
        }
    }
    out
}
