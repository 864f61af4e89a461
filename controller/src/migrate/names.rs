//! Names from other tools as podctl object names (lowercase DNS labels): Compose allows
//! `db_data` and `Web.1`, podctl names become unit names and DNS labels.

use podctl_api::Name;
use podctl_api::name::MAX_NAME_LEN;

/// `name` as a podctl name: lowercase, every other character than `a-z0-9-` a `-`, no `-`
/// at either end, at most 63 characters. `None` when nothing is left.
pub fn to_name(name: &str) -> Option<Name> {
    let mut out: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    out.truncate(MAX_NAME_LEN);
    out.trim_matches('-').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_name_should_make_dns_labels() {
        assert_eq!(
            to_name("db_data").map(|n| n.to_string()),
            Some("db-data".into())
        );
        assert_eq!(
            to_name("Web.1").map(|n| n.to_string()),
            Some("web-1".into())
        );
        assert_eq!(to_name("_x_").map(|n| n.to_string()), Some("x".into()));
        assert_eq!(to_name("___"), None);
        let long = "a".repeat(80);
        assert_eq!(to_name(&long).map(|n| n.as_str().len()), Some(63));
    }
}
