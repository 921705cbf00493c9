//! The consumer's callbacks: rebalances, which run inside `poll` on the
//! reader's thread, and librdkafka's logs and errors, sent to `tracing`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{SendTimeoutError, Sender};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};

use super::{KafkaSourceSettings, StartFrom};
use crate::data::position;
use crate::kafka_client::FatalError;
use crate::source::{HandoverAck, RawChunk, SourceStats, StreamChange};

/// How long a revoke waits for the pipeline to commit the offsets of what
/// it read from the partitions before letting them go; well inside the
/// group's rebalance timeout. Past it the next owner may repeat results.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(30);

/// A rebalance, as the reader picks it up after `poll`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebalanced {
    Assigned(Vec<(String, i32)>),
    /// Taken away after a handover marker went down the pipeline.
    HandedOver(Vec<(String, i32)>),
    /// Taken away without one (a failed rebalance).
    Revoked(Vec<(String, i32)>),
}

pub struct ReaderContext {
    start_from: StartFrom,
    resume_from: HashMap<(String, i32), i64>,
    /// Partitions given to this process before: `start_from` applies only the
    /// first time, so a rebalance never skips or rereads what was committed.
    seen: Mutex<HashSet<(String, i32)>>,
    rebalances: Mutex<Vec<Rebalanced>>,
    stats: Arc<SourceStats>,
    topics: Vec<String>,
    /// Where chunks go, in the order of their numbers: the reader's, and
    /// the handover markers a revoke sends from inside `poll`.
    line: Mutex<Option<Line>>,
    /// A certificate or credential failure, which ends the run.
    pub fatal: FatalError,
}

struct Line {
    out: Sender<RawChunk>,
    /// Numbered, not yet taken by the pipeline (it is full).
    unsent: VecDeque<RawChunk>,
    next_seq: u64,
}

/// What became of the chunks queued for the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flushed {
    All,
    /// The pipeline stayed full; some are still queued.
    Full,
    /// The pipeline has stopped.
    Gone,
}

impl ReaderContext {
    pub fn new(settings: &KafkaSourceSettings, stats: Arc<SourceStats>) -> Self {
        Self {
            start_from: settings.start_from,
            resume_from: settings
                .resume_from
                .iter()
                .map(|(t, p, o)| ((t.clone(), *p), *o))
                .collect(),
            seen: Mutex::default(),
            rebalances: Mutex::default(),
            stats,
            topics: settings.topics.clone(),
            line: Mutex::default(),
            fatal: FatalError::new(&settings.bootstrap_servers),
        }
    }

    fn line(&self) -> MutexGuard<'_, Option<Line>> {
        self.line.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Chunks go to `out` from now on, numbered from 0.
    pub fn connect(&self, out: Sender<RawChunk>) {
        *self.line() = Some(Line {
            out,
            unsent: VecDeque::new(),
            next_seq: 0,
        });
    }

    /// No more chunks: the pipeline sees the end of the input once the
    /// reader has gone.
    pub fn disconnect(&self) {
        *self.line() = None;
    }

    /// Numbers `chunk` and queues it behind the others.
    pub fn enqueue(&self, mut chunk: RawChunk) {
        if let Some(line) = self.line().as_mut() {
            chunk.seq = line.next_seq;
            line.next_seq += 1;
            line.unsent.push_back(chunk);
        }
    }

    /// Sends the queued chunks, waiting up to `wait` for room for each.
    pub fn flush(&self, wait: Duration) -> Flushed {
        let mut guard = self.line();
        let Some(line) = guard.as_mut() else {
            return Flushed::Gone;
        };
        while let Some(chunk) = line.unsent.pop_front() {
            match line.out.send_timeout(chunk, wait) {
                Ok(()) => {}
                Err(SendTimeoutError::Timeout(chunk)) => {
                    line.unsent.push_front(chunk);
                    return Flushed::Full;
                }
                Err(SendTimeoutError::Disconnected(_)) => return Flushed::Gone,
            }
        }
        Flushed::All
    }

    /// The stream a partition's records are numbered in (see
    /// [`crate::data::position`]); `None` past 256 topics or 65,536 partitions.
    pub fn stream(&self, topic: &str, partition: i32) -> Option<u32> {
        self.topics
            .iter()
            .position(|t| t == topic)
            .and_then(|index| position::kafka_stream(index, partition))
    }

    /// Before partitions go: everything read from them so far goes down
    /// the pipeline, then a marker that has the offsets after it committed
    /// (or a checkpoint written); the revoke waits for that, so the next
    /// owner starts exactly where this member stopped. What the reader
    /// holds beyond the marker it drops (see `Reader::follow_rebalances`).
    fn hand_over(&self, taken: &[(String, i32)]) {
        if self.line().is_none() {
            // The reader has finished (the run is stopping): the sink's
            // last commit covers what was read.
            return;
        }
        let started = Instant::now();
        let (done, acknowledged) = crossbeam_channel::bounded(1);
        let mut marker = RawChunk::new(0, 0);
        marker.changes = taken
            .iter()
            .filter_map(|(topic, partition)| self.stream(topic, *partition))
            .map(StreamChange::Revoked)
            .collect();
        marker.handover = Some(HandoverAck(done));
        self.enqueue(marker);
        let sent = loop {
            match self.flush(Duration::from_millis(100)) {
                Flushed::All => break true,
                Flushed::Gone => break false,
                Flushed::Full if started.elapsed() >= HANDOVER_TIMEOUT => break false,
                Flushed::Full => {}
            }
        };
        let left = HANDOVER_TIMEOUT.saturating_sub(started.elapsed());
        if sent && acknowledged.recv_timeout(left).is_ok() {
            tracing::info!(took = ?started.elapsed(), "offsets of the revoked partitions committed");
        } else {
            tracing::warn!(
                "the pipeline did not commit the revoked partitions' offsets within {} s; \
                 their next owner may repeat results since the last commit",
                HANDOVER_TIMEOUT.as_secs()
            );
        }
    }

    /// Rebalances since the last call, oldest first.
    pub fn take_rebalances(&self) -> Vec<Rebalanced> {
        std::mem::take(&mut *self.rebalances.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn record(&self, rebalance: Rebalanced) {
        self.rebalances
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(rebalance);
    }
}

fn partitions(list: &TopicPartitionList) -> Vec<(String, i32)> {
    list.elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect()
}

impl ClientContext for ReaderContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", facility, "{message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility, "{message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
        }
    }

    fn stats(&self, statistics: Statistics) {
        let mut lag = self.stats.lag.lock().unwrap_or_else(|p| p.into_inner());
        lag.clear();
        for (topic, stats) in &statistics.topics {
            for (&partition, p) in &stats.partitions {
                // -1 is librdkafka's internal "unassigned" partition; a lag of
                // -1 means not known yet.
                if partition >= 0 && p.consumer_lag >= 0 {
                    lag.insert((topic.clone(), partition), p.consumer_lag);
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // The reader ends the run on a fatal one.
        self.fatal.client_error(&error, reason);
    }
}

impl ConsumerContext for ReaderContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        list: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let given = partitions(list);
                let start = match self.start_from {
                    StartFrom::Committed => None,
                    StartFrom::Earliest => Some(Offset::Beginning),
                    StartFrom::Latest => Some(Offset::End),
                };
                let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                for (topic, partition) in &given {
                    let id = (topic.clone(), *partition);
                    if !seen.insert(id.clone()) {
                        continue;
                    }
                    let start = match self.resume_from.get(&id) {
                        Some(&offset) => Some(Offset::Offset(offset)),
                        None => start,
                    };
                    if let Some(start) = start {
                        let _ = list.set_partition_offset(topic, *partition, start);
                    }
                }
                drop(seen);
                tracing::info!(partitions = ?given, "Kafka partitions assigned");
                if let Err(e) = consumer.assign(list) {
                    tracing::error!(error = %e, "cannot take the assigned partitions");
                }
                self.record(Rebalanced::Assigned(given));
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let taken = partitions(list);
                tracing::info!(partitions = ?taken, "Kafka partitions revoked");
                self.hand_over(&taken);
                self.record(Rebalanced::HandedOver(taken));
                let _ = consumer.unassign();
            }
            other => {
                tracing::warn!(error = ?other, "Kafka rebalance failed; giving up the assignment");
                let taken = consumer
                    .assignment()
                    .map(|a| partitions(&a))
                    .unwrap_or_default();
                self.record(Rebalanced::Revoked(taken));
                let _ = consumer.unassign();
            }
        }
    }
}
