//! Timestamps: epoch milliseconds inside weir; text at the edges.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

/// Parses a timestamp written as `YYYY-MM-DD HH:MM:SS[.fff]` (taken as UTC),
/// the same with a `T` separator, or RFC 3339 with an offset.
pub fn parse(text: &str) -> Option<i64> {
    fixed_layout(text.as_bytes()).or_else(|| parse_general(text))
}

/// Every form [`parse`] takes, through chrono: the reference the fast path
/// is checked against.
fn parse_general(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|t| t.and_utc().timestamp_millis())
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.f…][Z|±HH:MM]`, the layout nearly every event
/// time is written in, read at fixed positions: no allocation, no format
/// string. `None` for anything else (a leap second, an odd width, a missing
/// offset colon…), which the general parser then decides; a property test
/// checks that whatever this accepts, chrono reads the same.
fn fixed_layout(text: &[u8]) -> Option<i64> {
    let head: &[u8; 19] = text.get(..19)?.try_into().ok()?;
    let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2, b'T' | b' ', h1, h2, b':', n1, n2, b':', s1, s2] =
        *head
    else {
        return None;
    };
    // The fourteen digits as values; one check that each is a digit, then
    // plain arithmetic: no per-field closures or options on the hot path.
    let digits =
        [y1, y2, y3, y4, m1, m2, d1, d2, h1, h2, n1, n2, s1, s2].map(|b| b.wrapping_sub(b'0'));
    if digits.iter().any(|&d| d > 9) {
        return None;
    }
    let [y1, y2, y3, y4, m1, m2, d1, d2, h1, h2, n1, n2, s1, s2] = digits.map(i64::from);
    let year = y1 * 1000 + y2 * 100 + y3 * 10 + y4;
    let (month, day) = (m1 * 10 + m2, d1 * 10 + d2);
    let (hour, minute, second) = (h1 * 10 + h2, n1 * 10 + n2, s1 * 10 + s2);
    if year == 0 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let (millis, rest) = fraction(&text[19..])?;
    let offset_seconds = match rest {
        [] => 0,
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
            };
            let (h, m) = (two(*h1, *h2)?, two(*m1, *m2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let magnitude = h * 3_600 + m * 60;
            if *sign == b'-' {
                -magnitude
            } else {
                magnitude
            }
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second
        - offset_seconds;
    Some(seconds * 1_000 + millis)
}

/// The milliseconds of an optional `.f…` (1 to 9 digits; finer than
/// milliseconds dropped, as chrono's millis) and what follows it.
fn fraction(rest: &[u8]) -> Option<(i64, &[u8])> {
    let [b'.', fraction @ ..] = rest else {
        return Some((0, rest));
    };
    // The common case first: exactly three digits.
    if let [a @ b'0'..=b'9', b @ b'0'..=b'9', c @ b'0'..=b'9', after @ ..] = fraction {
        if !after.first().is_some_and(u8::is_ascii_digit) {
            let millis = i64::from(a - b'0') * 100 + i64::from(b - b'0') * 10 + i64::from(c - b'0');
            return Some((millis, after));
        }
    }
    let width = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
    if width == 0 || width > 9 {
        return None;
    }
    let millis = fraction[..width]
        .iter()
        .chain(std::iter::repeat(&b'0'))
        .take(3)
        .fold(0, |v, &b| v * 10 + i64::from(b - b'0'));
    Some((millis, &fraction[width..]))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
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

    /// Random instants in every layout the fast path takes: it reads what
    /// chrono reads. Then random edits of them: whatever the fast path still
    /// accepts, chrono reads the same (anything else is chrono's to decide).
    #[test]
    fn the_fast_path_reads_what_chrono_reads() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let alphabet = b"0123456789-:.TZ+ zt";
        let (mut fast, mut mutants_accepted) = (0, 0);
        for _ in 0..200_000 {
            let millis = rng.random_range(-62_135_596_800_000i64..253_402_300_799_999);
            let offset_minutes = rng.random_range(-(23 * 60 + 59)..=23 * 60 + 59);
            let offset = chrono::FixedOffset::east_opt(offset_minutes * 60).unwrap();
            let local = DateTime::from_timestamp_millis(millis)
                .unwrap()
                .with_timezone(&offset);
            let fraction = match rng.random_range(0..=9) {
                0 => String::new(),
                width => format!(".{:09}", local.timestamp_subsec_nanos())[..=width].to_string(),
            };
            let zone = match rng.random_range(0..3) {
                0 if offset_minutes == 0 => String::new(),
                1 if offset_minutes == 0 => "Z".into(),
                _ => local.format("%:z").to_string(),
            };
            let separator = if rng.random_bool(0.5) { 'T' } else { ' ' };
            let text = format!(
                "{}{separator}{}{fraction}{zone}",
                local.format("%Y-%m-%d"),
                local.format("%H:%M:%S")
            );
            let general = parse_general(&text);
            assert!(general.is_some(), "{text}");
            assert_eq!(fixed_layout(text.as_bytes()), general, "{text}");
            fast += 1;
            let mut mutant = text.into_bytes();
            let at = rng.random_range(0..mutant.len());
            match rng.random_range(0..3) {
                0 => mutant[at] = alphabet[rng.random_range(0..alphabet.len())],
                1 => drop(mutant.remove(at)),
                _ => mutant.insert(at, alphabet[rng.random_range(0..alphabet.len())]),
            }
            let mutant = String::from_utf8(mutant).unwrap();
            if let Some(read) = fixed_layout(mutant.as_bytes()) {
                mutants_accepted += 1;
                assert_eq!(Some(read), parse_general(&mutant), "{mutant}");
            }
        }
        assert_eq!(fast, 200_000);
        assert!(
            mutants_accepted > 1_000,
            "{mutants_accepted} mutants still parsed: a weak check"
        );
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
