//! Timestamps: epoch milliseconds inside weir; text at the edges.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

/// Parses a timestamp written as `YYYY-MM-DD HH:MM:SS[.fff]` (taken as UTC),
/// the same with a `T` separator, or RFC 3339 with an offset.
pub fn parse(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|t| t.and_utc().timestamp_millis())
}

/// The host clock in epoch millis.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis().min(i64::MAX as u128) as i64)
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-01-15T08:00:10.000Z`.
pub fn format(millis: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(millis) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => format!("{millis}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_form() {
        let expected = 1_768_464_010_250;
        assert_eq!(parse("2026-01-15 08:00:10.250"), Some(expected));
        assert_eq!(parse("2026-01-15T08:00:10.250"), Some(expected));
        assert_eq!(parse("2026-01-15T08:00:10.250Z"), Some(expected));
        assert_eq!(parse("2026-01-15T09:00:10.250+01:00"), Some(expected));
        assert_eq!(parse("2026-01-15 08:00:10"), Some(expected - 250));
    }

    #[test]
    fn refuses_garbage() {
        assert_eq!(parse("yesterday"), None);
        assert_eq!(parse("2026-13-01 00:00:00"), None);
    }

    #[test]
    fn formats_utc_with_millis() {
        assert_eq!(format(1_768_464_010_250), "2026-01-15T08:00:10.250Z");
        assert_eq!(format(0), "1970-01-01T00:00:00.000Z");
    }
}
