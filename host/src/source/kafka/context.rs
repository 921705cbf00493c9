//! The consumer's callbacks: rebalances, which run inside `poll` on the
//! reader's thread, and librdkafka's logs and errors, sent to `tracing`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};

use super::{KafkaSourceSettings, StartFrom};
use crate::source::SourceStats;

/// A rebalance, as the reader picks it up after `poll`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebalanced {
    Assigned(Vec<(String, i32)>),
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
        // Mostly transient (a broker going away); librdkafka reconnects by itself.
        tracing::warn!(target: "librdkafka", %error, "{reason}");
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
                self.record(Rebalanced::Revoked(taken));
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
