//! One fixture per class of manifest error: each test pins the exact file, line, column
//! and message that an operator sees, and the hint where it matters.

mod common;

use common::Fixture;

fn only(file: &str, text: &str) -> Fixture {
    Fixture::new(&[(file, text)])
}

#[test]
fn yaml_syntax_error_points_at_the_line() {
    let fx = only(
        "app.yaml",
        "\
apiVersion: podctl.io/v1
kind: Container
metadata: {name: web}
spec:
  image: nginx: latest
",
    );
    assert_eq!(
        fx.errors(),
        ["app.yaml:5:15: YAML syntax error: mapping values are not allowed in this context"]
    );
    assert!(
        fx.hints()[0]
            .as_deref()
            .is_some_and(|h| h.contains("must be quoted"))
    );
}

#[test]
fn yaml_syntax_error_at_end_of_an_unclosed_flow_list() {
    let fx = only(
        "app.yaml",
        "\
apiVersion: podctl.io/v1
kind: Container
metadata: {name: web}
spec:
  image: [nginx
",
    );
    assert_eq!(
        fx.errors(),
        ["app.yaml:6:1: YAML syntax error: while parsing a flow sequence, expected ',' or ']'"]
    );
}

#[test]
fn yaml_tabs_are_a_syntax_error_with_a_hint() {
    let fx = only(
        "app.yaml",
        "apiVersion: podctl.io/v1\nkind: Volume\nmetadata:\n\tname: data\nspec: {}\n",
    );
    let errors = fx.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("app.yaml:4:") && errors[0].contains("YAML syntax error"),
        "{errors:?}"
    );
    assert!(fx.hints()[0].as_deref().is_some_and(|h| h.contains("tab")));
}

#[test]
fn duplicate_yaml_keys_name_the_first_place() {
    let fx = only(
        "app.yaml",
        "\
apiVersion: podctl.io/v1
kind: Volume
metadata: {name: data}
spec:
  driver: local
  driver: nfs
",
    );
    assert_eq!(
        fx.errors(),
        ["app.yaml:6:3: duplicate key `driver` (first set at line 5, column 3)"]
    );
}

#[test]
fn unsupported_tags_are_shown_as_written() {
    let fx = Fixture::new(&[
        (
            "a.yaml",
            "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {name: a}\nspec:\n  driver: !!binary aGVsbG8=\n",
        ),
        (
            "b.yaml",
            "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {name: b}\nspec: !local {}\n",
        ),
    ]);
    assert_eq!(
        fx.errors(),
        [
            "a.yaml:5:11: unsupported YAML tag `!!binary`",
            "b.yaml:4:7: unsupported YAML tag `!local`",
        ]
    );
}

#[test]
fn unknown_fields_point_at_the_offending_key() {
    let fx = only(
        "app.yaml",
        "\
apiVersion: podctl.io/v1
kind: Container
metadata:
  name: web
  lables: {a: b}
spec:
  image: docker.io/library/nginx:1.27
  healthCheck:
    command: [\"true\"]
    intervall: 10s
  colour: blue
",
    );
    assert_eq!(
        fx.errors(),
        [
            "app.yaml:5:3: unknown field `lables` in `metadata`",
            "app.yaml:10:5: unknown field `intervall` in `spec.healthCheck`",
            "app.yaml:11:3: unknown field `colour` in `spec`",
        ]
    );
    let hints = fx.hints();
    assert_eq!(hints[0].as_deref(), Some("did you mean `labels`?"));
    assert_eq!(hints[1].as_deref(), Some("did you mean `interval`?"));
    assert!(
        hints[2]
            .as_deref()
            .is_some_and(|h| h.starts_with("valid fields here: image, command,")),
        "{hints:?}"
    );
}

#[test]
fn unknown_top_level_field_is_an_error() {
    let fx = only(
        "app.yaml",
        "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {name: data}\nspec: {}\nstatus: {}\n",
    );
    assert_eq!(fx.errors(), ["app.yaml:5:1: unknown field `status`"]);
}

#[test]
fn wrong_api_version_and_kind() {
    let fx = only(
        "app.yaml",
        "\
apiVersion: podctl.io/v2
kind: Container
metadata: {name: a}
spec: {image: nginx}
---
apiVersion: podctl.io/v1
kind: Contaner
metadata: {name: b}
spec: {image: nginx}
---
kind: Volume
metadata: {name: c}
spec: {}
---
apiVersion: podctl.io/v1
metadata: {name: d}
spec: {}
---
- a list
",
    );
    assert_eq!(
        fx.errors(),
        [
            "app.yaml:1:13: unsupported apiVersion `podctl.io/v2`",
            "app.yaml:7:7: unknown kind `Contaner`",
            "app.yaml:11:1: missing `apiVersion`",
            "app.yaml:15:1: missing `kind`",
            "app.yaml:19:1: a manifest must be a mapping, found a list",
        ]
    );
    let hints = fx.hints();
    assert_eq!(
        hints[0].as_deref(),
        Some("this podctl reads `apiVersion: podctl.io/v1`")
    );
    assert_eq!(hints[1].as_deref(), Some("did you mean `Container`?"));
}

#[test]
fn kind_is_case_sensitive() {
    let fx = only(
        "app.yaml",
        "apiVersion: podctl.io/v1\nkind: volume\nmetadata: {name: a}\nspec: {}\n",
    );
    assert_eq!(fx.errors(), ["app.yaml:2:7: unknown kind `volume`"]);
    assert_eq!(fx.hints()[0].as_deref(), Some("did you mean `Volume`?"));
}

#[test]
fn bad_names_dns_1123_length_and_path_tricks() {
    let long = "a".repeat(64);
    let text = format!(
        "\
apiVersion: podctl.io/v1
kind: Volume
metadata: {{name: My_Data}}
spec: {{}}
---
apiVersion: podctl.io/v1
kind: Volume
metadata: {{name: ../x}}
spec: {{}}
---
apiVersion: podctl.io/v1
kind: Volume
metadata: {{name: {long}}}
spec: {{}}
---
apiVersion: podctl.io/v1
kind: Volume
metadata: {{name: \"\"}}
spec: {{}}
---
apiVersion: podctl.io/v1
kind: Volume
metadata: {{name: a.b}}
spec: {{}}
---
apiVersion: podctl.io/v1
kind: Container
metadata: {{name: web}}
spec:
  image: nginx
  dependsOn: [-db]
"
    );
    let fx = only("app.yaml", &text);
    assert_eq!(
        fx.errors(),
        [
            "app.yaml:3:18: metadata.name: invalid name `My_Data`".to_string(),
            "app.yaml:8:18: metadata.name: invalid name `../x`".to_string(),
            format!(
                "app.yaml:13:18: metadata.name: name `{long}` is 64 characters long, more than 63"
            ),
            "app.yaml:18:18: metadata.name: name is empty".to_string(),
            "app.yaml:23:18: metadata.name: invalid name `a.b`".to_string(),
            "app.yaml:31:15: spec.dependsOn[0]: invalid name `-db`".to_string(),
        ]
    );
    assert_eq!(
        fx.hints()[0].as_deref(),
        Some(
            "names are 1-63 lowercase letters, digits and `-`, starting and ending with a letter or digit, e.g. `my-data`"
        )
    );
}

#[test]
fn a_63_character_name_is_valid() {
    let text = format!(
        "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {{name: {}}}\nspec: {{}}\n",
        "a".repeat(63)
    );
    assert_eq!(only("app.yaml", &text).revision().len(), 1);
}

#[test]
fn duplicates_across_files_name_both_places() {
    let fx = Fixture::new(&[
        (
            "a.yaml",
            "apiVersion: podctl.io/v1\nkind: Volume\nmetadata:\n  name: data\nspec: {}\n",
        ),
        (
            "sub/b.yaml",
            "\
# the same volume again, and a secret of the same name (a different kind: allowed)
apiVersion: podctl.io/v1
kind: Volume
metadata:
  name: data
spec: {}
---
apiVersion: podctl.io/v1
kind: Secret
metadata:
  name: data
spec:
  source: {env: DATA}
",
        ),
    ]);
    assert_eq!(
        fx.errors(),
        ["sub/b.yaml:5:9: duplicate Volume `data`: also defined at a.yaml:4:9"]
    );
    // The other place is named by its full path, as the operator gave the directory.
    let first = format!("{}:4:9", fx.join("a.yaml").display());
    assert!(fx.diagnostics()[0].message.ends_with(&first));
}

#[test]
fn duplicate_of_an_invalid_object_is_still_reported() {
    // The first declaration fails to type, but its name still counts.
    let fx = Fixture::new(&[
        (
            "a.yaml",
            "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {name: data}\nspec: {driver: 1, bogus: x}\n",
        ),
        (
            "b.yaml",
            "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {name: data}\nspec: {}\n",
        ),
    ]);
    let errors = fx.errors();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("b.yaml:3:18: duplicate Volume `data`: also defined at")),
        "{errors:?}"
    );
}

#[test]
fn dangling_references_of_every_kind() {
    let fx = only(
        "app.yaml",
        "\
apiVersion: podctl.io/v1
kind: Volume
metadata: {name: appdata}
spec: {}
---
apiVersion: podctl.io/v1
kind: Container
metadata: {name: web}
spec:
  image: {ref: webimage}
  network: appnet
  volumes:
    - {volume: appdat, path: /data}
  secrets:
    - {secret: token, env: TOKEN}
  dependsOn: [db]
",
    );
    assert_eq!(
        fx.errors(),
        [
            "app.yaml:10:16: image `webimage` is not defined in this revision",
            "app.yaml:11:12: network `appnet` is not defined in this revision",
            "app.yaml:13:16: volume `appdat` is not defined in this revision",
            "app.yaml:15:16: secret `token` is not defined in this revision",
            "app.yaml:16:15: container `db` is not defined in this revision",
        ]
    );
    assert_eq!(
        fx.hints()[2].as_deref(),
        Some(
            "add a `kind: Volume` manifest named `appdat`, or fix the name (did you mean `appdata`?)"
        )
    );
}

#[test]
fn a_reference_to_an_invalid_object_is_not_also_dangling() {
    let fx = only(
        "app.yaml",
        "\
apiVersion: podctl.io/v1
kind: Volume
metadata: {name: data}
spec: {reclaimPolicy: Sometimes}
---
apiVersion: podctl.io/v1
kind: Container
metadata: {name: web}
spec:
  image: nginx
  volumes: [{volume: data, path: /data}]
",
    );
    assert_eq!(
        fx.errors(),
        [
            "app.yaml:4:23: spec.reclaimPolicy: unknown value `Sometimes`; expected one of `Retain`, `Delete`"
        ]
    );
}

#[test]
fn dependency_cycle_is_printed_as_a_path() {
    let fx = only(
        "app.yaml",
        "\
apiVersion: podctl.io/v1
kind: Container
metadata: {name: a}
spec:
  image: nginx
  dependsOn: [b]
---
apiVersion: podctl.io/v1
kind: Container
metadata: {name: b}
spec:
  image: nginx
  dependsOn: [c]
---
apiVersion: podctl.io/v1
kind: Container
metadata: {name: c}
spec:
  image: nginx
  dependsOn: [a]
",
    );
    assert_eq!(
        fx.errors(),
        ["app.yaml:6:15: dependency cycle: a -> b -> c -> a"]
    );
}

#[test]
fn cycle_across_files_and_self_dependency() {
    let fx = Fixture::new(&[
        (
            "a.yaml",
            "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: a}\nspec:\n  image: nginx\n  dependsOn: [b]\n",
        ),
        (
            "b.yaml",
            "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: b}\nspec:\n  image: nginx\n  dependsOn: [a]\n",
        ),
        (
            "c.yaml",
            "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: c}\nspec:\n  image: nginx\n  dependsOn: [c]\n",
        ),
    ]);
    assert_eq!(
        fx.errors(),
        [
            "a.yaml:6:15: dependency cycle: a -> b -> a",
            "c.yaml:6:15: dependency cycle: c -> c (container `c` depends on itself)",
        ]
    );
}

#[test]
fn bad_durations_sizes_ports_and_enum_values() {
    let fx = only(
        "app.yaml",
        "\
apiVersion: podctl.io/v1
kind: Container
metadata: {name: web}
spec:
  image: nginx
  ports: [\"8080\", \"70000:80\", \"8080:80/icmp\"]
  stopTimeout: 30
  restart:
    policy: sometimes
    delay: 1.5s
  resources:
    memoryMax: 2 GB
    memoryReservation: 0
  logging:
    driver: syslog
",
    );
    assert_eq!(
        fx.errors(),
        [
            "app.yaml:6:11: spec.ports[0]: invalid port `8080`: the host port is missing",
            "app.yaml:6:19: spec.ports[1]: invalid port `70000:80`: `70000` is not a port number from 1 to 65535",
            "app.yaml:6:31: spec.ports[2]: invalid port `8080:80/icmp`: unknown protocol `icmp` (tcp, udp or sctp)",
            "app.yaml:7:16: spec.stopTimeout: invalid duration `30`: it has no unit",
            "app.yaml:9:13: spec.restart.policy: unknown value `sometimes`; expected one of `always`, `on-failure`, `no`",
            "app.yaml:10:12: spec.restart.delay: invalid duration `1.5s`: fractions are not supported; use a smaller unit (`1500ms`, not `1.5s`)",
            "app.yaml:12:16: spec.resources.memoryMax: invalid size `2 GB`: unknown unit ` GB`",
            "app.yaml:13:24: spec.resources.memoryReservation: invalid size `0`: must be more than zero",
            "app.yaml:15:13: spec.logging.driver: unknown value `syslog`; expected one of `journald`, `k8s-file`, `none`",
        ]
    );
    assert_eq!(
        fx.hints()[3].as_deref(),
        Some("add a unit, e.g. `30s` for 30 seconds")
    );
}

#[test]
fn enum_typo_gets_a_suggestion() {
    let fx = only(
        "app.yaml",
        "apiVersion: podctl.io/v1\nkind: Image\nmetadata: {name: app}\nspec:\n  ref: nginx\n  pullPolicy: Allways\n",
    );
    assert_eq!(
        fx.errors(),
        [
            "app.yaml:6:15: spec.pullPolicy: unknown value `Allways`; expected one of `IfNotPresent`, `Always`, `Never`"
        ]
    );
    assert_eq!(fx.hints()[0].as_deref(), Some("did you mean `Always`?"));
}

#[test]
fn wrong_types_say_what_was_expected() {
    let fx = only(
        "app.yaml",
        "\
apiVersion: podctl.io/v1
kind: Container
metadata: {name: web}
spec:
  image: nginx
  enabled: yes
  dependsOn: db
  resources: {tasksMax: \"100\"}
",
    );
    assert_eq!(
        fx.errors(),
        [
            "app.yaml:6:12: spec.enabled: expected true or false, found a string",
            "app.yaml:7:14: spec.dependsOn: expected a list, found a string",
            "app.yaml:8:25: spec.resources.tasksMax: expected an integer, found a string",
        ]
    );
    assert_eq!(
        fx.hints(),
        [
            Some("YAML 1.2 booleans are `true` and `false`".to_string()),
            Some("write a list, e.g. [db]".to_string()),
            Some("remove the quotes around the number".to_string()),
        ]
    );
}

#[test]
fn secret_with_zero_or_two_sources() {
    let fx = only(
        "app.yaml",
        "\
apiVersion: podctl.io/v1
kind: Secret
metadata: {name: none}
spec:
  source: {}
---
apiVersion: podctl.io/v1
kind: Secret
metadata: {name: both}
spec:
  source:
    file: /etc/x
    env: X
",
    );
    assert_eq!(
        fx.errors(),
        [
            "app.yaml:5:11: a secret needs a source: `file` or `env`",
            "app.yaml:12:5: a secret has two sources, `file` and `env`",
        ]
    );
}

#[test]
fn binary_garbage_is_reported_where_text_stops() {
    let fx = Fixture::new(&[]);
    fx.write("nul.yaml", b"apiVersion: podctl.io/v1\nkind: Vol\0ume\n");
    fx.write("latin.yaml", b"apiVersion: podctl.io/v1\nkind: \xff\xfe\n");
    fx.write(
        "random.yml",
        &[0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x00, 0xff],
    );
    assert_eq!(
        fx.errors(),
        [
            "latin.yaml:2:7: not UTF-8 text (invalid byte at offset 31)",
            "nul.yaml:2:10: binary content (a NUL byte at offset 34)",
            "random.yml:1:8: not UTF-8 text (invalid byte at offset 7)",
        ]
    );
    assert!(
        fx.hints()
            .iter()
            .all(|h| h.as_deref().is_some_and(|h| h.contains("binary file")))
    );
}

#[test]
fn cross_field_rules() {
    let fx = only(
        "app.yaml",
        "\
apiVersion: podctl.io/v1
kind: Container
metadata: {name: web}
spec:
  image: nginx
  labels: {io.podctl.owner: me}
  security:
    systemd: {protectSystem: strict}
  update:
    policy: registry
    healthGate: {timeout: 0s, watch: 5s}
---
apiVersion: podctl.io/v1
kind: Network
metadata: {name: host}
spec: {}
",
    );
    assert_eq!(
        fx.errors(),
        [
            "app.yaml:6:12: label `io.podctl.owner` uses the prefix `io.podctl.` that podctl reserves: it sets these labels itself",
            "app.yaml:8:5: `security.systemd` (protectSystem, protectHome, readWritePaths) only works with `network: host` or `network: none`",
            "app.yaml:10:13: `update.policy: registry` needs a fully qualified image reference",
            "app.yaml:11:27: `update.healthGate.timeout` is zero: no new image could ever pass the gate",
            "app.yaml:15:18: `host` is a reserved network name",
        ]
    );
}

#[test]
fn multiple_errors_in_one_document_are_all_reported() {
    let fx = only(
        "one.yaml",
        "\
apiVersion: podctl.io/v1
kind: Container
metadata:
  name: web
spec:
  image: nginx
  ports: [\"80\"]
  stopTimeout: 5x
  restart: {policy: maybe}
  colour: blue
  volumes:
    - {volume: nope, path: data}
",
    );
    assert_eq!(
        fx.errors(),
        [
            "one.yaml:7:11: spec.ports[0]: invalid port `80`: the host port is missing",
            "one.yaml:8:16: spec.stopTimeout: invalid duration `5x`: unknown unit `x`",
            "one.yaml:9:21: spec.restart.policy: unknown value `maybe`; expected one of `always`, `on-failure`, `no`",
            "one.yaml:10:3: unknown field `colour` in `spec`",
            "one.yaml:12:28: spec.volumes[0].path: path `data` is not absolute",
        ]
    );
}

#[test]
fn every_error_across_several_files_is_reported_in_file_order() {
    let fx = Fixture::new(&[
        (
            "b.yaml",
            "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {name: b}\nspec: {drver: local}\n",
        ),
        (
            "a.yaml",
            "apiVersion: podctl.io/v1\nkind: Volum\nmetadata: {name: a}\nspec: {}\n",
        ),
        ("c/d.yml", "apiVersion: podctl.io/v1\nkind: [\n"),
        (
            "c/e.yaml",
            "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: e}\nspec: {image: nginx, dependsOn: [zz]}\n",
        ),
    ]);
    assert_eq!(
        fx.errors(),
        [
            "a.yaml:2:7: unknown kind `Volum`",
            "b.yaml:4:8: unknown field `drver` in `spec`",
            "c/d.yml:3:1: YAML syntax error: while parsing a node, did not find expected node content",
            "c/e.yaml:4:34: container `zz` is not defined in this revision",
        ]
    );
    match fx.load() {
        Err(e) => assert_eq!(e.to_string(), "revision rejected: 4 errors in 4 files"),
        Ok(_) => panic!("expected an invalid revision"),
    }
}

#[test]
fn podman_network_modes_are_not_objects_to_declare() {
    let fx = only(
        "app.yaml",
        "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: web}\nspec:\n  image: nginx\n  network: bridge\n",
    );
    assert_eq!(
        fx.errors(),
        ["app.yaml:6:12: `network: bridge` is not supported"]
    );
    let hint = fx.hints().remove(0).unwrap_or_default();
    assert!(
        hint.contains("remove `network:` for podman's default") && !hint.contains("named `bridge`"),
        "{hint}"
    );
}

#[test]
fn bad_map_keys_are_each_reported_at_the_key() {
    let fx = only(
        "app.yaml",
        "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: web}\nspec:\n  image: {ref: img, tag: v1}\n  env:\n    GOOD: x\n    1BAD: y\n    ALSO-BAD: z\n---\napiVersion: podctl.io/v1\nkind: Image\nmetadata: {name: img}\nspec: {ref: nginx}\n",
    );
    let errors = fx.errors();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(
        errors[0].starts_with("app.yaml:5:21: unknown field `tag` in `spec.image`"),
        "{errors:#?}"
    );
    assert!(errors[1].starts_with("app.yaml:8:5: "), "{errors:#?}");
    assert!(errors[2].starts_with("app.yaml:9:5: "), "{errors:#?}");
    assert_eq!(fx.hints()[0].as_deref(), Some("valid fields here: ref"));
}

#[test]
fn a_type_error_does_not_hide_the_documents_other_errors_nor_invent_new_ones() {
    let fx = only(
        "app.yaml",
        "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: web}\nspec:\n  image: nginx\n  stopTimeout: 30\n  volumes:\n    - {hostPath: relative/dir, path: /a}\n    - {volume: nope, path: /b}\n  dependsOn: [web]\n",
    );
    assert_eq!(
        fx.errors(),
        [
            "app.yaml:6:16: spec.stopTimeout: invalid duration `30`: it has no unit",
            // Not also "a mount needs `volume` or `hostPath`" for the bad hostPath.
            "app.yaml:8:18: spec.volumes[0].hostPath: path `relative/dir` is not absolute",
            "app.yaml:9:16: volume `nope` is not defined in this revision",
            "app.yaml:10:15: dependency cycle: web -> web (container `web` depends on itself)",
        ]
    );
}

#[test]
fn a_misspelt_kind_key_is_named_with_the_missing_kind() {
    let fx = only(
        "app.yaml",
        "apiVersion: podctl.io/v1\nKind: Container\nmetadata: {name: web}\nspec: {image: nginx}\n",
    );
    assert_eq!(
        fx.errors(),
        [
            "app.yaml:1:1: missing `kind`",
            "app.yaml:2:1: unknown field `Kind`",
        ]
    );
    assert_eq!(fx.hints()[1].as_deref(), Some("did you mean `kind`?"));
}

#[test]
fn control_characters_from_a_manifest_are_shown_escaped() {
    let fx = only(
        "v.yaml",
        "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {name: \"a\\nb\\e[31m\"}\nspec: {}\n",
    );
    let report = fx.report();
    assert!(
        report.contains("invalid name `a\\nb\\u{1b}[31m`"),
        "{report}"
    );
    assert!(!report.contains('\u{1b}'), "{report}");
}

#[test]
fn overlapping_network_subnets_are_refused_before_apply() {
    let fx = only(
        "net.yaml",
        "apiVersion: podctl.io/v1\nkind: Network\nmetadata: {name: a}\nspec: {subnet: 10.89.0.0/16}\n---\napiVersion: podctl.io/v1\nkind: Network\nmetadata: {name: b}\nspec: {subnet: 10.89.10.0/24}\n---\napiVersion: podctl.io/v1\nkind: Network\nmetadata: {name: c}\nspec: {subnet: 10.90.0.0/24}\n",
    );
    assert_eq!(
        fx.errors(),
        [
            "net.yaml:9:16: subnet 10.89.10.0/24 overlaps 10.89.0.0/16 of network `a` at net.yaml:4:16"
        ]
    );
}

fn container_with_env(values: &[(&str, usize)]) -> String {
    let mut text = String::from(
        "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: web}\nspec:\n  image: localhost/bb:v1\n  env:\n",
    );
    for (key, len) in values {
        text.push_str(&format!("    {key}: {}\n", "x".repeat(*len)));
    }
    text
}

#[test]
fn an_env_value_longer_than_linux_passes_in_one_argument_is_rejected_at_its_key() {
    let fx = only(
        "app.yaml",
        &container_with_env(&[("SMALL", 10), ("BIG", 200 * 1024)]),
    );
    assert_eq!(
        fx.errors(),
        [
            "app.yaml:8:5: a single value here makes a `podman run` argument of 204810 bytes; Linux passes at most 131071 bytes in one argument (MAX_ARG_STRLEN), so the unit could never start"
        ]
    );
    assert!(
        fx.hints()[0]
            .as_deref()
            .is_some_and(|h| h.contains("envFiles"))
    );
}

#[test]
fn env_values_longer_than_a_systemd_line_in_all_are_rejected_at_the_field() {
    let values: Vec<(String, usize)> = (0..10).map(|i| (format!("V{i}"), 100 * 1024)).collect();
    let refs: Vec<(&str, usize)> = values.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    let fx = only("app.yaml", &container_with_env(&refs));
    let errors = fx.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("app.yaml:7:5: the unit's `ExecStart=` line would take up to ")
            && errors[0].contains("(LONG_LINE_MAX)"),
        "{errors:?}"
    );
    assert!(
        fx.hints()[0]
            .as_deref()
            .is_some_and(|h| h.contains("envFiles"))
    );
}

#[test]
fn env_values_just_under_the_limits_are_accepted() {
    let values: Vec<(String, usize)> = (0..7)
        .map(|i| (format!("V{i}"), 128 * 1024 - 100))
        .collect();
    let refs: Vec<(&str, usize)> = values.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    let fx = only("app.yaml", &container_with_env(&refs));
    assert_eq!(fx.revision().len(), 1);
}

/// Values the old validation let through and the host then refused (issue 13, item 6):
/// each is located and explained here instead.
#[test]
fn values_the_host_refuses_are_rejected_with_their_place() {
    let fx = only(
        "app.yaml",
        "\
apiVersion: podctl.io/v1
kind: Container
metadata: {name: web}
spec:
  image: bb:v1
  user: \"-1\"
  resources: {memoryMax: 1}
  healthCheck: {command: [/bin/true], timeout: 0s}
  labels:
    io.containers.autoupdate: registry
    \"\": empty
    \"a=b\": c
    \"line\\nbreak\": x
",
    );
    assert_eq!(
        fx.errors(),
        [
            "app.yaml:6:9: invalid user `-1`: `-1` is neither a number nor a user or group name (letters, digits, `_`, `.`, `-`, not starting with `-`)",
            "app.yaml:7:26: memoryMax 1 is below podman's minimum of 6M",
            "app.yaml:8:48: the health check timeout must be more than 0s",
            "app.yaml:10:5: label `io.containers.autoupdate` uses the prefix `io.containers.` that podctl reserves: it sets these labels itself",
            "app.yaml:11:5: a label key is empty",
            "app.yaml:12:5: label key \"a=b\" contains `=`, white space or a control character",
            "app.yaml:13:5: label key \"line\\nbreak\" contains `=`, white space or a control character",
        ]
    );
    let hints = fx.hints();
    assert!(hints.iter().all(Option::is_some), "{hints:?}");

    let fx = only(
        "app.yaml",
        "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: web}\nspec:\n  image: bb:v1:v2\n  restart: {delay: 999999999d}\n",
    );
    assert_eq!(
        fx.errors(),
        [
            "app.yaml:5:10: spec.image: invalid image reference `bb:v1:v2`: tag `v1:v2` is not valid: up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
            "app.yaml:6:20: spec.restart.delay: invalid duration `999999999d`: longer than 106751d23h47m16s854ms, the most podman accepts",
        ]
    );
    assert!(
        fx.hints()[1]
            .as_deref()
            .is_some_and(|h| h.contains("292 years"))
    );
}

#[test]
fn image_references_follow_the_registry_grammar() {
    let cases = [
        ("\"\"", "invalid image reference ``: it is empty"),
        ("\"bb:\"", "the tag after `:` is empty"),
        (
            "bb@sha256:abc",
            "a sha256 digest is exactly 64 lower-case hex digits",
        ),
        ("localhost//bb", "repository path component `` is empty"),
        (
            "localhost:70000/bb",
            "registry port `70000` is not a port number from 1 to 65535",
        ),
        ("docker://bb", "`docker:` is a transport"),
        ("oci-archive:/etc/passwd", "`oci-archive:` is a transport"),
    ];
    for (image, message) in cases {
        let fx = only(
            "app.yaml",
            &format!(
                "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {{name: web}}\nspec:\n  image: {image}\n"
            ),
        );
        let errors = fx.errors();
        assert_eq!(errors.len(), 1, "{image}: {errors:?}");
        assert!(
            errors[0].starts_with("app.yaml:5:10: spec.image: invalid image reference")
                && errors[0].contains(message),
            "{image}: {errors:?}"
        );
        assert!(fx.hints()[0].is_some());
    }
}

/// A NUL cannot reach a command line or a unit file: refused wherever it is written.
#[test]
fn a_nul_in_any_string_is_refused_where_it_is() {
    let fx = only(
        "app.yaml",
        "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: web}\nspec:\n  image: bb:v1\n  args: [\"a\\0b\"]\n  env: {X: \"\\x00\"}\n",
    );
    assert_eq!(
        fx.errors(),
        [
            "app.yaml:6:10: this string contains a NUL character (`\\0`)",
            "app.yaml:7:12: this string contains a NUL character (`\\0`)",
        ]
    );
    assert!(
        fx.hints()[0]
            .as_deref()
            .is_some_and(|h| h.contains("remove it"))
    );
}

/// systemd has no escape for control characters in path settings and simplifies `//`
/// away: such paths are refused, so the path systemd uses is the path written.
#[test]
fn paths_with_control_characters_or_not_normalised_are_refused() {
    let fx = only(
        "app.yaml",
        "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: web}\nspec:\n  image: bb:v1\n  workingDir: \"/srv/a\\bb\"\n  envFiles: [/etc//app.env, /etc/./x, \"/srv/\\u0085\"]\n",
    );
    let errors = fx.errors();
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(
        errors[0].starts_with(
            "app.yaml:6:15: spec.workingDir: path \"/srv/a\\u{8}b\" contains a control character"
        ),
        "{errors:?}"
    );
    assert!(
        errors[1]
            .starts_with("app.yaml:7:14: spec.envFiles[0]: path `/etc//app.env` is not normalised"),
        "{errors:?}"
    );
    assert!(
        errors[2].starts_with("app.yaml:7:29: spec.envFiles[1]: path `/etc/./x` is not normalised"),
        "{errors:?}"
    );
    assert!(
        errors[3].contains("contains a control character"),
        "{errors:?}"
    );
}

#[test]
fn monitoring_thresholds_are_percentages_of_a_limit_that_is_set() {
    let fx = only(
        "app.yaml",
        "\
apiVersion: podctl.io/v1
kind: Container
metadata: {name: web}
spec:
  image: nginx
  resources: {cpuQuota: 50%}
  monitoring:
    memoryHighPercent: 80
    cpuHighPercent: 0
",
    );
    assert_eq!(
        fx.errors(),
        [
            "app.yaml:8:24: memoryHighPercent needs `resources.memoryMax`: it is a share of that limit",
            "app.yaml:9:21: cpuHighPercent 0 is not a percentage from 1 to 100",
        ]
    );
}

#[test]
fn a_healthy_dependency_needs_a_health_check() {
    let fx = only(
        "app.yaml",
        "\
apiVersion: podctl.io/v1
kind: Container
metadata: {name: db}
spec:
  image: localhost/bb:v1
---
apiVersion: podctl.io/v1
kind: Container
metadata: {name: app}
spec:
  image: localhost/bb:v1
  dependsOn: [{name: db, condition: healthy}]
",
    );
    assert_eq!(
        fx.errors(),
        ["app.yaml:12:15: `condition: healthy` waits for the health check of `db`, which has none"]
    );
}
