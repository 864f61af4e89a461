//! Loading and validating large revisions: 1,000 manifests in 1,000 files (the target is
//! under 100 ms) and 5,000 documents in one file.
//!
//! Run with `cargo bench -p podctl-api`.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use divan::Bencher;
use podctl_api::load_dir;
use tempfile::TempDir;

fn main() {
    divan::main();
}

/// Document `i` of a realistic revision: every group of four is a Volume, two Secrets and
/// a Container that mounts them and depends on the previous group's container.
fn document(i: usize) -> String {
    let group = i / 4;
    let mut out = String::new();
    let _ = match i % 4 {
        0 => write!(
            out,
            "# data of app {group}\napiVersion: podctl.io/v1\nkind: Volume\nmetadata:\n  name: data-{group}\n  labels: {{app: app-{group}}}\nspec:\n  reclaimPolicy: Retain\n"
        ),
        1 => write!(
            out,
            "apiVersion: podctl.io/v1\nkind: Secret\nmetadata:\n  name: password-{group}\nspec:\n  source:\n    file: /etc/podctl/secrets/password-{group}\n"
        ),
        2 => write!(
            out,
            "apiVersion: podctl.io/v1\nkind: Secret\nmetadata:\n  name: token-{group}\nspec:\n  source: {{env: TOKEN_{group}}}\n"
        ),
        _ => {
            let depends = if group == 0 {
                String::new()
            } else {
                format!("  dependsOn: [app-{}]\n", group - 1)
            };
            write!(
                out,
                "\
apiVersion: podctl.io/v1
kind: Container
metadata:
  name: app-{group}
  labels: {{tier: web}}
spec:
  image: registry.example.com/team/app-{group}:1.4
  args: [\"--port\", \"8080\"]
  env:
    LOG_LEVEL: info
    PORT: 8080
  ports:
    - \"127.0.0.1:{port}:8080\"
  volumes:
    - {{volume: data-{group}, path: /data}}
    - {{hostPath: /srv/static, path: /static, readOnly: true}}
  secrets:
    - {{secret: password-{group}, path: /run/secrets/password}}
    - {{secret: token-{group}, env: API_TOKEN}}
{depends}  healthCheck:
    command: [\"/bin/sh\", \"-c\", \"wget -q -O- http://127.0.0.1:8080/health\"]
    interval: 30s
    timeout: 10s
    retries: 3
  restart: {{policy: always, delay: 5s}}
  resources:
    cpuQuota: 200%
    memoryMax: 1G
    memoryReservation: 512M
  security:
    noNewPrivileges: true
    capDrop: [ALL]
  update:
    policy: registry
",
                port = 10_000 + group
            )
        }
    };
    out
}

fn one_file_per_document(n: usize) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..n {
        // A few subdirectories, as a real repository has.
        let sub = dir.path().join(format!("team-{}", i % 10));
        fs::create_dir_all(&sub).expect("mkdir");
        fs::write(sub.join(format!("m{i:05}.yaml")), document(i)).expect("write");
    }
    dir
}

fn one_file(n: usize) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let text: Vec<String> = (0..n).map(document).collect();
    fs::write(dir.path().join("all.yaml"), text.join("---\n")).expect("write");
    dir
}

fn load(dir: &Path, expected: usize) {
    let revision = load_dir(dir).unwrap_or_else(|e| match e.diagnostics() {
        Some(d) => panic!("{d}"),
        None => panic!("{e}"),
    });
    assert_eq!(revision.len(), expected);
}

#[divan::bench(sample_count = 30)]
fn manifests_1000_in_1000_files(bencher: Bencher) {
    let dir = one_file_per_document(1000);
    bencher.bench(|| load(dir.path(), 1000));
}

#[divan::bench(sample_count = 20)]
fn documents_5000_in_one_file(bencher: Bencher) {
    let dir = one_file(5000);
    bencher.bench(|| load(dir.path(), 5000));
}
