//! The loader on arbitrary bytes: a revision or located diagnostics, never a panic or a hang.
#![no_main]

use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use podctl_api::{Diagnostics, SourceFile, from_sources};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = Path::new("manifests");
    let file = SourceFile {
        path: Arc::from(dir.join("f.yaml")),
        text: text.to_owned(),
    };
    if let Err(e) = from_sources(dir, dir, vec![file], Diagnostics::default()) {
        let _ = e.to_string();
    }
});
