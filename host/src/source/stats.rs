//! A source's live counters, shared with `/metrics` while the run goes on.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct SourceStats {
    /// Records read, valid or not.
    pub records: AtomicU64,
    /// Times the Kafka partitions were paused because the pipeline stayed full.
    pub pauses: AtomicU64,
    /// Kafka offset commits that succeeded.
    pub offset_commits: AtomicU64,
    /// Kafka consumer lag by (topic, partition), from librdkafka's statistics
    /// (every 5 s): messages behind the partition's end.
    pub lag: Mutex<BTreeMap<(String, i32), i64>>,
}
