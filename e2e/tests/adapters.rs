//! podctl's systemd and podman adapters against the real sandbox.
//!
//! systemd: the adapter runs here, on the host, and speaks D-Bus to the sandbox's systemd over
//! its bus socket (`TestHost::bus_address`). podman: the adapter runs here too, with its
//! program set to a small wrapper script that runs `hack/sandbox exec podman "$@"`, so every
//! podman command (and a secret's stdin) goes to the podman inside the sandbox; this is the
//! same `PODCTL_PODMAN` knob an operator would use. Every test uses its own names and removes
//! what it created.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use podctl::adapters::podman::{ApiSocket, Health, NetworkCreate, Podman};
use podctl::adapters::systemd::{
    ActiveState, JobOutcome, LoadState, Systemd, UnitFileState, UnitState,
};
use podctl_e2e::TestHost;

/// Job timeout for tests: far above what these tiny units need, far below the default.
const JOB_TIMEOUT: Duration = Duration::from_secs(60);
const UNIT_DIR: &str = "/etc/systemd/system";

async fn systemd(host: &TestHost) -> Result<Systemd> {
    Ok(Systemd::connect_address(host.bus_address())
        .await?
        .with_job_timeout(JOB_TIMEOUT))
}

async fn one_state(systemd: &Systemd, unit: &str) -> Result<UnitState> {
    systemd
        .unit_states(&[unit.to_owned()])
        .await?
        .pop()
        .context("unit_states returned nothing")
}

/// Unit files a test wrote; removed (and systemd reloaded) by [`Units::cleanup`].
struct Units<'a> {
    host: &'a TestHost,
    names: Vec<String>,
}

impl<'a> Units<'a> {
    fn new(host: &'a TestHost) -> Self {
        Self {
            host,
            names: Vec::new(),
        }
    }

    /// Writes `NAME.service` with `body` under /etc/systemd/system, where podctl writes.
    fn write(&mut self, what: &str, body: &str) -> Result<String> {
        let unit = format!("{}.service", self.host.unique_name(what));
        self.host
            .write_file(Path::new(UNIT_DIR).join(&unit), body)?;
        self.names.push(unit.clone());
        Ok(unit)
    }

    async fn cleanup(self, systemd: &Systemd) -> Result<()> {
        for unit in &self.names {
            // Best effort: the unit may already be stopped, disabled or never started.
            let _ = systemd.stop(unit).await;
            let _ = systemd.disable(std::slice::from_ref(unit)).await;
            let _ = systemd.reset_failed(unit).await;
            let path = self.host.host_path(Path::new(UNIT_DIR).join(unit));
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
        systemd.reload().await?;
        Ok(())
    }
}

const SLEEPER: &str = "[Unit]\nDescription=podctl e2e sleeper\n\n[Service]\nExecStart=/bin/sleep 600\n\n[Install]\nWantedBy=multi-user.target\n";

#[tokio::test]
async fn systemd_start_should_return_done_and_unit_read_back_active() -> Result<()> {
    let Some(host) =
        TestHost::require("systemd_start_should_return_done_and_unit_read_back_active").await
    else {
        return Ok(());
    };
    let systemd = systemd(&host).await?;
    let mut units = Units::new(&host);
    let unit = units.write("start", SLEEPER)?;

    systemd.reload().await?;
    let loaded = one_state(&systemd, &unit).await?;
    let outcome = systemd.start(&unit).await?;
    let running = one_state(&systemd, &unit).await?;
    let stopped_outcome = systemd.stop(&unit).await?;
    let stopped = one_state(&systemd, &unit).await?;
    units.cleanup(&systemd).await?;

    ensure!(loaded.load_state == LoadState::Loaded, "{loaded:?}");
    ensure!(!loaded.need_daemon_reload, "{loaded:?}");
    ensure!(outcome == JobOutcome::Done, "start: {outcome}");
    ensure!(running.active_state == ActiveState::Active, "{running:?}");
    ensure!(running.sub_state == "running", "{running:?}");
    ensure!(running.active_enter_timestamp_us > 0, "{running:?}");
    ensure!(running.n_restarts == Some(0), "{running:?}");
    ensure!(
        running.fragment_path == Some(PathBuf::from(UNIT_DIR).join(&unit)),
        "{running:?}"
    );
    ensure!(
        running.unit_file_state == UnitFileState::Disabled,
        "{running:?}"
    );
    ensure!(
        stopped_outcome == JobOutcome::Done,
        "stop: {stopped_outcome}"
    );
    ensure!(stopped.active_state == ActiveState::Inactive, "{stopped:?}");
    Ok(())
}

#[tokio::test]
async fn systemd_unit_states_should_report_missing_units_and_start_should_name_the_error()
-> Result<()> {
    let Some(host) = TestHost::require(
        "systemd_unit_states_should_report_missing_units_and_start_should_name_the_error",
    )
    .await
    else {
        return Ok(());
    };
    let systemd = systemd(&host).await?;
    let missing = format!("{}.service", host.unique_name("missing"));

    let states = systemd
        .unit_states(&[missing.clone(), "dbus.service".to_owned()])
        .await?;
    ensure!(states.len() == 2, "{states:?}");
    ensure!(states[0].name == missing, "{states:?}");
    ensure!(states[0].load_state == LoadState::NotFound, "{states:?}");
    ensure!(states[0].fragment_path.is_none(), "{states:?}");
    ensure!(states[1].load_state == LoadState::Loaded, "{states:?}");
    ensure!(states[1].active_state == ActiveState::Active, "{states:?}");

    let err = systemd
        .start(&missing)
        .await
        .err()
        .context("starting a missing unit succeeded")?;
    ensure!(
        err.dbus_name() == Some("org.freedesktop.systemd1.NoSuchUnit"),
        "{err:?}"
    );
    ensure!(err.to_string().contains(&missing), "{err}");
    Ok(())
}

#[tokio::test]
async fn systemd_start_of_failing_unit_should_return_failed() -> Result<()> {
    let Some(host) = TestHost::require("systemd_start_of_failing_unit_should_return_failed").await
    else {
        return Ok(());
    };
    let systemd = systemd(&host).await?;
    let mut units = Units::new(&host);
    let unit = units.write(
        "fail",
        "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'exit 3'\n",
    )?;
    systemd.reload().await?;

    let outcome = systemd.start(&unit).await;
    let failed = one_state(&systemd, &unit).await;
    let reset = systemd.reset_failed(&unit).await;
    let after_reset = one_state(&systemd, &unit).await;
    units.cleanup(&systemd).await?;

    let outcome = outcome?;
    ensure!(outcome == JobOutcome::Failed, "start: {outcome}");
    let failed = failed?;
    ensure!(failed.active_state == ActiveState::Failed, "{failed:?}");
    ensure!(failed.exec_main_status == Some(3), "{failed:?}");
    ensure!(failed.n_restarts == Some(0), "{failed:?}");
    reset?;
    let after_reset = after_reset?;
    ensure!(
        after_reset.active_state == ActiveState::Inactive,
        "{after_reset:?}"
    );
    Ok(())
}

#[tokio::test]
async fn systemd_enable_and_disable_should_change_unit_file_state() -> Result<()> {
    let Some(host) =
        TestHost::require("systemd_enable_and_disable_should_change_unit_file_state").await
    else {
        return Ok(());
    };
    let systemd = systemd(&host).await?;
    let mut units = Units::new(&host);
    let unit = units.write("enable", SLEEPER)?;
    systemd.reload().await?;
    let files = vec![unit.clone()];

    let result = async {
        let enabled_changes = systemd.enable(&files).await?;
        systemd.reload().await?;
        let enabled = one_state(&systemd, &unit).await?;
        let disabled_changes = systemd.disable(&files).await?;
        systemd.reload().await?;
        let disabled = one_state(&systemd, &unit).await?;
        anyhow::Ok((enabled_changes, enabled, disabled_changes, disabled))
    }
    .await;
    units.cleanup(&systemd).await?;
    let (enabled_changes, enabled, disabled_changes, disabled) = result?;

    let link = PathBuf::from(UNIT_DIR)
        .join("multi-user.target.wants")
        .join(&unit);
    ensure!(
        enabled_changes
            .iter()
            .any(|c| c.kind == "symlink" && c.path == link),
        "{enabled_changes:?}"
    );
    ensure!(
        enabled.unit_file_state == UnitFileState::Enabled,
        "{enabled:?}"
    );
    ensure!(
        disabled_changes
            .iter()
            .any(|c| c.kind == "unlink" && c.path == link),
        "{disabled_changes:?}"
    );
    ensure!(
        disabled.unit_file_state == UnitFileState::Disabled,
        "{disabled:?}"
    );
    Ok(())
}

#[tokio::test]
async fn systemd_parallel_starts_should_all_complete() -> Result<()> {
    let Some(host) = TestHost::require("systemd_parallel_starts_should_all_complete").await else {
        return Ok(());
    };
    let systemd = systemd(&host).await?;
    let mut units = Units::new(&host);
    let mut names = Vec::new();
    for i in 0..5 {
        names.push(units.write(&format!("par{i}"), SLEEPER)?);
    }
    systemd.reload().await?;

    let mut starts = tokio::task::JoinSet::new();
    for unit in &names {
        let (systemd, unit) = (systemd.clone(), unit.clone());
        starts.spawn(async move { (unit.clone(), systemd.start(&unit).await) });
    }
    let mut outcomes = BTreeMap::new();
    while let Some(joined) = starts.join_next().await {
        let (unit, outcome) = joined?;
        outcomes.insert(unit, outcome.map_err(|e| e.to_string()));
    }
    let states = systemd.unit_states(&names).await;
    units.cleanup(&systemd).await?;

    ensure!(outcomes.len() == 5, "{outcomes:?}");
    ensure!(
        outcomes
            .values()
            .all(|o| o.as_ref() == Ok(&JobOutcome::Done)),
        "{outcomes:?}"
    );
    let states = states?;
    ensure!(
        states.iter().all(|s| s.active_state == ActiveState::Active),
        "{states:?}"
    );
    Ok(())
}

/// A podman adapter whose commands run inside the sandbox; the script lives in a host
/// temporary directory that disappears with the returned guard.
fn sandbox_podman(host: &TestHost) -> Result<(Podman, tempfile::TempDir)> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::Builder::new()
        .prefix("podctl-e2e-podman-")
        .tempdir()?;
    let sandbox = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hack/sandbox");
    let script = dir.path().join("podman");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nPODCTL_SANDBOX='{}' exec '{}' exec podman \"$@\"\n",
            host.name(),
            sandbox.display()
        ),
    )?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    Ok((Podman::with_program(script), dir))
}

fn managed_labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("io.podctl.managed".to_owned(), "true".to_owned()),
        ("io.podctl.name".to_owned(), name.to_owned()),
    ])
}

#[tokio::test]
async fn podman_volume_should_be_created_listed_with_labels_and_removed() -> Result<()> {
    let Some(host) =
        TestHost::require("podman_volume_should_be_created_listed_with_labels_and_removed").await
    else {
        return Ok(());
    };
    let (podman, _script) = sandbox_podman(&host)?;
    let name = host.unique_name("vol");
    let labels = managed_labels(&name);

    podman
        .create_volume(&name, "local", &BTreeMap::new(), &labels)
        .await?;
    let listed = podman.volumes().await;
    let removed = podman.remove_volume(&name).await;
    let after = podman.volumes().await?;
    let again = podman.remove_volume(&name).await;

    let listed = listed?;
    let volume = listed
        .iter()
        .find(|v| v.name == name)
        .with_context(|| format!("{name} not listed: {listed:?}"))?;
    ensure!(volume.labels == labels, "{volume:?}");
    ensure!(volume.driver == "local", "{volume:?}");
    removed?;
    ensure!(after.iter().all(|v| v.name != name), "{after:?}");
    let err = again.err().context("removing a removed volume succeeded")?;
    ensure!(err.is_not_found(), "{err}");
    ensure!(err.to_string().contains("volume rm"), "{err}");
    Ok(())
}

#[tokio::test]
async fn podman_network_should_be_created_listed_with_labels_and_removed() -> Result<()> {
    let Some(host) =
        TestHost::require("podman_network_should_be_created_listed_with_labels_and_removed").await
    else {
        return Ok(());
    };
    let (podman, _script) = sandbox_podman(&host)?;
    let name = host.unique_name("net");
    let labels = managed_labels(&name);

    podman
        .create_network(&NetworkCreate {
            name: name.clone(),
            driver: "bridge".to_owned(),
            internal: true,
            labels: labels.clone(),
            ..NetworkCreate::default()
        })
        .await?;
    let listed = podman.networks().await;
    let removed = podman.remove_network(&name).await;
    let after = podman.networks().await?;

    let listed = listed?;
    let network = listed
        .iter()
        .find(|n| n.name == name)
        .with_context(|| format!("{name} not listed: {listed:?}"))?;
    ensure!(network.labels == labels, "{network:?}");
    ensure!(network.internal, "{network:?}");
    ensure!(network.driver == "bridge", "{network:?}");
    ensure!(!network.subnets.is_empty(), "{network:?}");
    removed?;
    ensure!(after.iter().all(|n| n.name != name), "{after:?}");
    Ok(())
}

#[tokio::test]
async fn podman_secret_should_keep_its_value_out_of_errors() -> Result<()> {
    let Some(host) = TestHost::require("podman_secret_should_keep_its_value_out_of_errors").await
    else {
        return Ok(());
    };
    let (podman, _script) = sandbox_podman(&host)?;
    let name = host.unique_name("sec");
    let value = format!("value-of-{name}-do-not-print");
    let labels = managed_labels(&name);

    let id = podman
        .create_secret(&name, value.as_bytes(), &labels)
        .await?;
    // A second create with the same name fails (podman 4.3 has no --replace).
    let duplicate = podman.create_secret(&name, value.as_bytes(), &labels).await;
    let listed = podman.secrets().await;
    // The value reached podman intact through stdin: a container reads it back.
    let target = format!("/run/secrets/{name}");
    let read_back = host
        .exec_ok([
            "podman",
            "run",
            "--rm",
            "--network",
            "none",
            "--secret",
            &format!("{name},type=mount,target={target}"),
            "localhost/bb:v1",
            "cat",
            &target,
        ])
        .await;
    podman.remove_secret(&name).await?;
    let after = podman.secrets().await?;

    let err = duplicate
        .err()
        .context("creating a secret twice succeeded")?;
    let shown = format!("{err} {err:?}");
    ensure!(!shown.contains(&value), "the secret value leaked: {shown}");
    ensure!(shown.contains("secret create"), "{shown}");
    let listed = listed?;
    let secret = listed
        .iter()
        .find(|s| s.name == name)
        .with_context(|| format!("{name} not listed: {listed:?}"))?;
    ensure!(secret.id == id, "{secret:?} vs id {id}");
    ensure!(secret.labels == labels, "{secret:?}");
    ensure!(!format!("{listed:?}").contains(&value));
    ensure!(after.iter().all(|s| s.name != name), "{after:?}");
    ensure!(
        read_back?.stdout == value,
        "the container read another value"
    );
    Ok(())
}

#[tokio::test]
async fn podman_queries_should_parse_this_hosts_podman() -> Result<()> {
    let Some(host) = TestHost::require("podman_queries_should_parse_this_hosts_podman").await
    else {
        return Ok(());
    };
    let (podman, _script) = sandbox_podman(&host)?;
    let version = podman.version().await?;
    ensure!(version.client_semver().0 >= 4, "{version:?}");
    // hack/images builds these; with them present, images() must see them by name.
    let images = podman.images().await?;
    ensure!(
        images
            .iter()
            .any(|i| i.names.iter().any(|n| n.starts_with("localhost/bb:"))),
        "{images:?}"
    );
    ensure!(
        podman.image_exists("localhost/bb:v1").await?,
        "localhost/bb:v1 missing"
    );
    ensure!(
        !podman
            .image_exists(&format!("localhost/{}:none", host.unique_name("img")))
            .await?
    );
    // Parsing every container there is (whatever other tests run) must not fail.
    podman.containers().await?;
    Ok(())
}

/// podman's REST API (podman.socket of the test host, reached through the sandbox's root)
/// lists what the CLI lists: the same containers with the same health, images, volumes,
/// networks and secrets with their labels. Asked of the API directly, so a broken API
/// cannot hide behind the adapter's fallback to the CLI.
#[tokio::test]
async fn podman_api_should_list_what_the_cli_lists() -> Result<()> {
    let Some(host) = TestHost::require("podman_api_should_list_what_the_cli_lists").await else {
        return Ok(());
    };
    let (cli, _script) = sandbox_podman(&host)?;
    host.exec_ok(["systemctl", "start", "podman.socket"])
        .await?;
    let api = ApiSocket::new(host.host_path(podctl::adapters::podman::api::DEFAULT_SOCKET));
    let name = host.unique_name("api");
    let labels = managed_labels(&name);
    cli.create_volume(&name, "", &BTreeMap::new(), &labels)
        .await?;
    cli.create_secret(&name, b"not-in-any-listing", &labels)
        .await?;
    cli.create_network(&NetworkCreate {
        name: name.clone(),
        internal: true,
        labels: labels.clone(),
        ..NetworkCreate::default()
    })
    .await?;
    host.exec_ok([
        "podman",
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        "io.podctl.managed=true",
        "--health-cmd",
        "/bin/true",
        "--health-interval",
        "1s",
        "localhost/bb:v1",
        "sleep",
        "600",
    ])
    .await?;
    let compared = compare_listings(&cli, &api, &name).await;
    host.exec_ok(["podman", "rm", "-f", "-t", "0", &name])
        .await?;
    cli.remove_volume(&name).await?;
    cli.remove_secret(&name).await?;
    cli.remove_network(&name).await?;
    compared
}

/// The controller asks again only for the containers its events named (`Host::refresh`):
/// through the API and the CLI, a name matches itself and nothing else — podman's name
/// filter is a regular expression, where an unescaped dot would match any character and
/// an unanchored name every longer one.
#[tokio::test]
async fn containers_named_should_find_exactly_the_named_ones_through_the_api_and_the_cli()
-> Result<()> {
    let Some(host) = TestHost::require(
        "containers_named_should_find_exactly_the_named_ones_through_the_api_and_the_cli",
    )
    .await
    else {
        return Ok(());
    };
    let (cli, _script) = sandbox_podman(&host)?;
    host.exec_ok(["systemctl", "start", "podman.socket"])
        .await?;
    let api = ApiSocket::new(host.host_path(podctl::adapters::podman::api::DEFAULT_SOCKET));
    let base = host.unique_name("named");
    let asked = format!("{base}.a");
    let others = [
        format!("{base}xa"),
        format!("{asked}-2"),
        format!("x{asked}"),
    ];
    for name in std::iter::once(&asked).chain(&others) {
        host.exec_ok([
            "podman",
            "create",
            "--name",
            name,
            "localhost/bb:v1",
            "true",
        ])
        .await?;
    }
    let names = |cs: Vec<podctl::adapters::podman::Container>| -> Vec<String> {
        cs.iter().map(|c| c.name().to_owned()).collect()
    };
    let wanted = [asked.clone(), format!("{base}-missing")];
    let through_cli = cli.containers_named(&wanted).await.map(names);
    let through_api = api.containers_named(&wanted).await.map(names);
    for name in std::iter::once(&asked).chain(&others) {
        host.exec_ok(["podman", "rm", "-f", name]).await?;
    }
    ensure!(through_cli? == [asked.clone()], "the CLI found others");
    ensure!(through_api? == [asked], "the API found others");
    Ok(())
}

async fn compare_listings(cli: &Podman, api: &ApiSocket, name: &str) -> Result<()> {
    let ours =
        |cs: Vec<podctl::adapters::podman::Container>| cs.into_iter().find(|c| c.name() == name);
    let healthy = podctl_e2e::wait_until(Duration::from_secs(30), "healthy", || async {
        let c = ours(cli.containers().await?).context("container not listed")?;
        Ok((c.health() == Some(Health::Healthy)).then_some(c))
    })
    .await?;
    let by_api = ours(api.containers().await?).context("container not listed by the API")?;
    ensure!(by_api.health() == Some(Health::Healthy), "{by_api:?}");
    for (what, same) in [
        ("id", healthy.id == by_api.id),
        (
            "image",
            healthy.image == by_api.image && healthy.image_id == by_api.image_id,
        ),
        ("state", healthy.state == by_api.state),
        ("labels", healthy.labels == by_api.labels),
        ("networks", healthy.networks == by_api.networks),
    ] {
        ensure!(same, "{what} differs: CLI {healthy:?}, API {by_api:?}");
    }
    let ids = |images: Vec<podctl::adapters::podman::Image>| {
        images
            .into_iter()
            .map(|i| i.id)
            .collect::<std::collections::BTreeSet<_>>()
    };
    ensure!(
        ids(cli.images().await?) == ids(api.images().await?),
        "image IDs differ"
    );
    // Asked by name: found under its full name and a short one, a missing one left out.
    let cli_id = cli
        .images()
        .await?
        .into_iter()
        .find(|i| i.names.iter().any(|n| n == "localhost/bb:v1"))
        .context("localhost/bb:v1 missing")?
        .id;
    let asked = ["localhost/bb:v1", "bb:v1", "localhost/podctl-none:x"]
        .map(String::from)
        .into();
    let named = api.images_named(&asked).await?;
    ensure!(named.len() == 2, "{named:?}");
    ensure!(named.iter().all(|i| i.id == cli_id), "{named:?}");
    let labels = managed_labels(name);
    same_entry(
        "volume",
        cli.volumes().await?,
        api.volumes().await?,
        |v| (&v.name, &v.labels),
        (name, &labels),
    )?;
    same_entry(
        "network",
        cli.networks().await?,
        api.networks().await?,
        |n| (&n.name, &n.labels),
        (name, &labels),
    )?;
    same_entry(
        "secret",
        cli.secrets().await?,
        api.secrets().await?,
        |s| (&s.name, &s.labels),
        (name, &labels),
    )?;
    Ok(())
}

/// The entry named `expected.0` in the API's listing carries the labels `expected.1` and is
/// the CLI's entry, field for field.
fn same_entry<T: PartialEq + std::fmt::Debug>(
    what: &str,
    cli: Vec<T>,
    api: Vec<T>,
    key: impl Fn(&T) -> (&String, &BTreeMap<String, String>),
    expected: (&str, &BTreeMap<String, String>),
) -> Result<()> {
    let ours = |x: &T| key(x).0 == expected.0;
    let by_api = api
        .into_iter()
        .find(|x| ours(x))
        .with_context(|| format!("{what} {} not listed by the API", expected.0))?;
    ensure!(key(&by_api).1 == expected.1, "{by_api:?}");
    let by_cli = cli.into_iter().find(|x| ours(x));
    ensure!(
        by_cli.as_ref() == Some(&by_api),
        "{what} differs: CLI {by_cli:?}, API {by_api:?}"
    );
    Ok(())
}
