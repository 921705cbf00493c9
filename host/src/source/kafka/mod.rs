//! Kafka topics as a source, read through a consumer group with rdkafka.
//!
//! Offsets are never committed by librdkafka on its own: the pipeline commits
//! an offset once everything read before it has reached the sink and been
//! acknowledged, and no open window still holds it (at-least-once).

mod context;
mod read;
mod topics;

use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;

use crate::data::Origin;
use crate::source::SourceStats;
pub use context::ReaderContext;
use read::read_kafka;
pub use topics::create_topics;

/// Where a partition starts the first time this process is given it; after
/// that, and after a rebalance, the group's committed offset decides.
#[derive(Debug, Default, Clone, Copy, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StartFrom {
    /// The group's committed offset; the earliest one if none was committed.
    #[default]
    Committed,
    Earliest,
    Latest,
}

#[derive(Debug, Clone)]
pub struct KafkaSourceSettings {
    pub bootstrap_servers: String,
    pub topics: Vec<String>,
    pub group_id: String,
    pub start_from: StartFrom,
    pub bounded: bool,
    pub idle_timeout: Option<Duration>,
    pub commit_interval: Duration,
    /// Schema fields filled from the message key and timestamp when the value lacks them.
    pub key_field: Option<usize>,
    pub timestamp_field: Option<usize>,
    pub properties: Vec<(String, String)>,
    /// Where partitions resume from a checkpoint, which overrides
    /// `start_from` and the group's committed offsets the first time this
    /// process is given them.
    pub resume_from: Vec<(String, i32, i64)>,
    /// Message values are Avro datums read by this (else JSON).
    pub avro: Option<Arc<crate::format::avro_read::AvroRecordReader>>,
}

impl KafkaSourceSettings {
    pub fn origin(&self) -> Origin {
        Origin::Kafka(self.topics.clone())
    }
}

pub type KafkaConsumer = BaseConsumer<ReaderContext>;

/// Creates the consumer and subscribes it; no broker is contacted yet.
pub fn connect(
    settings: &KafkaSourceSettings,
    stats: Arc<SourceStats>,
) -> Result<Arc<KafkaConsumer>, String> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("group.id", &settings.group_id)
        .set("client.id", "weir")
        // The pipeline commits what it has finished, nothing else.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // Bounded prefetch: with the pipeline's bounded queues and pausing,
        // this keeps memory bounded when the sink is slow.
        .set("queued.max.messages.kbytes", "16384")
        // Consumer lag for the metrics.
        .set("statistics.interval.ms", "5000");
    for (key, value) in &settings.properties {
        config.set(key, value);
    }
    let context = ReaderContext::new(settings, stats);
    let consumer: KafkaConsumer = config
        .create_with_context(context)
        .map_err(|e| format!("cannot create the Kafka consumer: {e}"))?;
    let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|e| format!("cannot subscribe to {}: {e}", topics.join(", ")))?;
    Ok(Arc::new(consumer))
}

/// Commits offsets for the pipeline, from the sink's thread, once results up to
/// them are acknowledged.
pub struct OffsetCommitter {
    consumer: Arc<KafkaConsumer>,
    origin: Origin,
}

impl OffsetCommitter {
    pub fn new(consumer: Arc<KafkaConsumer>, origin: Origin) -> Self {
        Self { consumer, origin }
    }

    /// Commits `offsets` (stream, next offset to read) for the partitions
    /// still assigned here; a revoked partition is its new owner's to commit.
    pub fn commit(&self, offsets: &[(u32, u64)]) -> Result<(), String> {
        let assignment = self
            .consumer
            .assignment()
            .map_err(|e| format!("reading the assignment: {e}"))?;
        let mut list = TopicPartitionList::new();
        for &(stream, offset) in offsets {
            let Some((topic, partition)) = self.origin.topic_partition(stream) else {
                continue;
            };
            if assignment.find_partition(topic, partition).is_none() {
                continue;
            }
            list.add_partition_offset(topic, partition, Offset::Offset(offset as i64))
                .map_err(|e| format!("{topic} [{partition}]: {e}"))?;
        }
        drop(assignment);
        if list.count() == 0 {
            return Ok(());
        }
        self.consumer
            .commit(&list, CommitMode::Sync)
            .map_err(|e| format!("committing offsets: {e}"))
    }
}

/// Kafka topics as a [`crate::source::Source`]: a connected consumer.
pub struct KafkaInput {
    pub consumer: Arc<KafkaConsumer>,
    pub settings: KafkaSourceSettings,
}

impl crate::source::Source for KafkaInput {
    fn run(
        self: Box<Self>,
        cx: crate::source::SourceContext<'_>,
    ) -> Result<(), crate::source::SourceError> {
        read_kafka(
            &self.consumer,
            &self.settings,
            cx.chunk_records,
            cx.out,
            cx.stop,
            cx.complete,
            cx.stats,
        )
        .map_err(crate::source::SourceError::Kafka)
    }

    fn message_fields(&self) -> crate::source::MessageFields {
        crate::source::MessageFields {
            key: self.settings.key_field,
            timestamp: self.settings.timestamp_field,
        }
    }

    fn idle_timeout(&self) -> Option<Duration> {
        self.settings.idle_timeout
    }

    fn offset_committer(
        &self,
        origin: &crate::data::Origin,
    ) -> Option<(OffsetCommitter, Duration)> {
        Some((
            OffsetCommitter::new(self.consumer.clone(), origin.clone()),
            self.settings.commit_interval,
        ))
    }
}
