//! The Compose corpus (`tests/compose/*.yaml`, stacks in the shape of well-known ones):
//! each file imports, its manifests pass the api's loader, the mapping is checked field by
//! field, and every key that did not map is reported at its line.

use std::path::Path;
use std::sync::Arc;

use podctl::migrate::compose::{ComposeSource, Imported, import};
use podctl::migrate::interpolate::Variables;
use podctl::migrate::manifest::{self, Manifest};
use podctl::migrate::{Severity, quadlet};
use podctl_api::{
    ContainerSpec, DependencyCondition, ImageSource, LogDriver, NetworkMode, PullPolicy,
    RestartPolicy, Spec,
};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/compose");

/// Relative paths resolve against a fixed directory, so the results do not depend on the
/// checkout's place.
const BASE: &str = "/srv/stacks/app";

fn vars() -> Variables {
    [
        ("APP_PORT", "9090"),
        ("EMPTY_VAR", ""),
        ("APP_API_KEY", "k"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn import_text(file: &str, text: &str, vars: &Variables) -> Imported {
    import(&ComposeSource {
        path: Arc::from(Path::new(file)),
        base_dir: Path::new(BASE),
        text,
        vars,
        project: None,
    })
}

fn import_file(name: &str) -> Imported {
    let text = std::fs::read_to_string(Path::new(CORPUS).join(name)).expect("corpus file");
    import_text(name, &text, &vars())
}

fn container<'a>(imported: &'a Imported, name: &str) -> &'a ContainerSpec {
    imported
        .manifests
        .iter()
        .find(|m| m.name.as_str() == name && m.kind() == podctl_api::Kind::Container)
        .and_then(Manifest::as_container)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn names(imported: &Imported, kind: podctl_api::Kind) -> Vec<String> {
    let mut n: Vec<String> = imported
        .manifests
        .iter()
        .filter(|m| m.kind() == kind)
        .map(|m| m.name.to_string())
        .collect();
    n.sort();
    n
}

/// `LINE:COL key` of every finding that says something was not mapped.
fn not_mapped(imported: &Imported) -> Vec<String> {
    imported
        .report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::NotMapped)
        .map(|f| format!("{}:{} {}", f.location.mark.line, f.location.mark.col, f.key))
        .collect()
}

fn strings(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn env<'a>(c: &'a ContainerSpec, key: &str) -> Option<&'a str> {
    c.env
        .iter()
        .find(|(k, _)| k.as_str() == key)
        .map(|(_, v)| v.as_str())
}

fn ports(c: &ContainerSpec) -> Vec<String> {
    c.ports.iter().map(ToString::to_string).collect()
}

#[test]
fn every_corpus_file_imports_validates_and_keeps_its_snapshot() {
    let mut files: Vec<_> = std::fs::read_dir(CORPUS)
        .expect("corpus")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "the corpus has {} files", files.len());
    for name in files {
        let imported = import_file(&name);
        assert!(
            imported.report.errors.is_empty(),
            "{name}: {:?}",
            imported.report.errors
        );
        let written = manifest::files(&imported.manifests).expect("YAML");
        let revision = manifest::validate(Path::new("out"), &written)
            .unwrap_or_else(|e| panic!("{name} does not validate: {e}: {:?}", e.diagnostics()));
        assert_eq!(revision.len(), imported.manifests.len(), "{name}");
        let mut shown = manifest::stream(&imported.manifests).expect("YAML");
        shown.push_str("--- findings\n");
        for f in &imported.report.findings {
            shown.push_str(&format!("{f}\n"));
        }
        insta::assert_snapshot!(name.trim_end_matches(".yaml").to_string(), shown);
        // Every import also survives a Quadlet round trip (export for 5.6, import back).
        let exported = quadlet::export(&imported.manifests, "5.6".parse().expect("version"));
        let units: Vec<quadlet::UnitFile> = exported
            .files
            .iter()
            .map(|(file, text)| unit_file(file, text))
            .collect();
        let back = quadlet::import(&units);
        assert!(
            back.report.errors.is_empty(),
            "{name}: {:?}",
            back.report.errors
        );
        let again = manifest::validate(
            Path::new("back"),
            &manifest::files(&back.manifests).expect("YAML"),
        )
        .unwrap_or_else(|e| panic!("{name} after Quadlet: {e}: {:?}", e.diagnostics()));
        assert_eq!(
            again.hash(),
            revision.hash(),
            "{name}: the Quadlet round trip changed it"
        );
    }
}

pub fn unit_file(file: &str, text: &str) -> quadlet::UnitFile {
    let (stem, ext) = file.rsplit_once('.').expect("an extension");
    quadlet::UnitFile {
        path: Arc::from(Path::new(file)),
        stem: stem.to_string(),
        unit_type: quadlet::UnitType::from_extension(ext),
        extension: ext.to_string(),
        text: text.to_string(),
        dropins: Vec::new(),
    }
}

#[test]
fn webapp_with_database_and_cache_maps_every_field() {
    let i = import_file("01-webapp-postgres-redis.yaml");
    assert!(not_mapped(&i).is_empty(), "{:?}", not_mapped(&i));
    assert_eq!(names(&i, podctl_api::Kind::Volume), ["pgdata", "redisdata"]);
    assert_eq!(names(&i, podctl_api::Kind::Network), ["shop-default"]);
    let web = container(&i, "web");
    assert_eq!(
        web.image,
        ImageSource::Reference("ghcr.io/example/shop-web:2.3.1".parse().expect("ref"))
    );
    assert_eq!(
        strings(&web.args),
        [
            "gunicorn",
            "shop.wsgi",
            "--bind",
            "0.0.0.0:8000",
            "--workers",
            "4"
        ]
    );
    assert!(web.command.is_empty());
    assert_eq!(env(web, "DJANGO_DEBUG"), Some("false"));
    assert_eq!(ports(web), ["8000:8000"]);
    assert_eq!(web.restart.policy, RestartPolicy::Always);
    assert_eq!(
        web.network,
        Some(NetworkMode::Network("shop-default".parse().expect("name")))
    );
    assert_eq!(web.depends_on.len(), 2);
    assert_eq!(web.depends_on[0].name.as_str(), "db");
    assert_eq!(web.depends_on[0].condition, DependencyCondition::Healthy);
    assert_eq!(web.depends_on[1].condition, DependencyCondition::Started);
    let hc = web.health_check.as_ref().expect("health check");
    assert_eq!(
        strings(&hc.command),
        ["curl", "-fsS", "http://127.0.0.1:8000/healthz"]
    );
    assert_eq!(
        (
            hc.interval.as_millis(),
            hc.timeout.as_millis(),
            hc.retries,
            hc.start_period.as_millis()
        ),
        (15_000, 3_000, 5, 20_000)
    );
    let db = container(&i, "db");
    assert_eq!(
        db.image,
        ImageSource::Reference("docker.io/library/postgres:16-alpine".parse().expect("ref"))
    );
    assert_eq!(
        db.volumes[0].volume.as_ref().map(|v| v.as_str()),
        Some("pgdata")
    );
    assert_eq!(db.volumes[0].path.as_str(), "/var/lib/postgresql/data");
    assert_eq!(
        strings(&db.health_check.as_ref().expect("hc").command),
        ["/bin/sh", "-c", "pg_isready -U shop -d shop"]
    );
    let cache = container(&i, "cache");
    assert_eq!(
        strings(&cache.args),
        ["redis-server", "--appendonly", "yes"]
    );
}

#[test]
fn reverse_proxy_mounts_its_config_and_joins_one_network() {
    let i = import_file("02-reverse-proxy.yaml");
    let proxy = container(&i, "proxy");
    assert_eq!(ports(proxy), ["80:80", "443:443"]);
    let mounts: Vec<(String, String, bool)> = proxy
        .volumes
        .iter()
        .map(|v| {
            (
                v.host_path
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                v.path.to_string(),
                v.read_only,
            )
        })
        .collect();
    assert_eq!(
        mounts,
        [
            (
                "/srv/stacks/app/nginx/nginx.conf".to_string(),
                "/etc/nginx/nginx.conf".to_string(),
                true
            ),
            (
                "/srv/stacks/app/certs".to_string(),
                "/etc/nginx/certs".to_string(),
                true
            ),
        ]
    );
    assert_eq!(
        proxy
            .depends_on
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>(),
        ["app", "api", "docs"]
    );
    assert_eq!(
        container(&i, "api").network,
        Some(NetworkMode::Network("frontend".parse().expect("n")))
    );
    assert_eq!(
        container(&i, "docs").restart.policy,
        RestartPolicy::OnFailure
    );
    let backend = i
        .manifests
        .iter()
        .find(|m| m.name.as_str() == "backend")
        .expect("backend");
    assert!(matches!(&backend.spec, Spec::Network(n) if n.internal));
    assert_eq!(
        not_mapped(&i),
        [
            "32:9 services.api.networks.frontend.aliases",
            "34:7 services.api.networks.backend"
        ]
    );
}

#[test]
fn queue_workers_keep_their_limits_and_report_swarm_settings() {
    let i = import_file("03-queue-workers.yaml");
    let w = container(&i, "worker-images");
    assert_eq!(
        w.resources.cpu_quota.map(|q| q.to_string()),
        Some("150%".into())
    );
    assert_eq!(
        w.resources.memory_max.map(|m| m.to_string()),
        Some("512M".into())
    );
    assert_eq!(
        w.resources.memory_reservation.map(|m| m.to_string()),
        Some("128M".into())
    );
    assert_eq!(w.restart.policy, RestartPolicy::OnFailure);
    assert_eq!(w.restart.delay.map(|d| d.as_millis()), Some(5_000));
    let mail = container(&i, "worker-mail");
    assert_eq!(mail.resources.tasks_max, Some(64));
    assert_eq!(
        mail.resources.cpu_quota.map(|q| q.to_string()),
        Some("25%".into())
    );
    assert_eq!(mail.depends_on[0].condition, DependencyCondition::Started);
    assert_eq!(
        container(&i, "producer").depends_on[0].condition,
        DependencyCondition::Healthy
    );
    assert_eq!(
        strings(
            &container(&i, "rabbitmq")
                .health_check
                .as_ref()
                .expect("hc")
                .command
        ),
        ["/bin/sh", "-c", "rabbitmq-diagnostics -q ping"]
    );
    assert_eq!(
        not_mapped(&i),
        [
            "5:5 services.rabbitmq.hostname",
            "43:9 services.worker-images.deploy.restart_policy.max_attempts",
            "51:17 services.worker-mail.deploy.replicas"
        ]
    );
}

#[test]
fn secrets_and_healthchecks_map_and_external_secrets_are_reported() {
    let i = import_file("04-secrets-healthchecks.yaml");
    assert_eq!(
        names(&i, podctl_api::Kind::Secret),
        ["api-key", "db-root-password"]
    );
    let root = i
        .manifests
        .iter()
        .find(|m| m.name.as_str() == "db-root-password")
        .expect("secret");
    assert!(
        matches!(&root.spec, Spec::Secret(s) if s.source.file.as_ref().map(ToString::to_string) == Some("/srv/stacks/app/secrets/db_root_password.txt".into()))
    );
    let key = i
        .manifests
        .iter()
        .find(|m| m.name.as_str() == "api-key")
        .expect("secret");
    assert!(
        matches!(&key.spec, Spec::Secret(s) if s.source.env.as_ref().map(|e| e.as_str()) == Some("APP_API_KEY"))
    );
    let app = container(&i, "app");
    let uses: Vec<(String, String)> = app
        .secrets
        .iter()
        .map(|s| {
            (
                s.secret.to_string(),
                s.path.as_ref().map(ToString::to_string).unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        uses,
        [
            ("api-key".to_string(), "/run/secrets/api-key".to_string()),
            (
                "db-root-password".to_string(),
                "/etc/app/db-password".to_string()
            )
        ]
    );
    let hc = app.health_check.as_ref().expect("hc");
    assert_eq!(
        (hc.interval.as_millis(), hc.timeout.as_millis()),
        (90_000, 1_500)
    );
    assert_eq!(app.depends_on[0].condition, DependencyCondition::Healthy);
    assert!(container(&i, "sidecar").health_check.is_none());
    assert_eq!(
        container(&i, "db")
            .health_check
            .as_ref()
            .expect("hc")
            .start_period
            .as_millis(),
        60_000
    );
    assert_eq!(
        not_mapped(&i),
        [
            "26:9 services.app.secrets.mode",
            "40:7 services.sidecar.healthcheck",
            "46:3 secrets.legacy_token",
            "47:5 secrets.legacy_token.external"
        ]
    );
}

#[test]
fn interpolation_follows_compose() {
    let i = import_file("05-interpolation.yaml");
    let app = container(&i, "app");
    assert_eq!(
        app.image,
        ImageSource::Reference("ghcr.io/example/app:latest".parse().expect("ref"))
    );
    assert_eq!(ports(app), ["9090:8080"]);
    assert_eq!(env(app, "GREETING"), Some("hello"));
    assert_eq!(env(app, "EMPTY_DEFAULTED"), Some("fallback"));
    assert_eq!(env(app, "EMPTY_KEPT"), Some(""));
    assert_eq!(env(app, "PRICE"), Some("costs $5"));
    assert_eq!(env(app, "FEATURE"), Some(""));
    assert_eq!(app.restart.policy, RestartPolicy::Always);
    // `$DB_HOST` is not set: empty, as Compose does, and reported at the value.
    assert_eq!(env(app, "DB_HOST"), Some(""));
    assert_eq!(not_mapped(&i), ["13:16 ${DB_HOST}"]);
}

#[test]
fn a_missing_required_variable_is_an_error_at_its_value() {
    let text = "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: ${DB_PASSWORD:?set DB_PASSWORD in .env}\n";
    let i = import_text("compose.yaml", text, &Variables::new());
    assert!(i.manifests.is_empty());
    assert_eq!(i.report.errors.len(), 1);
    let e = &i.report.errors[0];
    assert_eq!(
        e.to_string().lines().next(),
        Some(
            "compose.yaml:5:26: required variable `DB_PASSWORD` is missing a value: set DB_PASSWORD in .env"
        )
    );
    let with = import_text(
        "compose.yaml",
        text,
        &[("DB_PASSWORD".to_string(), "s3cret".to_string())].into(),
    );
    assert!(with.report.errors.is_empty());
    assert_eq!(
        env(container(&with, "db"), "POSTGRES_PASSWORD"),
        Some("s3cret")
    );
}

#[test]
fn bind_mounts_and_volume_options_map() {
    let i = import_file("06-bind-mounts.yaml");
    let f = container(&i, "files");
    assert_eq!(f.user.as_deref(), Some("1000:1000"));
    assert_eq!(
        f.working_dir.as_ref().map(ToString::to_string),
        Some("/srv".into())
    );
    let mounts: Vec<String> = f
        .volumes
        .iter()
        .map(|v| {
            format!(
                "{}:{}:{}",
                v.volume
                    .as_ref()
                    .map(ToString::to_string)
                    .or(v.host_path.as_ref().map(ToString::to_string))
                    .unwrap_or_default(),
                v.path,
                v.read_only
            )
        })
        .collect();
    assert_eq!(
        mounts,
        [
            "/srv/stacks/app/data:/srv:false",
            "/etc/localtime:/etc/localtime:true",
            "/srv/stacks/app/config/settings.json:/config/settings.json:true",
            "db:/database:false"
        ]
    );
    let db = i
        .manifests
        .iter()
        .find(|m| m.name.as_str() == "db")
        .expect("volume");
    let Spec::Volume(v) = &db.spec else {
        panic!("not a volume")
    };
    assert_eq!(
        v.options.get("device").map(String::as_str),
        Some("/srv/filebrowser-db")
    );
    assert_eq!(v.labels.get("backup").map(String::as_str), Some("nightly"));
    assert_eq!(
        not_mapped(&i),
        ["17:9 services.files.volumes", "19:9 services.files.volumes"]
    );
}

#[test]
fn every_resource_limit_form_maps() {
    let i = import_file("07-resource-limits.yaml");
    let l = container(&i, "legacy-limits");
    assert_eq!(
        l.resources.memory_max.map(|m| m.to_string()),
        Some("1G".into())
    );
    assert_eq!(
        l.resources.memory_reservation.map(|m| m.to_string()),
        Some("256M".into())
    );
    assert_eq!(
        l.resources.cpu_quota.map(|q| q.to_string()),
        Some("50%".into())
    );
    assert_eq!(l.resources.cpuset.as_ref().map(|c| c.as_str()), Some("0,1"));
    assert_eq!(l.resources.tasks_max, Some(200));
    assert_eq!(l.restart.policy, RestartPolicy::OnFailure);
    let d = container(&i, "deploy-limits");
    assert_eq!(
        d.resources.cpu_quota.map(|q| q.to_string()),
        Some("200%".into())
    );
    assert_eq!(
        d.resources.memory_max.map(|m| m.to_string()),
        Some("2G".into())
    );
    assert_eq!(d.resources.tasks_max, Some(500));
    assert_eq!(
        d.resources.memory_reservation.map(|m| m.to_string()),
        Some("1G".into())
    );
    // No restart anywhere: Compose's `no`.
    assert_eq!(d.restart.policy, RestartPolicy::No);
    assert_eq!(not_mapped(&i).len(), 5);
}

#[test]
fn wordpress_nextcloud_and_gitea_map_their_classic_shapes() {
    let wp = import_file("08-wordpress-mysql.yaml");
    assert_eq!(
        strings(&container(&wp, "db").args),
        ["--mysql-native-password=ON"]
    );
    assert_eq!(
        env(container(&wp, "wordpress"), "WORDPRESS_DB_HOST"),
        Some("db")
    );
    assert_eq!(ports(container(&wp, "wordpress")), ["80:80"]);
    assert_eq!(not_mapped(&wp), ["13:5 services.db.expose"]);
    let nc = import_file("09-nextcloud.yaml");
    assert_eq!(strings(&container(&nc, "cron").command), ["/cron.sh"]);
    assert_eq!(
        container(&nc, "cron").volumes[0]
            .volume
            .as_ref()
            .map(|v| v.as_str()),
        Some("nextcloud")
    );
    assert_eq!(
        container(&nc, "app").volumes[0]
            .volume
            .as_ref()
            .map(|v| v.as_str()),
        Some("nextcloud")
    );
    assert_eq!(
        strings(&container(&nc, "db").args)[0],
        "--transaction-isolation=READ-COMMITTED"
    );
    assert_eq!(not_mapped(&nc), ["22:5 services.app.links"]);
    let gitea = import_file("10-gitea.yaml");
    assert_eq!(ports(container(&gitea, "server")), ["3000:3000", "222:22"]);
    assert_eq!(
        container(&gitea, "server").network,
        Some(NetworkMode::Network("gitea".parse().expect("n")))
    );
    assert_eq!(not_mapped(&gitea), ["4:5 services.server.container_name"]);
}

#[test]
fn monitoring_stack_uses_the_host_network_and_reports_pid() {
    let i = import_file("11-monitoring.yaml");
    let node = container(&i, "node-exporter");
    assert_eq!(node.network, Some(NetworkMode::Host));
    assert_eq!(
        node.volumes[0].host_path.as_ref().map(ToString::to_string),
        Some("/".into())
    );
    assert!(node.volumes[0].read_only);
    assert_eq!(ports(container(&i, "prometheus")), ["127.0.0.1:9090:9090"]);
    assert_eq!(
        container(&i, "grafana").secrets[0]
            .path
            .as_ref()
            .map(ToString::to_string),
        Some("/run/secrets/grafana_admin".into())
    );
    assert_eq!(
        container(&i, "prometheus").restart.policy,
        RestartPolicy::Always
    );
    assert_eq!(
        not_mapped(&i),
        [
            "30:5 services.node-exporter.pid",
            "32:9 services.node-exporter.volumes"
        ]
    );
}

#[test]
fn log_drivers_map_or_are_reported() {
    let i = import_file("12-logging.yaml");
    assert_eq!(container(&i, "loki").logging.tag.as_deref(), Some("loki"));
    assert_eq!(container(&i, "chatty").logging.driver, LogDriver::K8sFile);
    assert_eq!(container(&i, "quiet").logging.driver, LogDriver::None);
    assert_eq!(container(&i, "shipped").logging.driver, LogDriver::Journald);
    assert_eq!(not_mapped(&i).len(), 4);
}

#[test]
fn udp_ports_and_ranges_expand_or_are_reported() {
    let i = import_file("13-ports-dns.yaml");
    assert_eq!(
        ports(container(&i, "dns")),
        ["53:53/udp", "53:53", "127.0.0.1:9153:9153"]
    );
    assert_eq!(
        ports(container(&i, "relay")),
        [
            "3478:3478/udp",
            "49160:49160/udp",
            "49161:49161/udp",
            "49162:49162/udp",
            "49163:49163/udp"
        ]
    );
    assert_eq!(
        not_mapped(&i),
        ["23:9 services.relay.ports", "24:9 services.relay.ports"]
    );
}

#[test]
fn legacy_files_keep_limits_labels_and_grace_period() {
    let i = import_file("14-legacy-v2.yaml");
    let web = container(&i, "web");
    assert_eq!(web.stop_timeout.map(|d| d.as_millis()), Some(90_000));
    assert_eq!(
        web.labels.get("com.example.team").map(String::as_str),
        Some("legacy")
    );
    assert_eq!(
        web.resources.memory_max.map(|m| m.to_string()),
        Some("300M".into())
    );
    assert_eq!(web.restart.policy, RestartPolicy::Always);
}

#[test]
fn merge_keys_share_settings_and_own_keys_win() {
    let i = import_file("15-anchors-minio.yaml");
    for name in ["minio1", "minio2"] {
        let c = container(&i, name);
        assert_eq!(c.restart.policy, RestartPolicy::Always);
        assert_eq!(env(c, "MINIO_ROOT_USER"), Some("minioadmin"));
        assert_eq!(
            strings(&c.health_check.as_ref().expect("hc").command),
            ["mc", "ready", "local"]
        );
        assert_eq!(c.args[0], "server");
    }
    assert_eq!(
        container(&i, "minio2").volumes[0]
            .volume
            .as_ref()
            .map(|v| v.as_str()),
        Some("data2-1")
    );
    assert_eq!(
        container(&i, "minio2")
            .labels
            .get("role")
            .map(String::as_str),
        Some("secondary")
    );
}

#[test]
fn hardening_maps_and_pull_policy_becomes_an_image() {
    let i = import_file("16-hardened.yaml");
    let api = container(&i, "api");
    assert!(api.security.read_only_root_filesystem);
    assert!(api.security.no_new_privileges);
    assert_eq!(
        api.security
            .cap_drop
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>(),
        ["ALL"]
    );
    assert_eq!(
        api.security
            .cap_add
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>(),
        ["NET_BIND_SERVICE"]
    );
    assert_eq!(api.user.as_deref(), Some("65534:65534"));
    assert_eq!(
        api.env_files
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["/srv/stacks/app/api.env", "/srv/stacks/app/api.local.env"]
    );
    assert_eq!(api.image, ImageSource::Object("api".parse().expect("name")));
    let image = i
        .manifests
        .iter()
        .find(|m| m.kind() == podctl_api::Kind::Image)
        .expect("image");
    assert!(matches!(&image.spec, Spec::Image(s) if s.pull_policy == PullPolicy::Always));
    assert_eq!(
        not_mapped(&i),
        [
            "11:9 services.api.security_opt",
            "12:5 services.api.tmpfs",
            "14:5 services.api.init",
            "20:19 services.api.env_file.required"
        ]
    );
}

#[test]
fn unsupported_keys_are_each_reported_at_their_line() {
    let i = import_file("17-unsupported.yaml");
    assert_eq!(
        not_mapped(&i),
        [
            "4:5 services.builder.build",
            "6:5 services.builder.privileged",
            "7:5 services.builder.devices",
            "9:5 services.builder.extra_hosts",
            "11:5 services.builder.sysctls",
            "13:5 services.builder.ulimits",
            "15:5 services.builder.shm_size",
            "16:5 services.builder.profiles",
            "17:19 services.builder.network_mode",
            "22:9 services.helper.environment.FROM_SHELL",
            "23:5 services.helper.frobnicate",
            "24:1 include"
        ]
    );
    // What did map still maps.
    assert_eq!(
        strings(&container(&i, "helper").args),
        ["sleep", "infinity"]
    );
}

#[test]
fn a_service_without_an_image_or_with_an_undeclared_volume_is_an_error() {
    let i = import_text(
        "c.yaml",
        "services:\n  app:\n    build: .\n  db:\n    image: postgres\n    volumes: [\"data:/var/lib/postgresql/data\"]\n",
        &Variables::new(),
    );
    let errors: Vec<String> = i
        .report
        .errors
        .iter()
        .map(|e| e.to_string().lines().next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        errors,
        [
            "c.yaml:2:3: service `app` has no `image`",
            "c.yaml:6:15: volume `data` is not declared under the top-level `volumes`"
        ]
    );
}
