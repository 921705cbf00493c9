//! A source's live counters, shared with `/metrics` while the run goes on.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64};
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
    /// Decoder threads, and the time they spent decoding (all of them).
    pub decoders: AtomicU64,
    pub decode_busy_ns: AtomicU64,
    /// A file source: bytes read from the start of the file.
    pub bytes_read: AtomicU64,
    /// The watermark handed on with the last batch, epoch ms; `i64::MIN` before any.
    pub watermark_ms: AtomicI64,
    /// Kafka: each (topic, partition)'s own watermark (`i64::MIN` before its
    /// first event) and whether it is idle, after the last batch.
    pub partition_watermarks: Mutex<BTreeMap<(String, i32), (i64, bool)>>,
    /// How full each queue between the pipeline's threads was after the last
    /// batch, in thousandths: [`QUEUES`] in order. A full queue is in front of
    /// the bottleneck: decoding, the operators, or the sink.
    pub queue_fill_permille: [AtomicU64; 3],
}

/// The queues of [`SourceStats::queue_fill_permille`]: raw records waiting
/// for a decoder, decoded batches waiting for the operators, results waiting
/// for the sink.
pub const QUEUES: [&str; 3] = ["decode", "operators", "sink"];
