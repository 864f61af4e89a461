//! Compose's value syntaxes (Go durations, byte sizes, CPU counts, ports, shell words) read
//! into podctl's types.

use std::net::IpAddr;

use podctl_api::values::{ByteSize, Duration, PortMapping, Protocol};

/// A Go duration (`1m30s`, `1.5s`, `500ms`) in whole milliseconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    const UNITS: &[(&str, u128)] = &[
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ];
    let bad = || format!("`{text}` is not a duration such as `30s`, `1m30s` or `1.5s`");
    if text == "0" {
        return Ok(Duration::from_millis(0));
    }
    let mut rest = text;
    let mut nanos: u128 = 0;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let scale = UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, s)| *s)
            .ok_or_else(bad)?;
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return Err(bad());
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        nanos = nanos.saturating_add(whole.saturating_mul(scale));
        if !fraction.is_empty() {
            let f: u128 = fraction.parse().map_err(|_| bad())?;
            let div = 10u128.checked_pow(u32::try_from(fraction.len()).map_err(|_| bad())?);
            let div = div.ok_or_else(bad)?;
            nanos = nanos.saturating_add(f.saturating_mul(scale) / div);
        }
        rest = next;
    }
    if !nanos.is_multiple_of(1_000_000) {
        return Err(format!(
            "`{text}` is finer than a millisecond, which podctl durations cannot hold"
        ));
    }
    let ms = u64::try_from(nanos / 1_000_000).map_err(|_| bad())?;
    Ok(Duration::from_millis(ms))
}

/// A byte size as Docker reads it (`512m`, `1.5g`, `1024`, `2gb`; units of 1024).
pub fn bytes(text: &str) -> Result<u64, String> {
    let bad = || format!("`{text}` is not a size such as `512m` or `2g`");
    let lower = text.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(split);
    let scale: u64 = match unit {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(bad());
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let mut total = whole.checked_mul(scale).ok_or_else(bad)?;
    if !fraction.is_empty() {
        let f: u64 = fraction.parse().map_err(|_| bad())?;
        let div = 10u64
            .checked_pow(u32::try_from(fraction.len()).map_err(|_| bad())?)
            .ok_or_else(bad)?;
        total = total.saturating_add(f.saturating_mul(scale) / div);
    }
    Ok(total)
}

/// `bytes` as podctl writes a size: the largest unit that divides it.
pub fn size(bytes: u64) -> Result<ByteSize, String> {
    let text = [(40, "T"), (30, "G"), (20, "M"), (10, "K")]
        .iter()
        .find(|(shift, _)| bytes >= (1 << shift) && bytes.is_multiple_of(1u64 << shift))
        .map_or_else(
            || bytes.to_string(),
            |(shift, u)| format!("{}{u}", bytes >> shift),
        );
    text.parse()
        .map_err(|e: podctl_api::values::ValueError| e.message)
}

/// Compose's `cpus` (`0.5`, `2`) as a whole percentage of one CPU, and whether it was
/// rounded.
pub fn cpu_percent(text: &str) -> Result<(u32, bool), String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of CPUs such as `0.5` or `2`"))?;
    if !value.is_finite() || value <= 0.0 {
        return Err(format!("`{text}` CPUs: must be more than 0"));
    }
    let percent = value * 100.0;
    let rounded = percent.round();
    if !(1.0..=100_000.0).contains(&rounded) {
        return Err(format!("`{text}` CPUs is out of range (0.01 to 1000)"));
    }
    // Exact after the range check: the value is a whole number from 1 to 100000.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let whole = rounded as u32;
    Ok((whole, (percent - rounded).abs() > 1e-9))
}

/// A port or a port range (`8000`, `8000-8010`).
fn port_range(text: &str) -> Result<(u16, u16), String> {
    let one = |p: &str| match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("`{p}` is not a port number from 1 to 65535")),
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if a > b {
                return Err(format!("the port range `{text}` runs backwards"));
            }
            Ok((a, b))
        }
        None => {
            let p = one(text)?;
            Ok((p, p))
        }
    }
}

fn protocol(text: &str) -> Result<Protocol, String> {
    match text.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        "sctp" => Ok(Protocol::Sctp),
        other => Err(format!("unknown protocol `{other}` (tcp, udp or sctp)")),
    }
}

/// Why a port could not be published as podctl publishes ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortProblem {
    /// No host port: Compose would let the engine pick one.
    NoHostPort,
    /// Valid Compose, but not a fixed one-to-one mapping (a host range onto one port).
    Unmappable(String),
    Invalid(String),
}

/// Every mapping of a short-syntax port: `[IP:][HOST[-HOST]:]CONTAINER[-CONTAINER][/PROTO]`.
pub fn short_port(text: &str) -> Result<Vec<PortMapping>, PortProblem> {
    let invalid = PortProblem::Invalid;
    let (rest, proto) = match text.rsplit_once('/') {
        Some((r, p)) => (r, protocol(p).map_err(invalid)?),
        None => (text, Protocol::Tcp),
    };
    let (ip, ports) = if let Some(after) = rest.strip_prefix('[') {
        let (ip, ports) = after.split_once("]:").ok_or_else(|| {
            invalid(format!(
                "`{text}`: an IPv6 address needs `[::1]:HOST:CONTAINER`"
            ))
        })?;
        (Some(ip), ports)
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.len() {
            1 | 2 => (None, rest),
            3 => (Some(parts[0]), &rest[parts[0].len() + 1..]),
            _ => return Err(invalid(format!("`{text}` has too many `:`"))),
        }
    };
    let host_ip = match ip {
        None | Some("") => None,
        Some(ip) => Some(
            ip.parse::<IpAddr>()
                .map_err(|_| invalid(format!("`{ip}` is not an IP address")))?,
        ),
    };
    let (host, container) = match ports.split_once(':') {
        Some((h, c)) => (h, c),
        None => return Err(PortProblem::NoHostPort),
    };
    if host.is_empty() {
        return Err(PortProblem::NoHostPort);
    }
    mappings(host_ip, host, container, proto)
}

/// The mappings of a host port (or range) onto a container port (or range).
pub fn mappings(
    host_ip: Option<IpAddr>,
    host: &str,
    container: &str,
    proto: Protocol,
) -> Result<Vec<PortMapping>, PortProblem> {
    let (h0, h1) = port_range(host).map_err(PortProblem::Invalid)?;
    let (c0, c1) = port_range(container).map_err(PortProblem::Invalid)?;
    if h1 - h0 != c1 - c0 {
        return Err(PortProblem::Unmappable(format!(
            "host ports `{host}` and container ports `{container}` differ in length; podctl maps one host port to one container port"
        )));
    }
    Ok((0..=(h1 - h0))
        .map(|i| PortMapping {
            host_ip,
            host_port: h0 + i,
            container_port: c0 + i,
            protocol: proto,
        })
        .collect())
}

pub fn parse_protocol(text: &str) -> Result<Protocol, String> {
    protocol(text)
}

/// Splits a command line into words as Compose does for a string `command`: white space
/// separates, single quotes are literal, double quotes take `\"` and `\\`, a backslash
/// outside quotes escapes the next character.
pub fn shell_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => return Err(format!("unclosed single quote in `{text}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => word.push(ch),
                            Some(ch) => {
                                word.push('\\');
                                word.push(ch);
                            }
                            None => return Err(format!("unclosed double quote in `{text}`")),
                        },
                        Some(ch) => word.push(ch),
                        None => return Err(format!("unclosed double quote in `{text}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(ch) = chars.next() {
                    word.push(ch);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// A Compose image as podman reads it without a short-name lookup: Docker's registry
/// spelled out (`postgres:16` → `docker.io/library/postgres:16`), as Compose itself means.
pub fn qualify_image(image: &str) -> String {
    let first = image.split('/').next().unwrap_or(image);
    let is_host = first.contains('.') || first.contains(':') || first == "localhost";
    if image.contains('/') && is_host {
        image.to_string()
    } else if image.contains('/') {
        format!("docker.io/{image}")
    } else {
        format!("docker.io/library/{image}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_should_become_milliseconds() {
        let ms = |t: &str| duration(t).map(|d| d.as_millis());
        assert_eq!(ms("30s"), Ok(30_000));
        assert_eq!(ms("1m30s"), Ok(90_000));
        assert_eq!(ms("1.5s"), Ok(1_500));
        assert_eq!(ms("500ms"), Ok(500));
        assert_eq!(ms("1h"), Ok(3_600_000));
        assert_eq!(ms("0"), Ok(0));
        assert!(duration("10").is_err());
        assert_eq!(ms("2000us"), Ok(2));
        assert!(duration("1us").is_err());
        assert!(duration("5x").is_err());
        assert!(duration("").is_err());
    }

    #[test]
    fn docker_sizes_should_use_units_of_1024() {
        assert_eq!(bytes("512m"), Ok(512 << 20));
        assert_eq!(bytes("1.5g"), Ok(3 << 29));
        assert_eq!(bytes("2GB"), Ok(2 << 30));
        assert_eq!(bytes("1024"), Ok(1024));
        assert!(bytes("12q").is_err());
        assert_eq!(size(3 << 29).map(|s| s.to_string()), Ok("1536M".into()));
        assert_eq!(size(1 << 30).map(|s| s.to_string()), Ok("1G".into()));
    }

    #[test]
    fn cpus_should_become_a_quota_in_percent() {
        assert_eq!(cpu_percent("0.5"), Ok((50, false)));
        assert_eq!(cpu_percent("2"), Ok((200, false)));
        assert_eq!(cpu_percent("0.333"), Ok((33, true)));
        assert!(cpu_percent("0").is_err());
    }

    #[test]
    fn short_ports_should_expand_ranges_and_keep_addresses() {
        let shown =
            |t: &str| short_port(t).map(|v| v.iter().map(ToString::to_string).collect::<Vec<_>>());
        assert_eq!(shown("8080:80"), Ok(vec!["8080:80".into()]));
        assert_eq!(
            shown("127.0.0.1:5432:5432"),
            Ok(vec!["127.0.0.1:5432:5432".into()])
        );
        assert_eq!(shown("[::1]:53:53/udp"), Ok(vec!["[::1]:53:53/udp".into()]));
        assert_eq!(
            shown("9000-9001:9000-9001"),
            Ok(vec!["9000:9000".into(), "9001:9001".into()])
        );
        assert_eq!(short_port("80"), Err(PortProblem::NoHostPort));
        assert_eq!(short_port("127.0.0.1::80"), Err(PortProblem::NoHostPort));
        assert!(matches!(
            short_port("8000-8010:80"),
            Err(PortProblem::Unmappable(_))
        ));
        assert!(matches!(short_port("x:80"), Err(PortProblem::Invalid(_))));
    }

    #[test]
    fn shell_words_should_split_like_compose() {
        assert_eq!(
            shell_words(r#"sh -c 'echo $HOME' "a \"b\"" c\ d"#),
            Ok(vec![
                "sh".to_string(),
                "-c".into(),
                "echo $HOME".into(),
                "a \"b\"".into(),
                "c d".into()
            ])
        );
        assert!(shell_words("'open").is_err());
    }

    #[test]
    fn images_should_name_docker_hub_when_compose_means_it() {
        assert_eq!(
            qualify_image("postgres:16"),
            "docker.io/library/postgres:16"
        );
        assert_eq!(
            qualify_image("bitnami/redis:7"),
            "docker.io/bitnami/redis:7"
        );
        assert_eq!(qualify_image("ghcr.io/a/b:1"), "ghcr.io/a/b:1");
        assert_eq!(qualify_image("localhost/app"), "localhost/app");
        assert_eq!(qualify_image("registry:5000/app"), "registry:5000/app");
    }
}
