/// Refuses event times implausibly far in the future.
///
/// The watermark follows the largest event time seen, so a single reading
/// stamped in the year 2200 would move it two centuries ahead and make every
/// later event late. Flink and Kafka Streams trust such an event; weir
/// dead-letters it instead, as Kafka brokers do with
/// `log.message.timestamp.after.max.ms`: an event time more than the limit
/// ahead of the host's clock never reaches the watermark. Data that resumes
/// after a gap, and replays of old data, are unaffected; the cost is that the
/// verdict on a future-dated event depends on when it is processed.
#[derive(Debug, Clone, Copy)]
pub struct FutureLimit {
    max_future_ms: i64,
}

impl FutureLimit {
    /// One day.
    pub const DEFAULT_MS: i64 = 24 * 60 * 60 * 1000;

    pub fn new(max_future_ms: i64) -> Self {
        Self { max_future_ms }
    }

    /// The latest acceptable event time, given the host clock `now_ms`.
    pub fn latest(&self, now_ms: i64) -> i64 {
        now_ms.saturating_add(self.max_future_ms)
    }

    pub fn max_future_ms(&self) -> i64 {
        self.max_future_ms
    }
}
