//! The reader's loop for Kafka: poll, cut messages into chunks, follow
//! rebalances, and pause the partitions while the pipeline is full.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use rdkafka::consumer::Consumer;
use rdkafka::message::{BorrowedMessage, Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};

use super::context::{Flushed, Rebalanced};
use super::{KafkaConsumer, KafkaSourceSettings, StartFrom};
use crate::data::position;
use crate::source::{RawChunk, SourceStats, StreamChange};

/// How long `poll` waits for a message before the reader hands on what it has.
const POLL_WAIT: Duration = Duration::from_millis(50);
/// With idle partitions possible, how often an empty chunk goes down so the
/// watermark can move without new events.
const HEARTBEAT: Duration = Duration::from_millis(200);
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the pipeline may stay full before the partitions are paused.
/// The prefetch queue is bounded either way; pausing keeps the consumer
/// polling, so it stays in its group through a long stall.
const PAUSE_AFTER: Duration = Duration::from_millis(500);

struct Reader<'a> {
    consumer: &'a KafkaConsumer,
    settings: &'a KafkaSourceSettings,
    chunk: RawChunk,
    /// Bounded mode: the offset each unfinished partition stops before.
    ends: HashMap<u32, i64>,
    assigned: HashSet<u32>,
    /// Messages polled while the partitions were paused, handled first after.
    held: VecDeque<OwnedMessage>,
    /// Records read and pauses, shared with the metrics and the summary.
    stats: &'a SourceStats,
}

/// Reads the subscribed topics into chunks until `stop` or, for a bounded
/// source, the end of every assigned partition (then sets `complete`).
pub fn read_kafka(
    consumer: &KafkaConsumer,
    settings: &KafkaSourceSettings,
    chunk_records: usize,
    out: Sender<RawChunk>,
    stop: &AtomicBool,
    complete: &AtomicBool,
    stats: &SourceStats,
) -> Result<(), String> {
    // Chunks go out through the consumer's context, where a revoke inside
    // `poll` can put its handover marker behind them.
    consumer.context().connect(out);
    let _disconnect = Disconnect(consumer);
    let mut reader = Reader {
        consumer,
        settings,
        chunk: RawChunk::new(0, chunk_records),
        ends: HashMap::new(),
        assigned: HashSet::new(),
        held: VecDeque::new(),
        stats,
    };
    let mut last_sent = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        // A polled message is used where librdkafka keeps it; only one held
        // through a pause was copied out.
        let polled = match reader.held.pop_front() {
            Some(message) => Polled::Held(message),
            None => match consumer.poll(POLL_WAIT) {
                None => Polled::Nothing,
                Some(Ok(message)) => Polled::Fresh(message),
                Some(Err(e)) => {
                    // Transport errors and the like; librdkafka retries by
                    // itself. Refused certificates, credentials or ACLs
                    // end the run below.
                    if !consumer.context().fatal.record(&e, "") {
                        tracing::warn!(error = %e, "Kafka consumer");
                    }
                    Polled::Nothing
                }
            },
        };
        if let Some(fatal) = consumer.context().fatal.get() {
            return Err(fatal);
        }
        reader.follow_rebalances()?;
        let idle = match &polled {
            Polled::Held(message) => reader.add(message).map(|()| false)?,
            Polled::Fresh(message) => reader.add(message).map(|()| false)?,
            Polled::Nothing => true,
        };
        if settings.bounded && !reader.assigned.is_empty() && reader.ends.is_empty() {
            complete.store(true, Ordering::SeqCst);
            break;
        }
        let full = reader.chunk.records.len() >= chunk_records;
        let heartbeat = settings.idle_timeout.is_some() && last_sent.elapsed() >= HEARTBEAT;
        if full || (idle && !reader.chunk.is_empty()) || heartbeat {
            if !reader.send() {
                return Ok(());
            }
            last_sent = Instant::now();
        }
    }
    if !reader.chunk.is_empty() {
        reader.send();
    }
    Ok(())
}

/// Hangs up the pipeline's end of the line however the reader returns.
struct Disconnect<'a>(&'a KafkaConsumer);

impl Drop for Disconnect<'_> {
    fn drop(&mut self) {
        self.0.context().disconnect();
    }
}

enum Polled<'c> {
    Held(OwnedMessage),
    Fresh(BorrowedMessage<'c>),
    Nothing,
}

impl Reader<'_> {
    fn stream(&self, topic: &str, partition: i32) -> Result<u32, String> {
        self.consumer
            .context()
            .stream(topic, partition)
            .ok_or_else(|| {
                format!("{topic} [{partition}]: weir reads at most 256 topics of 65,536 partitions")
            })
    }

    fn add(&mut self, message: &impl Message) -> Result<(), String> {
        let stream = self.stream(message.topic(), message.partition())?;
        if !self.assigned.contains(&stream) {
            // Polled before its partition was handed over: the next owner
            // reads it from the committed offset.
            return Ok(());
        }
        let offset = message.offset();
        let seq = u64::try_from(offset + 1)
            .ok()
            .filter(|&s| s <= position::MAX_SEQ)
            .ok_or_else(|| {
                format!(
                    "{} [{}] offset {offset}: beyond the offsets weir can track",
                    message.topic(),
                    message.partition()
                )
            })?;
        let key = message.key().map(|k| self.chunk.push_key(k));
        let record = self.chunk.push(
            position::pack(stream, seq),
            message.payload().unwrap_or_default(),
        );
        record.key = key;
        record.timestamp = message.timestamp().to_millis();
        self.stats.records.fetch_add(1, Ordering::Relaxed);
        if let Some(&end) = self.ends.get(&stream) {
            if offset + 1 >= end {
                self.finish(stream);
            }
        }
        Ok(())
    }

    fn finish(&mut self, stream: u32) {
        self.ends.remove(&stream);
        self.chunk.changes.push(StreamChange::Finished(stream));
    }

    fn follow_rebalances(&mut self) -> Result<(), String> {
        for rebalance in self.consumer.context().take_rebalances() {
            let marked = matches!(rebalance, Rebalanced::HandedOver(_));
            match rebalance {
                Rebalanced::Assigned(partitions) => {
                    for (topic, partition) in partitions {
                        let stream = self.stream(&topic, partition)?;
                        self.assigned.insert(stream);
                        self.chunk.changes.push(StreamChange::Assigned(stream));
                        if self.settings.bounded {
                            match self.end_offset(&topic, partition) {
                                Some(end) => {
                                    self.ends.insert(stream, end);
                                }
                                None => self.finish(stream),
                            }
                        }
                    }
                }
                Rebalanced::HandedOver(partitions) | Rebalanced::Revoked(partitions) => {
                    let mut gone = HashSet::new();
                    for (topic, partition) in partitions {
                        let stream = self.stream(&topic, partition)?;
                        self.assigned.remove(&stream);
                        self.ends.remove(&stream);
                        gone.insert(stream);
                        if !marked {
                            self.chunk.changes.push(StreamChange::Revoked(stream));
                        }
                    }
                    // Read but not sent: past the committed offset, the next
                    // owner reads them (and `add` drops any held back).
                    self.chunk.drop_streams(&gone);
                }
            }
        }
        Ok(())
    }

    /// Bounded mode: the partition's end offset now, or `None` if reading
    /// would start at or past it.
    fn end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        let (low, high) = match self
            .consumer
            .fetch_watermarks(topic, partition, METADATA_TIMEOUT)
        {
            Ok(bounds) => bounds,
            Err(e) => {
                tracing::warn!(topic, partition, error = %e, "cannot read the partition's end; reading it as unbounded");
                return Some(i64::MAX);
            }
        };
        let resumed = self
            .settings
            .resume_from
            .iter()
            .find(|(t, p, _)| t == topic && *p == partition)
            .map(|&(_, _, offset)| offset);
        let start = match self.settings.start_from {
            // A checkpoint says where this partition continues.
            _ if resumed.is_some() => resumed.unwrap_or(low),
            StartFrom::Latest => high,
            StartFrom::Earliest => low,
            StartFrom::Committed => {
                let mut list = TopicPartitionList::new();
                list.add_partition(topic, partition);
                let committed = self
                    .consumer
                    .committed_offsets(list, METADATA_TIMEOUT)
                    .ok()
                    .and_then(|c| match c.find_partition(topic, partition)?.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    });
                committed.unwrap_or(low)
            }
        };
        (start < high).then_some(high)
    }

    /// Hands the chunk on. While the pipeline stays full the assigned
    /// partitions are paused, and polled only to stay in the group and follow
    /// rebalances: backpressure reaches the broker instead of piling up here.
    fn send(&mut self) -> bool {
        let next = self.chunk.next();
        let line = self.consumer.context();
        line.enqueue(std::mem::replace(&mut self.chunk, next));
        // A short wait first: pausing makes librdkafka drop what it prefetched
        // and fetch it again on resume, which costs far more than a hiccup
        // (measured: runs with two pauses read at 40% of the speed).
        match line.flush(PAUSE_AFTER) {
            Flushed::All => return true,
            Flushed::Gone => return false,
            Flushed::Full => {}
        }
        self.stats.pauses.fetch_add(1, Ordering::Relaxed);
        tracing::debug!("pipeline full: pausing the Kafka partitions");
        let paused = self.consumer.assignment().ok();
        if let Some(paused) = &paused {
            if let Err(e) = self.consumer.pause(paused) {
                tracing::warn!(error = %e, "cannot pause the Kafka partitions");
            }
        }
        let sent = loop {
            match line.flush(POLL_WAIT) {
                Flushed::All => break true,
                Flushed::Gone => break false,
                Flushed::Full => {}
            }
            // A revoke inside this poll sends what is queued itself, then
            // its marker.
            if let Some(Ok(message)) = self.consumer.poll(Duration::ZERO) {
                self.held.push_back(message.detach());
            }
        };
        if let Some(paused) = paused {
            let _ = self.consumer.resume(&paused);
        }
        sent
    }
}
