//! The range of times weir accepts from outside.
//!
//! Event times come from input records, Kafka message timestamps and plugin
//! timers; durations from pipeline files. Window bounds, watermarks,
//! lateness and session gaps are sums and differences of these. Bounding
//! every input keeps each such sum far inside `i64`, so the arithmetic
//! cannot wrap — a wrapped window bound once made one record near
//! `i64::MIN` fire windows without end until the host ran out of memory.
//!
//! The event-time range is the one RFC 3339 can write: years 0001 to 9999,
//! in UTC. Durations go up to 100 years. The largest sum the host forms,
//! an event time plus a window size plus allowed lateness plus a slide, is
//! under 3.3 × 10^14, against `i64::MAX` ≈ 9.2 × 10^18.

use crate::format::timestamp;

/// 0001-01-01T00:00:00.000Z in epoch milliseconds.
pub const EVENT_TIME_MIN: i64 = -62_135_596_800_000;
/// 9999-12-31T23:59:59.999Z in epoch milliseconds.
pub const EVENT_TIME_MAX: i64 = 253_402_300_799_999;
/// The longest duration a pipeline file may give (window size, slide, gap,
/// lateness, disorder bound, future limit): 100 years of 365.25 days.
pub const DURATION_MAX_MS: i64 = 36_525 * 24 * 60 * 60 * 1000;

/// Whether `ms` is an event time weir accepts.
pub fn is_event_time(ms: i64) -> bool {
    (EVENT_TIME_MIN..=EVENT_TIME_MAX).contains(&ms)
}

/// Why `ms` is refused as an event time, or `None` when it is accepted.
pub fn refuse_event_time(ms: i64) -> Option<String> {
    (!is_event_time(ms)).then(|| {
        format!(
            "event time {ms} ms is outside the range weir accepts ({} to {})",
            timestamp::format(EVENT_TIME_MIN),
            timestamp::format(EVENT_TIME_MAX)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounds_are_the_years_rfc_3339_can_write() {
        assert_eq!(
            timestamp::format(EVENT_TIME_MIN),
            "0001-01-01T00:00:00.000Z"
        );
        assert_eq!(
            timestamp::format(EVENT_TIME_MAX),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(DURATION_MAX_MS, 3_155_760_000_000);
    }

    #[test]
    fn the_largest_sum_the_host_forms_fits_with_room_to_spare() {
        let sum = EVENT_TIME_MAX + 3 * DURATION_MAX_MS;
        assert!(sum < i64::MAX / 1000);
        let difference = EVENT_TIME_MIN - 3 * DURATION_MAX_MS;
        assert!(difference > i64::MIN / 1000);
    }

    #[test]
    fn refuses_outside_and_accepts_inside() {
        assert!(refuse_event_time(0).is_none());
        assert!(refuse_event_time(EVENT_TIME_MIN).is_none());
        assert!(refuse_event_time(EVENT_TIME_MAX).is_none());
        let reason = refuse_event_time(-9_223_372_036_854_775_000).unwrap();
        assert!(reason.contains("outside the range"), "{reason}");
        assert!(refuse_event_time(EVENT_TIME_MAX + 1).is_some());
        assert!(refuse_event_time(i64::MIN).is_some());
    }
}
