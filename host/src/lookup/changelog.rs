//! A lookup table from a Kafka topic read as a changelog (Kafka Streams'
//! GlobalKTable, Flink's `upsert-kafka`): every partition from its start,
//! the message key the table's key, the value a JSON object with the
//! fields, the latest value per key kept and a null value (a tombstone)
//! deleting the key. The table is read to the end offsets it has when the
//! pipeline starts before the first row is joined, then followed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::load::{parse_key, parse_value, Loading};
use super::{LookupTable, TableSpec};
use crate::kafka_client::FatalError;

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the first read to the end may take before the pipeline is
/// refused.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a changelog table's topic is.
#[derive(Debug, Clone)]
pub struct KafkaTable {
    pub bootstrap_servers: String,
    pub topic: String,
    pub properties: Vec<(String, String)>,
}

/// `error`, or the refused certificate or login behind it. Errors reach
/// the context only while the consumer is polled, which a metadata request
/// does not do, so it is polled a little first.
fn refused(consumer: &BaseConsumer<TableContext>, error: String) -> String {
    for _ in 0..10 {
        if let Some(fatal) = consumer.context().fatal.get() {
            return fatal;
        }
        // A message so polled is dropped; the table is refused anyway.
        let _ = consumer.poll(Duration::from_millis(100));
    }
    error
}

/// Keeps a refused certificate or login, which no waiting mends, to be
/// told instead of a timeout.
struct TableContext {
    fatal: FatalError,
}

impl ClientContext for TableContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.fatal.client_error(&error, reason);
    }
}

impl ConsumerContext for TableContext {}

pub(super) struct Changelog {
    consumer: BaseConsumer<TableContext>,
    table: KafkaTable,
    /// Key → the fields' values as text (`None`: absent or null).
    latest: HashMap<String, Vec<Option<String>>>,
    /// Messages since the table was last built.
    pub changed: bool,
}

impl Changelog {
    /// Connects and reads every partition of the topic to its end now.
    pub fn open(table: &KafkaTable, spec: &TableSpec) -> Result<Self, String> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &table.bootstrap_servers)
            .set("group.id", "weir-lookup-table")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("client.id", "weir-lookup");
        for (key, value) in &table.properties {
            config.set(key, value);
        }
        let context = TableContext {
            fatal: FatalError::new(&table.bootstrap_servers),
        };
        let consumer: BaseConsumer<TableContext> = config
            .create_with_context(context)
            .map_err(|e| format!("the table's Kafka consumer: {e}"))?;
        let metadata = consumer
            .fetch_metadata(Some(&table.topic), METADATA_TIMEOUT)
            .map_err(|e| refused(&consumer, format!("the table topic `{}`: {e}", table.topic)))?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == table.topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            return Err(format!(
                "the table topic `{}` does not exist or has no partitions",
                table.topic
            ));
        }
        let mut assignment = TopicPartitionList::new();
        let mut ends = HashMap::new();
        for &partition in &partitions {
            assignment
                .add_partition_offset(&table.topic, partition, Offset::Beginning)
                .map_err(|e| format!("the table topic `{}`: {e}", table.topic))?;
            let (_, high) = consumer
                .fetch_watermarks(&table.topic, partition, METADATA_TIMEOUT)
                .map_err(|e| format!("the table topic `{}` [{partition}]: {e}", table.topic))?;
            ends.insert(partition, high);
        }
        consumer
            .assign(&assignment)
            .map_err(|e| format!("the table topic `{}`: {e}", table.topic))?;
        let mut changelog = Self {
            consumer,
            table: table.clone(),
            latest: HashMap::new(),
            changed: true,
        };
        changelog
            .catch_up(ends, spec)
            .map_err(|e| refused(&changelog.consumer, e))?;
        Ok(changelog)
    }

    /// Reads until every partition reached the end it had at the start.
    fn catch_up(&mut self, mut ends: HashMap<i32, i64>, spec: &TableSpec) -> Result<(), String> {
        let started = Instant::now();
        ends.retain(|_, end| *end > 0);
        while !ends.is_empty() {
            if started.elapsed() > CATCH_UP_TIMEOUT {
                return Err(format!(
                    "the table topic `{}` was not read to its end within {} s",
                    self.table.topic,
                    CATCH_UP_TIMEOUT.as_secs()
                ));
            }
            if let Some((partition, offset)) = self.poll(Duration::from_millis(100), spec) {
                if ends.get(&partition).is_some_and(|end| offset + 1 >= *end) {
                    ends.remove(&partition);
                }
            }
        }
        Ok(())
    }

    /// Applies what arrives within `wait`.
    pub fn follow(&mut self, wait: Duration, spec: &TableSpec) {
        let until = Instant::now() + wait;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            self.poll(left.min(Duration::from_millis(100)), spec);
        }
    }

    /// One message applied; its partition and offset.
    fn poll(&mut self, wait: Duration, spec: &TableSpec) -> Option<(i32, i64)> {
        let message = match self.consumer.poll(wait)? {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(error = %e, topic = %self.table.topic, "lookup table consumer");
                return None;
            }
        };
        let at = (message.partition(), message.offset());
        let key = message
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned());
        let applied = match (key, message.payload()) {
            (None, _) => Err("no key".to_string()),
            (Some(key), None) => {
                self.latest.remove(&key);
                Ok(())
            }
            (Some(key), _) if parse_key(&key, spec.key_type).is_err() => {
                Err(format!("the key {key:?} is not a {}", spec.key_type))
            }
            (Some(key), Some(value)) => fields(value, spec).map(|values| {
                self.latest.insert(key, values);
            }),
        };
        match applied {
            Ok(()) => self.changed = true,
            Err(reason) => {
                tracing::warn!(topic = %self.table.topic, partition = at.0, offset = at.1, "lookup table message skipped: {reason}");
            }
        }
        Some(at)
    }

    /// The table as the latest values make it.
    pub fn table(&mut self, spec: &TableSpec) -> Result<LookupTable, String> {
        self.changed = false;
        let mut keys: Vec<&String> = self.latest.keys().collect();
        keys.sort_unstable();
        let mut loading = Loading::new(spec)?;
        for (row, key) in keys.into_iter().enumerate() {
            let values: Vec<Option<&str>> = self.latest[key].iter().map(Option::as_deref).collect();
            loading.add_text(row as u64 + 1, key, &values)?;
        }
        loading.finish()
    }
}

/// The fields of a JSON object value, as text, each checked against its
/// type (so that a bad message is skipped, not a table that fails to build).
fn fields(value: &[u8], spec: &TableSpec) -> Result<Vec<Option<String>>, String> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(value).map_err(|e| format!("not a JSON object: {e}"))?;
    spec.fields
        .iter()
        .map(|field| {
            let text = match object.get(&field.name) {
                None | Some(serde_json::Value::Null) => return Ok(None),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                    v.to_string()
                }
                Some(other) => {
                    return Err(format!(
                        "`{}` is {other}, not a string, number or boolean",
                        field.name
                    ))
                }
            };
            parse_value(&text, field.ty).map_err(|e| format!("`{}`: {e}", field.name))?;
            Ok(Some(text))
        })
        .collect()
}
