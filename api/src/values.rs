//! Typed manifest values (durations, sizes, ports, paths, ...): parsed once at the edge, so
//! nothing past the parser handles raw strings, and shown back in the form users write.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::yaml::message_with_hint;

/// Why a value did not parse, and how to write it instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    pub message: String,
    pub hint: Option<String>,
}

impl ValueError {
    fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValueError {}

/// Gives a `FromStr + Display` type serde and JSON Schema impls that go through its text
/// form, with the schema's pattern and description for editors.
macro_rules! text_value {
    ($ty:ty, $name:literal, $description:literal $(, pattern = $pattern:literal)?) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <Cow<'de, str>>::deserialize(deserializer)?;
                text.parse::<$ty>().map_err(|e: ValueError| {
                    serde::de::Error::custom(match &e.hint {
                        Some(hint) => message_with_hint(&e.message, hint),
                        None => e.message.clone(),
                    })
                })
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                #[allow(unused_mut)]
                let mut schema = json_schema!({
                    "type": "string",
                    "description": $description,
                });
                $(schema.insert("pattern".into(), $pattern.into());)?
                schema
            }
        }
    };
}

/// A span of time: `500ms`, `30s`, `5m`, `1h30m`, `2d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(std::time::Duration);

impl Duration {
    /// The longest span every consumer holds: Go's `time.Duration` (podman's flags) is
    /// signed 64-bit nanoseconds, up to 2^63-1 ns, about 106751 days; systemd's
    /// microseconds reach further. Longer spans were ignored by systemd while podctl
    /// reported them applied.
    pub const MAX_MILLIS: u64 = (i64::MAX as u64) / 1_000_000;

    pub fn from_millis(ms: u64) -> Self {
        Self(std::time::Duration::from_millis(ms))
    }

    pub fn as_std(self) -> std::time::Duration {
        self.0
    }

    pub fn as_millis(self) -> u128 {
        self.0.as_millis()
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl FromStr for Duration {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        const HINT: &str = "write a whole number followed by a unit: ms, s, m, h or d (e.g. `500ms`, `30s`, `1h30m`)";
        let bad = |why: &str| ValueError::new(format!("invalid duration `{s}`: {why}"), HINT);
        if s.is_empty() {
            return Err(bad("it is empty"));
        }
        if s.chars().all(|c| c.is_ascii_digit()) {
            return Err(ValueError::new(
                format!("invalid duration `{s}`: it has no unit"),
                format!(
                    "add a unit, e.g. `{s}s` for {s} second{}",
                    if s == "1" { "" } else { "s" }
                ),
            ));
        }
        let mut total: u128 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(bad("expected a number"));
            }
            let number: u128 = rest[..digits]
                .parse()
                .map_err(|_| bad("number too large"))?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let millis_per_unit: u128 = match &rest[..unit_len] {
                "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                "" => return Err(bad("the last number has no unit")),
                other if other.starts_with('.') => {
                    return Err(bad(
                        "fractions are not supported; use a smaller unit (`1500ms`, not `1.5s`)",
                    ));
                }
                other => return Err(bad(&format!("unknown unit `{other}`"))),
            };
            rest = &rest[unit_len..];
            total = number
                .checked_mul(millis_per_unit)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| bad("too long"))?;
        }
        let millis = u64::try_from(total).map_err(|_| bad("too long"))?;
        if millis > Self::MAX_MILLIS {
            return Err(ValueError::new(
                format!(
                    "invalid duration `{s}`: longer than {}, the most podman accepts",
                    Self::from_millis(Self::MAX_MILLIS)
                ),
                "podman keeps durations as signed 64-bit nanoseconds (about 292 years) and systemd ignores spans it cannot hold; write a shorter duration",
            ));
        }
        Ok(Self::from_millis(millis))
    }
}

impl fmt::Display for Duration {
    /// The shortest exact form (`90s` as `1m30s`), which systemd also accepts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ] {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

text_value!(
    Duration,
    "Duration",
    "A duration: whole numbers with units ms, s, m, h, d, e.g. `500ms`, `30s`, `1h30m`.",
    pattern = "^([0-9]+(ms|s|m|h|d))+$"
);

/// A size in bytes: `512M`, `2G` (powers of 1024; `Ki`/`Mi`/`Gi` spellings also accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(u64);

impl ByteSize {
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for ByteSize {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        const HINT: &str = "write a whole number with an optional unit K, M, G or T (powers of 1024), e.g. `512M`, `2G`";
        let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        if digits == 0 {
            return Err(ValueError::new(
                format!("invalid size `{s}`: expected a number"),
                HINT,
            ));
        }
        let number: u64 = s[..digits]
            .parse()
            .map_err(|_| ValueError::new(format!("invalid size `{s}`: number too large"), HINT))?;
        let shift = match &s[digits..] {
            "" | "B" => 0,
            "K" | "k" | "Ki" | "KiB" | "KB" => 10,
            "M" | "Mi" | "MiB" | "MB" => 20,
            "G" | "Gi" | "GiB" | "GB" => 30,
            "T" | "Ti" | "TiB" | "TB" => 40,
            unit => {
                return Err(ValueError::new(
                    format!("invalid size `{s}`: unknown unit `{unit}`"),
                    HINT,
                ));
            }
        };
        let bytes = number
            .checked_mul(1u64 << shift)
            .ok_or_else(|| ValueError::new(format!("invalid size `{s}`: too large"), HINT))?;
        if bytes == 0 {
            return Err(ValueError::new(
                format!("invalid size `{s}`: must be more than zero"),
                HINT,
            ));
        }
        Ok(Self(bytes))
    }
}

impl fmt::Display for ByteSize {
    /// The largest exact unit, in the spelling systemd and podman both accept (`512M`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, shift) in [("T", 40), ("G", 30), ("M", 20), ("K", 10)] {
            let size = 1u64 << shift;
            if self.0.is_multiple_of(size) {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}", self.0)
    }
}

text_value!(
    ByteSize,
    "ByteSize",
    "A size in bytes with an optional unit K, M, G, T (powers of 1024), e.g. `512M`, `2G`.",
    pattern = "^[0-9]+([KMGT]i?B?|[Kk]|B)?$"
);

/// A CPU quota as a percentage of one CPU: `50%`, `200%` (two CPUs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CpuQuota(u32);

impl CpuQuota {
    pub fn percent(self) -> u32 {
        self.0
    }
}

impl FromStr for CpuQuota {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        let hint = "write a percentage of one CPU: `50%` for half a CPU, `200%` for two";
        let Some(number) = s.strip_suffix('%') else {
            return Err(ValueError::new(
                format!("invalid CPU quota `{s}`: it needs a `%`"),
                hint,
            ));
        };
        match number.parse::<u32>() {
            Ok(p) if p > 0 && p <= 100_000 => Ok(Self(p)),
            _ => Err(ValueError::new(
                format!("invalid CPU quota `{s}`: expected a whole percentage from 1% to 100000%"),
                hint,
            )),
        }
    }
}

impl fmt::Display for CpuQuota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

text_value!(
    CpuQuota,
    "CpuQuota",
    "A CPU quota in percent of one CPU, e.g. `50%`, `200%`.",
    pattern = "^[0-9]+%$"
);

/// A set of CPUs for `--cpuset-cpus`: `0-3`, `0,2,4-7`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CpuSet(String);

impl CpuSet {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CpuSet {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        let bad = || {
            ValueError::new(
                format!("invalid cpuset `{s}`"),
                "write CPU numbers and ranges separated by commas, e.g. `0-3` or `0,2,4-7`",
            )
        };
        for part in s.split(',') {
            let (lo, hi) = part.split_once('-').unwrap_or((part, part));
            let lo: u32 = lo.parse().map_err(|_| bad())?;
            let hi: u32 = hi.parse().map_err(|_| bad())?;
            if lo > hi {
                return Err(bad());
            }
        }
        Ok(Self(s.to_string()))
    }
}

impl fmt::Display for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_value!(
    CpuSet,
    "CpuSet",
    "CPUs for podman --cpuset-cpus, e.g. `0-3` or `0,2,4-7`.",
    pattern = "^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$"
);

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        })
    }
}

/// A published port: `HOST:CONTAINER[/PROTO]` or `IP:HOST:CONTAINER[/PROTO]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortMapping {
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

impl FromStr for PortMapping {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        const HINT: &str = "write `HOST:CONTAINER`, `HOST:CONTAINER/udp` or `IP:HOST:CONTAINER`, e.g. `8080:80` or `127.0.0.1:8080:80`";
        let bad = |why: &str| ValueError::new(format!("invalid port `{s}`: {why}"), HINT);
        let (addr, protocol) = match s.rsplit_once('/') {
            Some((a, "tcp")) => (a, Protocol::Tcp),
            Some((a, "udp")) => (a, Protocol::Udp),
            Some((a, "sctp")) => (a, Protocol::Sctp),
            Some((_, p)) => return Err(bad(&format!("unknown protocol `{p}` (tcp, udp or sctp)"))),
            None => (s, Protocol::Tcp),
        };
        let (ip, ports) = if let Some(rest) = addr.strip_prefix('[') {
            let (ip, ports) = rest
                .split_once("]:")
                .ok_or_else(|| bad("an IPv6 address needs the form `[::1]:HOST:CONTAINER`"))?;
            (Some(ip), ports)
        } else {
            match addr.matches(':').count() {
                1 => (None, addr),
                2 => {
                    let (ip, ports) = addr
                        .split_once(':')
                        .ok_or_else(|| bad("expected `IP:HOST:CONTAINER`"))?;
                    (Some(ip), ports)
                }
                0 => return Err(bad("the host port is missing")),
                _ => return Err(bad("too many `:`; write IPv6 addresses in brackets")),
            }
        };
        let host_ip = ip
            .map(|ip| {
                ip.parse::<IpAddr>()
                    .map_err(|_| bad(&format!("`{ip}` is not an IP address")))
            })
            .transpose()?;
        let (host, container) = ports
            .split_once(':')
            .ok_or_else(|| bad("expected `HOST:CONTAINER`"))?;
        let port = |p: &str| match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(bad(&format!("`{p}` is not a port number from 1 to 65535"))),
        };
        Ok(Self {
            host_ip,
            host_port: port(host)?,
            container_port: port(container)?,
            protocol,
        })
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host_ip {
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:")?,
            Some(IpAddr::V4(ip)) => write!(f, "{ip}:")?,
            None => {}
        }
        write!(f, "{}:{}", self.host_port, self.container_port)?;
        if self.protocol != Protocol::Tcp {
            write!(f, "/{}", self.protocol)?;
        }
        Ok(())
    }
}

text_value!(
    PortMapping,
    "PortMapping",
    "A published port: `HOST:CONTAINER[/PROTO]` or `IP:HOST:CONTAINER[/PROTO]`."
);

/// An absolute, normalised path on the host or in the container (no `..`, no `//`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AbsPath(String);

impl AbsPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn as_path(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

impl FromStr for AbsPath {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        if !s.starts_with('/') {
            return Err(ValueError::new(
                format!("path `{s}` is not absolute"),
                format!("start it with `/`, e.g. `/{}`", s.trim_start_matches("./")),
            ));
        }
        if s.split('/').any(|c| c == "..") {
            return Err(ValueError::new(
                format!("path `{s}` contains `..`"),
                "write the path without `..`",
            ));
        }
        // systemd's path settings (`ReadWritePaths=`) have no escape for them, and no
        // file name that a service needs carries one.
        if s.contains(char::is_control) {
            return Err(ValueError::new(
                format!("path {s:?} contains a control character"),
                "remove it; paths may hold any printable text",
            ));
        }
        // systemd simplifies `//` and `/./` away, so the path it used would not be the
        // path written; a path is written in its one normal form.
        if s.len() > 1
            && s.trim_end_matches('/')
                .split('/')
                .skip(1)
                .any(|c| c.is_empty() || c == ".")
        {
            return Err(ValueError::new(
                format!("path `{s}` is not normalised: it has `//` or a `.` component"),
                "write each directory once, e.g. `/srv/data` for `/srv//./data`",
            ));
        }
        // `,` and `:` separate options in podman's --volume syntax.
        if s.contains(',') || s.contains(':') {
            return Err(ValueError::new(
                format!("path `{s}` contains `,` or `:`, which podman's mount syntax cannot carry"),
                "rename the directory or mount a parent directory",
            ));
        }
        let normalised = if s.len() > 1 {
            s.trim_end_matches('/')
        } else {
            s
        };
        Ok(Self(normalised.to_string()))
    }
}

impl fmt::Display for AbsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_value!(
    AbsPath,
    "AbsolutePath",
    "An absolute path without `..`.",
    pattern = "^/"
);

/// The name of an environment variable: `[A-Za-z_][A-Za-z0-9_]*`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvName(String);

impl EnvName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EnvName {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        let mut chars = s.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            Ok(Self(s.to_string()))
        } else {
            Err(ValueError::new(
                format!("invalid environment variable name `{s}`"),
                "use letters, digits and `_`, not starting with a digit, e.g. `API_TOKEN`",
            ))
        }
    }
}

impl fmt::Display for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_value!(
    EnvName,
    "EnvName",
    "An environment variable name.",
    pattern = "^[A-Za-z_][A-Za-z0-9_]*$"
);

/// The Linux capabilities podman knows, without the `CAP_` prefix.
const CAPABILITIES: &[&str] = &[
    "ALL",
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYSLOG",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "WAKE_ALARM",
];

/// A Linux capability (`NET_BIND_SERVICE`, `CAP_NET_BIND_SERVICE` or `ALL`), stored without
/// the `CAP_` prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Capability(String);

impl Capability {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Capability {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        let upper = s.to_ascii_uppercase();
        let name = upper.strip_prefix("CAP_").unwrap_or(&upper);
        if CAPABILITIES.contains(&name) {
            return Ok(Self(name.to_string()));
        }
        let hint = match crate::diagnostic::closest(name, CAPABILITIES.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => "see capabilities(7) for the names; `ALL` stands for all of them".to_string(),
        };
        Err(ValueError::new(format!("unknown capability `{s}`"), hint))
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_value!(
    Capability,
    "Capability",
    "A Linux capability such as `NET_BIND_SERVICE`, or `ALL`."
);

/// A host systemd unit name for `after`/`requires`: `network-online.target`, `foo.mount`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitName(String);

impl UnitName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The default `wantedBy` of a Container.
    pub fn multi_user_target() -> Self {
        Self("multi-user.target".to_string())
    }
}

const UNIT_SUFFIXES: &[&str] = &[
    "service",
    "socket",
    "device",
    "mount",
    "automount",
    "swap",
    "target",
    "path",
    "timer",
    "slice",
    "scope",
];

impl FromStr for UnitName {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        let hint = "give a full unit name with its type, e.g. `network-online.target` or `postgresql.service`";
        let Some((stem, suffix)) = s.rsplit_once('.') else {
            return Err(ValueError::new(
                format!("`{s}` is not a systemd unit name: it has no type suffix"),
                hint,
            ));
        };
        let stem_ok = !stem.is_empty()
            && s.len() <= 255
            && stem
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c));
        if !stem_ok || !UNIT_SUFFIXES.contains(&suffix) {
            return Err(ValueError::new(
                format!("`{s}` is not a valid systemd unit name"),
                hint,
            ));
        }
        Ok(Self(s.to_string()))
    }
}

impl fmt::Display for UnitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_value!(
    UnitName,
    "UnitName",
    "A systemd unit name with its type, e.g. `network-online.target`."
);

/// An image reference as podman takes it: `[registry/]name[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageReference(String);

impl ImageReference {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The registry host when the reference names one (`registry.example.com`,
    /// `127.0.0.1:5000`, `localhost`): podman auto-update needs it.
    pub fn registry(&self) -> Option<&str> {
        let (first, rest) = self.0.split_once('/')?;
        let looks_like_host = first.contains('.') || first.contains(':') || first == "localhost";
        (looks_like_host && !rest.is_empty()).then_some(first)
    }
}

impl FromStr for ImageReference {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        let hint = "write an image reference such as `registry.example.com/team/app:1.4` or `docker.io/library/nginx:1.27`";
        crate::reference::check(s).map_err(|why| {
            ValueError::new(format!("invalid image reference `{s}`: {why}"), hint)
        })?;
        Ok(Self(s.to_string()))
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_value!(
    ImageReference,
    "ImageReference",
    "An image reference, e.g. `registry.example.com/team/app:1.4`."
);

/// An IP network in CIDR notation: `10.89.10.0/24`, `fd00::/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    pub address: IpAddr,
    pub prefix: u8,
}

impl Subnet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Subnet {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        let hint = "write an address and a prefix length, e.g. `10.89.10.0/24`";
        let bad = || ValueError::new(format!("invalid subnet `{s}`"), hint);
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let address: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        if prefix == 0 || prefix > max {
            return Err(bad());
        }
        let subnet = Self { address, prefix };
        if !subnet.contains(address) || network_address(subnet) != address {
            return Err(ValueError::new(
                format!("invalid subnet `{s}`: host bits are set"),
                format!(
                    "use the network address, e.g. `{}/{prefix}`",
                    network_address(subnet)
                ),
            ));
        }
        Ok(subnet)
    }
}

fn network_address(subnet: Subnet) -> IpAddr {
    match subnet.address {
        IpAddr::V4(a) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(subnet.prefix))
                .unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(subnet.prefix))
                .unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

text_value!(
    Subnet,
    "Subnet",
    "An IP network in CIDR notation, e.g. `10.89.10.0/24`."
);

/// An IP address (a network's gateway).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpAddress(pub IpAddr);

impl FromStr for IpAddress {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        s.parse().map(Self).map_err(|_| {
            ValueError::new(
                format!("invalid IP address `{s}`"),
                "e.g. `10.89.10.1` or `fd00::1`",
            )
        })
    }
}

impl fmt::Display for IpAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

text_value!(IpAddress, "IpAddress", "An IPv4 or IPv6 address.");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_in_canonical_form() {
        for (input, ms, shown) in [
            ("500ms", 500, "500ms"),
            ("30s", 30_000, "30s"),
            ("5m", 300_000, "5m"),
            ("1h30m", 5_400_000, "1h30m"),
            ("90s", 90_000, "1m30s"),
            ("0s", 0, "0s"),
        ] {
            let d: Duration = input.parse().expect(input);
            assert_eq!(d.as_millis(), ms, "{input}");
            assert_eq!(d.to_string(), shown);
        }
    }

    #[test]
    fn durations_without_unit_say_which_unit_to_add() {
        let e = "30".parse::<Duration>().unwrap_err();
        assert_eq!(e.message, "invalid duration `30`: it has no unit");
        assert_eq!(
            e.hint.as_deref(),
            Some("add a unit, e.g. `30s` for 30 seconds")
        );
        assert!(
            "1.5s"
                .parse::<Duration>()
                .unwrap_err()
                .message
                .contains("fractions")
        );
        assert!("5 min".parse::<Duration>().is_err());
        assert!("5x".parse::<Duration>().is_err());
    }

    #[test]
    fn sizes_are_powers_of_1024() {
        assert_eq!(
            "512M".parse::<ByteSize>().map(ByteSize::bytes),
            Ok(512 << 20)
        );
        assert_eq!("2G".parse::<ByteSize>().map(ByteSize::bytes), Ok(2 << 30));
        assert_eq!(
            "1Gi".parse::<ByteSize>().map(|b| b.to_string()),
            Ok("1G".into())
        );
        assert!("2GB5".parse::<ByteSize>().is_err());
        assert!("0".parse::<ByteSize>().is_err());
        assert!("-1G".parse::<ByteSize>().is_err());
    }

    #[test]
    fn ports_take_both_forms() {
        let p: PortMapping = "8080:80".parse().expect("port");
        assert_eq!(
            (p.host_port, p.container_port, p.protocol),
            (8080, 80, Protocol::Tcp)
        );
        let p: PortMapping = "127.0.0.1:53:53/udp".parse().expect("port");
        assert_eq!(p.to_string(), "127.0.0.1:53:53/udp");
        let p: PortMapping = "[::1]:8080:80".parse().expect("port");
        assert_eq!(p.to_string(), "[::1]:8080:80");
        assert!("80".parse::<PortMapping>().is_err());
        assert!("70000:80".parse::<PortMapping>().is_err());
        assert!("8080:80/icmp".parse::<PortMapping>().is_err());
        assert!("host:8080:80".parse::<PortMapping>().is_err());
    }

    #[test]
    fn paths_must_be_absolute_and_plain() {
        assert_eq!(
            "/srv/data/".parse::<AbsPath>().map(|p| p.to_string()),
            Ok("/srv/data".into())
        );
        assert!("data".parse::<AbsPath>().is_err());
        assert!("/srv/../etc".parse::<AbsPath>().is_err());
        assert!("/a:b".parse::<AbsPath>().is_err());
    }

    #[test]
    fn capabilities_accept_the_cap_prefix() {
        assert_eq!(
            "CAP_NET_ADMIN".parse::<Capability>().map(|c| c.to_string()),
            Ok("NET_ADMIN".into())
        );
        let e = "NET_BIND_SERVCE".parse::<Capability>().unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `NET_BIND_SERVICE`?"));
    }

    #[test]
    fn image_references_know_their_registry() {
        let r: ImageReference = "registry.example.com/myapp:1.4".parse().expect("ref");
        assert_eq!(r.registry(), Some("registry.example.com"));
        let r: ImageReference = "127.0.0.1:5000/bb:v1".parse().expect("ref");
        assert_eq!(r.registry(), Some("127.0.0.1:5000"));
        let r: ImageReference = "busybox:latest".parse().expect("ref");
        assert_eq!(r.registry(), None);
        assert!("Bad Ref".parse::<ImageReference>().is_err());
    }

    #[test]
    fn subnets_reject_host_bits() {
        let s: Subnet = "10.89.10.0/24".parse().expect("subnet");
        assert!(s.contains("10.89.10.1".parse().expect("ip")));
        assert!(!s.contains("10.89.11.1".parse().expect("ip")));
        let e = "10.89.10.5/24".parse::<Subnet>().unwrap_err();
        assert_eq!(
            e.hint.as_deref(),
            Some("use the network address, e.g. `10.89.10.0/24`")
        );
    }

    #[test]
    fn unit_names_need_a_type() {
        assert!("network-online.target".parse::<UnitName>().is_ok());
        assert!("postgresql".parse::<UnitName>().is_err());
        assert!("foo.bar".parse::<UnitName>().is_err());
    }
}
