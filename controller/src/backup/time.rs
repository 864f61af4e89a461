//! restic's snapshot times (RFC 3339, with an offset) as `SystemTime`, for the age column:
//! a few lines instead of a date crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses `2026-12-01T10:28:55.604579193Z` or `...+01:00`; `None` if it is not that shape.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = s.get(19..)?;
    let zone_at = rest.find(['Z', '+', '-'])?;
    let offset = match &rest[zone_at..] {
        "Z" => 0,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let h = z.get(1..3)?.parse::<i64>().ok()?;
            let m = z.get(4..6)?.parse::<i64>().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> Option<u64> {
        parse_rfc3339(s).map(|t| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }

    #[test]
    fn rfc3339_should_parse_utc_and_offsets_to_the_same_instant() {
        assert_eq!(secs("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(secs("2026-12-01T10:28:55.604579193Z"), Some(1_796_120_935));
        assert_eq!(secs("2026-12-01T11:28:55.6+01:00"), Some(1_796_120_935));
        assert_eq!(secs("not a time"), None);
    }
}
