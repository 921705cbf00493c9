//! String and time helpers of the expression functions.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// A `LIKE` pattern: `%` any run of characters, `_` one character.
#[derive(Debug, Clone)]
pub struct LikePattern(Vec<LikeToken>);

#[derive(Debug, Clone, PartialEq)]
enum LikeToken {
    Any,
    One,
    Char(char),
}

impl LikePattern {
    pub fn new(pattern: &str) -> Self {
        Self(
            pattern
                .chars()
                .map(|c| match c {
                    '%' => LikeToken::Any,
                    '_' => LikeToken::One,
                    c => LikeToken::Char(c),
                })
                .collect(),
        )
    }

    /// Greedy matching with backtracking to the last `%` only: linear in
    /// practice, never exponential, whatever the pattern.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let pattern = &self.0;
        let (mut t, mut p) = (0, 0);
        let mut resume: Option<(usize, usize)> = None;
        while t < text.len() {
            match pattern.get(p) {
                Some(LikeToken::Any) => {
                    resume = Some((p, t));
                    p += 1;
                }
                Some(LikeToken::One) => {
                    t += 1;
                    p += 1;
                }
                Some(LikeToken::Char(c)) if *c == text[t] => {
                    t += 1;
                    p += 1;
                }
                _ => match resume {
                    Some((star, at)) => {
                        p = star + 1;
                        t = at + 1;
                        resume = Some((star, at + 1));
                    }
                    None => return false,
                },
            }
        }
        pattern[p..].iter().all(|token| *token == LikeToken::Any)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimSide {
    Both,
    Leading,
    Trailing,
}

impl TrimSide {
    pub fn trim(self, text: &str) -> &str {
        match self {
            TrimSide::Both => text.trim_matches(' '),
            TrimSide::Leading => text.trim_start_matches(' '),
            TrimSide::Trailing => text.trim_end_matches(' '),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePart {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Millisecond,
    /// 1 (Sunday) to 7, as Flink counts.
    DayOfWeek,
    DayOfYear,
    /// Seconds since 1970-01-01 UTC.
    Epoch,
}

impl TimePart {
    /// The part of a timestamp in epoch millis, in UTC.
    pub fn of(self, millis: i64) -> Option<i64> {
        let t: DateTime<Utc> = DateTime::from_timestamp_millis(millis)?;
        Some(match self {
            TimePart::Year => t.year() as i64,
            TimePart::Month => t.month() as i64,
            TimePart::Day => t.day() as i64,
            TimePart::Hour => t.hour() as i64,
            TimePart::Minute => t.minute() as i64,
            TimePart::Second => t.second() as i64,
            TimePart::Millisecond => millis.rem_euclid(1_000),
            TimePart::DayOfWeek => t.weekday().number_from_sunday() as i64,
            TimePart::DayOfYear => t.ordinal() as i64,
            TimePart::Epoch => millis.div_euclid(1_000),
        })
    }
}

/// A Java `SimpleDateFormat` pattern (what Flink's `DATE_FORMAT` takes) as a
/// chrono format: the common letters, refusing the rest by name.
pub fn java_pattern(pattern: &str) -> Result<String, String> {
    let mut out = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&d| d == c).count();
        if c == '\'' {
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == '\'')
                .ok_or("an unclosed quote in the DATE_FORMAT pattern")?;
            let quoted: String = chars[i + 1..i + 1 + end].iter().collect();
            out.push_str(&quoted.replace('%', "%%"));
            i += end + 2;
            continue;
        }
        let spec = match (c, run) {
            ('y', 4) => "%Y",
            ('y', 2) => "%y",
            ('M', 2) => "%m",
            ('M', 1) => "%-m",
            ('d', 2) => "%d",
            ('d', 1) => "%-d",
            ('H', 2) => "%H",
            ('H', 1) => "%-H",
            ('m', 2) => "%M",
            ('s', 2) => "%S",
            ('S', 3) => "%3f",
            ('E', 3) => "%a",
            ('a', 1) => "%p",
            (c, _) if c.is_ascii_alphabetic() => {
                return Err(format!(
                    "`{}` in the DATE_FORMAT pattern is not supported; use yyyy, yy, MM, M, dd, d, HH, H, mm, ss, SSS, EEE or a",
                    c.to_string().repeat(run)
                ))
            }
            (c, _) => {
                let literal = c.to_string().repeat(run);
                out.push_str(&literal.replace('%', "%%"));
                i += run;
                continue;
            }
        };
        out.push_str(spec);
        i += run;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_matches_as_sql_does() {
        let cases = [
            ("a%", "abc", true),
            ("a%", "bac", false),
            ("%c", "abc", true),
            ("a_c", "abc", true),
            ("a_c", "abbc", false),
            ("%b%", "abc", true),
            ("%", "", true),
            ("_", "", false),
            ("a%b%c", "aXbYbZc", true),
            ("a%b%c", "aXcYb", false),
            ("é_", "éa", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                LikePattern::new(pattern).matches(text),
                expected,
                "{text} LIKE {pattern}"
            );
        }
    }

    #[test]
    fn java_patterns_become_chrono_formats() {
        assert_eq!(
            java_pattern("yyyy-MM-dd HH:mm:ss.SSS").unwrap(),
            "%Y-%m-%d %H:%M:%S.%3f"
        );
        assert_eq!(java_pattern("'at' HH").unwrap(), "at %H");
        assert!(java_pattern("QQ").unwrap_err().contains("`QQ`"));
    }

    #[test]
    fn time_parts_are_utc() {
        let t = crate::format::timestamp::parse("2023-12-31 23:59:58.890").unwrap();
        assert_eq!(TimePart::Year.of(t), Some(2023));
        assert_eq!(TimePart::Second.of(t), Some(58));
        assert_eq!(TimePart::Millisecond.of(t), Some(890));
        assert_eq!(TimePart::DayOfWeek.of(t), Some(1), "a Sunday");
        assert_eq!(TimePart::DayOfYear.of(t), Some(365));
    }
}
