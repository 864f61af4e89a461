//! The image reference grammar of distribution/reference (the one podman, skopeo and
//! registries share), so a reference podman would refuse is refused at validation, with
//! the part that is wrong named, instead of failing a pull on the host.
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path-component [ "/" path-component ]*
//! domain     := host [ ":" port ]        host: DNS labels, or [IPv6]
//! path-comp  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! digest     := algorithm ":" hex{32,}   sha256: exactly 64 lowercase hex
//! ```

/// distribution/reference's limit on the name (domain and path).
const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

/// Why a reference is not in the grammar, as the message's tail.
pub(crate) fn check(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if let Some((transport, _)) = s.split_once(':')
        && TRANSPORTS.contains(&transport)
        && !s[transport.len() + 1..].starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(format!(
            "`{transport}:` is a transport, not part of an image reference; podctl pulls from registries only"
        ));
    }
    let (rest, digest) = match s.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (s, None),
    };
    if let Some(digest) = digest {
        check_digest(digest)?;
    }
    // A tag follows the last `:` that comes after the last `/` (a `:` before it is a port).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].find(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(tag) = tag {
        check_tag(tag)?;
    }
    check_name(name)
}

/// Prefixes of podman's transports (containers-transports(5)); `docker://` starts with one.
const TRANSPORTS: &[&str] = &[
    "docker",
    "docker-archive",
    "docker-daemon",
    "oci",
    "oci-archive",
    "dir",
    "containers-storage",
    "sif",
];

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is missing".into());
    }
    if name.len() > NAME_MAX {
        return Err(format!("the name is longer than {NAME_MAX} characters"));
    }
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':', '[']) || first == "localhost" || has_upper(first) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    };
    if let Some(domain) = domain {
        check_domain(domain)?;
    }
    for component in path.split('/') {
        check_path_component(component)?;
    }
    Ok(())
}

fn has_upper(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_uppercase())
}

fn check_domain(domain: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let (ip, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("registry `{domain}` has an unclosed `[`"))?;
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("`{ip}` in `[...]` is not an IPv6 address"));
        }
        match after {
            "" => (None, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return Err(format!("registry `{domain}`: expected `:PORT` after `]`")),
            },
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(domain), None),
        }
    };
    if let Some(host) = host {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !host.split('.').all(label_ok) {
            return Err(format!("registry host `{host}` is not a valid host name"));
        }
    }
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.chars().all(|c| c.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p > 0);
        if !valid {
            return Err(format!(
                "registry port `{port}` is not a port number from 1 to 65535"
            ));
        }
    }
    Ok(())
}

fn check_path_component(component: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("repository path component `{component}` {why}"));
    if component.is_empty() {
        return bad("is empty (a `//` or a trailing `/`)");
    }
    if has_upper(component) {
        return bad("has upper-case letters; repository names are lowercase");
    }
    // Runs of alphanumerics joined by one separator: `.`, `_`, `__` or one or more `-`.
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut previous_sep: Option<String> = Some(String::new());
    let mut chars = component.chars().peekable();
    while let Some(c) = chars.next() {
        if alnum(c) {
            previous_sep = None;
            continue;
        }
        if !matches!(c, '.' | '_' | '-') {
            return bad(&format!("contains `{c}`"));
        }
        if previous_sep.is_some() {
            return bad("must start with a letter or digit and not repeat separators");
        }
        let mut sep = String::from(c);
        while let Some(&n) = chars.peek()
            && !alnum(n)
        {
            sep.push(n);
            chars.next();
        }
        let ok = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|c| c == '-');
        if !ok {
            return bad(&format!("has the separator `{sep}`"));
        }
        previous_sep = Some(sep);
    }
    if previous_sep.is_some() {
        return bad("must end with a letter or digit");
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let valid = tag.len() <= TAG_MAX
        && tag.chars().next().is_some_and(word)
        && tag.chars().all(|c| word(c) || c == '.' || c == '-');
    if valid {
        Ok(())
    } else if tag.is_empty() {
        Err("the tag after `:` is empty".into())
    } else {
        Err(format!(
            "tag `{tag}` is not valid: up to {TAG_MAX} letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
        ))
    }
}

fn check_digest(digest: &str) -> Result<(), String> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(format!(
            "digest `{digest}` needs the form `ALGORITHM:HEX`, e.g. `sha256:...`"
        ));
    };
    let algorithm_ok = algorithm.split(['+', '.', '-', '_']).all(|part| {
        part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && part.chars().all(|c| c.is_ascii_alphanumeric())
    });
    if !algorithm_ok {
        return Err(format!("digest algorithm `{algorithm}` is not valid"));
    }
    let hex_ok = |len_ok: bool, lower: bool| {
        len_ok
            && hex.chars().all(|c| {
                c.is_ascii_digit() || (c.is_ascii_hexdigit() && (!lower || c.is_ascii_lowercase()))
            })
    };
    match algorithm {
        "sha256" if !hex_ok(hex.len() == 64, true) => Err(format!(
            "digest `{digest}`: a sha256 digest is exactly 64 lower-case hex digits"
        )),
        "sha512" if !hex_ok(hex.len() == 128, true) => Err(format!(
            "digest `{digest}`: a sha512 digest is exactly 128 lower-case hex digits"
        )),
        _ if !hex_ok(hex.len() >= 32, false) => Err(format!(
            "digest `{digest}`: the hex part needs at least 32 hex digits"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn the_grammar_accepts_what_registries_serve() {
        for ok in [
            "bb",
            "localhost/bb:v1",
            "127.0.0.1:5000/bb:v1",
            "docker.io/library/nginx:1.27",
            "registry.example.com/team/app-x__y.z:1.4-rc_1",
            "[::1]:5000/bb",
            "quay.io/a/b/c/d",
            &format!("bb@{SHA}"),
            &format!("localhost:5000/bb:v1@{SHA}"),
            "Registry.Example.com/app",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn the_grammar_rejects_what_podman_refuses() {
        for bad in [
            "",
            "bb:v1:v2",
            "bb:",
            "bb:.x",
            "bb@sha256:abc",
            &format!("bb@{}", SHA.to_uppercase().replace("SHA", "sha")),
            "localhost//bb",
            "localhost/bb/",
            "localhost:0/bb",
            "localhost:65536/bb",
            "localhost:/bb",
            "docker://bb",
            "oci-archive:/etc/passwd",
            "Bb",
            "-bb",
            "b..b",
            "b_-b",
            "bb@",
            "a b",
        ] {
            assert!(check(bad).is_err(), "{bad} was accepted");
        }
    }
}
