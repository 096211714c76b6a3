//! Time values: CloudTrail's `eventTime` in its real-world spellings, and the times users
//! type on the command line (`2024-01-15`, RFC 3339, `7d`, `24h`, `30m`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::{Error, Result};

/// Microseconds since the Unix epoch, UTC.
pub type Micros = i64;

/// Parse an `eventTime`: RFC 3339 (`Z` or an offset), a space instead of `T`, optional
/// fractional seconds, no zone (taken as UTC).
pub fn parse_event_time(s: &str) -> Option<Micros> {
    if let Some(m) = parse_canonical(s) {
        return Some(m);
    }
    let t = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.with_timezone(&Utc).timestamp_micros());
    }
    let with_t = t.replacen(' ', "T", 1);
    if let Ok(dt) = DateTime::parse_from_rfc3339(&with_t) {
        return Some(dt.with_timezone(&Utc).timestamp_micros());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(ndt) = NaiveDateTime::parse_from_str(&with_t, fmt) {
            return Some(Utc.from_utc_datetime(&ndt).timestamp_micros());
        }
    }
    // "+0000" style offsets
    if let Ok(dt) = DateTime::parse_from_str(&with_t, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(dt.with_timezone(&Utc).timestamp_micros());
    }
    None
}

/// Fast path for the spelling CloudTrail uses: `2024-01-15T10:20:30Z`.
fn parse_canonical(s: &str) -> Option<Micros> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let mut v = 0u32;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        Some(v)
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let dt = date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
    Some(dt.and_utc().timestamp_micros())
}

/// Whether `s` is the canonical spelling of `micros` (without formatting one, for the common
/// whole-second case).
pub fn is_canonical(s: &str, micros: Micros) -> bool {
    match parse_canonical(s) {
        Some(m) => m == micros,
        None => micros.rem_euclid(1_000_000) != 0 && s == format_event_time(micros),
    }
}

/// The canonical spelling of an event time, as CloudTrail writes it.
pub fn format_event_time(micros: Micros) -> String {
    let dt = DateTime::from_timestamp_micros(micros).unwrap_or_default();
    let frac = micros.rem_euclid(1_000_000);
    if frac == 0 {
        dt.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else if frac % 1000 == 0 {
        dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    } else {
        dt.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}

/// The UTC day of a time, as `YYYY-MM-DD`.
pub fn utc_date(micros: Micros) -> NaiveDate {
    DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .date_naive()
}

/// An event time (see [`parse_event_time`]) or a bare date `2024-01-15` (midnight UTC).
pub fn parse_time_or_date(s: &str) -> Option<Micros> {
    parse_event_time(s).or_else(|| {
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .ok()
            .map(|d| {
                d.and_hms_opt(0, 0, 0)
                    .expect("midnight")
                    .and_utc()
                    .timestamp_micros()
            })
    })
}

/// Parse a time a user typed: `2024-01-15` (midnight UTC), RFC 3339, a date-time without
/// zone (UTC), or a duration before `now` (`7d`, `24h`, `30m`, `90s`, `2w`).
pub fn parse_user_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let t = s.trim();
    if let Some(d) = parse_relative(t) {
        return Ok(now - d);
    }
    parse_time_or_date(t)
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(|| Error::InvalidTime(s.to_owned()))
}

fn parse_relative(t: &str) -> Option<chrono::Duration> {
    let unit = t.chars().last()?;
    let n: i64 = t[..t.len() - unit.len_utf8()].parse().ok()?;
    match unit {
        's' => Some(chrono::Duration::seconds(n)),
        'm' => Some(chrono::Duration::minutes(n)),
        'h' => Some(chrono::Duration::hours(n)),
        'd' => Some(chrono::Duration::days(n)),
        'w' => Some(chrono::Duration::weeks(n)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(s: &str) -> Micros {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros()
    }

    #[test]
    fn event_time_spellings() {
        let t = us("2019-07-05T10:20:30Z");
        assert_eq!(parse_event_time("2019-07-05T10:20:30Z"), Some(t));
        assert_eq!(parse_event_time("2019-07-05 10:20:30"), Some(t));
        assert_eq!(parse_event_time("2019-07-05 10:20:30Z"), Some(t));
        assert_eq!(parse_event_time("2019-07-05T12:20:30+02:00"), Some(t));
        assert_eq!(parse_event_time("2019-07-05T10:20:30"), Some(t));
        assert_eq!(
            parse_event_time("2019-07-05T10:20:30.250Z"),
            Some(t + 250_000)
        );
        assert_eq!(parse_event_time("ThisIsAWrongEventTime"), None);
        assert_eq!(parse_event_time("2019-13-05T10:20:30Z"), None);
    }

    #[test]
    fn canonical_spelling_is_recognised() {
        for s in [
            "2019-07-05T10:20:30Z",
            "2019-07-05T10:20:30.250Z",
            "2019-07-05T10:20:30.000001Z",
        ] {
            assert!(is_canonical(s, parse_event_time(s).unwrap()), "{s}");
        }
        let t = parse_event_time("2019-07-05T10:20:30Z").unwrap();
        assert!(!is_canonical("2019-07-05 10:20:30", t));
        assert!(!is_canonical("2019-07-05T10:20:30.000Z", t));
        assert!(!is_canonical("2019-07-05T10:20:31Z", t));
    }

    #[test]
    fn canonical_format_round_trips() {
        for s in [
            "2019-07-05T10:20:30Z",
            "2019-07-05T10:20:30.250Z",
            "2019-07-05T10:20:30.000001Z",
        ] {
            assert_eq!(format_event_time(parse_event_time(s).unwrap()), s);
        }
    }

    #[test]
    fn user_times() {
        let now = DateTime::parse_from_rfc3339("2024-01-15T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_user_time("2024-01-10", now).unwrap().to_rfc3339(),
            "2024-01-10T00:00:00+00:00"
        );
        assert_eq!(
            parse_user_time("7d", now).unwrap().to_rfc3339(),
            "2024-01-08T12:00:00+00:00"
        );
        assert_eq!(
            parse_user_time("24h", now).unwrap().to_rfc3339(),
            "2024-01-14T12:00:00+00:00"
        );
        assert_eq!(
            parse_user_time("30m", now).unwrap().to_rfc3339(),
            "2024-01-15T11:30:00+00:00"
        );
        assert_eq!(
            parse_user_time("2024-01-10T05:00:00+01:00", now)
                .unwrap()
                .to_rfc3339(),
            "2024-01-10T04:00:00+00:00"
        );
        assert!(parse_user_time("yesterday", now).is_err());
    }
}
