/// Watermarks for input whose disorder is bounded: the watermark trails the
/// largest event time seen by the bound, minus one millisecond, as Flink's
/// `forBoundedOutOfOrderness` does — an event exactly `bound` behind the newest
/// one is still on time.
#[derive(Debug, Clone)]
pub struct BoundedOutOfOrderness {
    bound_ms: i64,
    max_event_time: Option<i64>,
}

impl BoundedOutOfOrderness {
    pub fn new(bound_ms: i64) -> Self {
        Self {
            bound_ms,
            max_event_time: None,
        }
    }

    /// Records an event and returns the watermark right after it.
    pub fn observe(&mut self, event_time: i64) -> i64 {
        let max = self
            .max_event_time
            .map_or(event_time, |m| m.max(event_time));
        self.max_event_time = Some(max);
        self.current()
    }

    /// The largest event time seen, for checkpoints.
    pub fn max_event_time(&self) -> Option<i64> {
        self.max_event_time
    }

    /// Continues from a checkpointed [`max_event_time`](Self::max_event_time).
    pub fn resume(&mut self, max_event_time: Option<i64>) {
        self.max_event_time = max_event_time;
    }

    /// No event at or before this time is expected any more.
    pub fn current(&self) -> i64 {
        match self.max_event_time {
            Some(max) => max.saturating_sub(self.bound_ms).saturating_sub(1),
            None => i64::MIN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trails_the_maximum_by_the_bound() {
        let mut w = BoundedOutOfOrderness::new(5_000);
        assert_eq!(w.current(), i64::MIN);
        assert_eq!(w.observe(10_000), 4_999);
        assert_eq!(
            w.observe(8_000),
            4_999,
            "an older event never moves it back"
        );
        assert_eq!(w.observe(12_000), 6_999);
    }
}
