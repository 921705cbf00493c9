//! Results produced to a Kafka topic, one JSON message per row, with the
//! idempotent producer: librdkafka's retries cannot duplicate or reorder a
//! message within a partition.
//!
//! Every message carries a deterministic result id (header `weir-id`, and the
//! key when no `key_field` is set; see [`super::result_id`]): a replay after
//! a crash produces the same ids, and a window result updated by a late row
//! keeps its id, so a consumer that keeps the last message per id (or a
//! compacted topic) ends with each result once, at its latest value. With `transactional_id`, each checkpoint's results
//! are committed as one transaction, for brokers that support transactions.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use super::{Sink, SinkFailure};
use crate::data::{Batch, Value};
use crate::format::avro::AvroSchema;
use crate::format::json::JsonRow;
use crate::kafka_client::FatalError;

const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a flush waits between looks at whether the broker refused weir.
const FLUSH_STEP: Duration = Duration::from_millis(200);

#[derive(Debug, Clone)]
pub struct KafkaSinkSettings {
    pub bootstrap_servers: String,
    pub topic: String,
    /// Index in the result schema of the field used as the message key.
    pub key_column: Option<usize>,
    pub delivery_timeout: Duration,
    pub properties: Vec<(String, String)>,
    /// Part of every result id: the pipeline's name.
    pub id_prefix: String,
    /// Produce in transactions under this id, committed at each checkpoint.
    pub transactional_id: Option<String>,
    /// Message values in Avro's single-object encoding instead of JSON.
    pub avro: Option<AvroSchema>,
}

/// Collects messages librdkafka gave up on (after its retries), for the
/// dead-letter output.
type Failures = Arc<Mutex<Vec<SinkFailure>>>;

struct DeliveryReports {
    failed: Failures,
    /// A certificate or credential failure, which ends the run.
    fatal: Arc<FatalError>,
}

impl ClientContext for DeliveryReports {
    fn error(&self, error: KafkaError, reason: &str) {
        self.fatal.client_error(&error, reason);
    }
}

impl ProducerContext for DeliveryReports {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, message)) = result {
            let failure = failure(
                format!("not delivered to {}: {error}", message.topic()),
                message.payload(),
            );
            self.failed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(failure);
        }
    }
}

fn failure(reason: String, payload: Option<&[u8]>) -> SinkFailure {
    let record = payload
        .and_then(|p| serde_json::from_slice(p).ok())
        .unwrap_or(serde_json::Value::Null);
    SinkFailure { reason, record }
}

pub struct KafkaSink {
    producer: ThreadedProducer<DeliveryReports>,
    failed: Failures,
    fatal: Arc<FatalError>,
    settings: KafkaSinkSettings,
    value: Vec<u8>,
    key: String,
    id: String,
}

impl KafkaSink {
    pub fn connect(settings: KafkaSinkSettings) -> Result<Self, String> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &settings.bootstrap_servers)
            .set("client.id", "weir")
            .set("enable.idempotence", "true")
            .set(
                "message.timeout.ms",
                settings.delivery_timeout.as_millis().to_string(),
            )
            .set("linger.ms", "5");
        for (key, value) in &settings.properties {
            config.set(key, value);
        }
        let failed = Failures::default();
        let fatal = Arc::new(FatalError::new(&settings.bootstrap_servers));
        let producer = config
            .create_with_context(DeliveryReports {
                failed: failed.clone(),
                fatal: fatal.clone(),
            })
            .map_err(|e| format!("cannot create the Kafka producer: {e}"))?;
        let producer: ThreadedProducer<DeliveryReports> = producer;
        if let Some(id) = &settings.transactional_id {
            producer
                .init_transactions(TRANSACTION_TIMEOUT)
                .and_then(|()| producer.begin_transaction())
                .map_err(|e| {
                    format!(
                        "Kafka sink {}: transactions (transactional_id = \"{id}\") are not available from the broker at {}: {e}. \
                         Without transactional_id the sink still gives each result a deterministic id (key and `weir-id` header) for consumers to deduplicate on",
                        settings.topic, settings.bootstrap_servers
                    )
                })?;
        }
        Ok(Self {
            producer,
            failed,
            fatal,
            settings,
            value: Vec::new(),
            key: String::new(),
            id: String::new(),
        })
    }

    /// The certificate or credential failure that ends the run, if any.
    fn check_fatal(&self) -> io::Result<()> {
        match self.fatal.get() {
            Some(message) => Err(io::Error::other(format!(
                "Kafka sink {}: {message}",
                self.settings.topic
            ))),
            None => Ok(()),
        }
    }

    fn produce(&mut self) -> io::Result<()> {
        let headers = OwnedHeaders::new().insert(Header {
            key: "weir-id",
            value: Some(self.id.as_bytes()),
        });
        let key = match self.settings.key_column {
            Some(_) => &self.key,
            None => &self.id,
        };
        let mut record = BaseRecord::to(&self.settings.topic)
            .payload(&self.value)
            .key(key)
            .headers(headers);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                // The local queue is full: wait for deliveries, which is this
                // sink's backpressure on the pipeline.
                Err((e, back)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    self.check_fatal()?;
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => {
                    let reason = format!("not produced to {}: {e}", self.settings.topic);
                    self.failed
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(failure(reason, Some(&self.value)));
                    return Ok(());
                }
            }
        }
    }
}

impl Sink for KafkaSink {
    fn write(&mut self, batch: &Batch, _: &mut super::SinkContext<'_>) -> io::Result<()> {
        self.check_fatal()?;
        let key_column = self.settings.key_column.map(|i| &batch.columns[i]);
        for row in 0..batch.len() {
            self.value.clear();
            serde_json::to_writer(&mut self.value, &JsonRow::new(batch.row(row)))?;
            if let Some(column) = key_column {
                self.key.clear();
                write_key(&mut self.key, column.get(row));
            }
            super::result_id(
                &self.settings.id_prefix,
                batch,
                row,
                &self.value,
                &mut self.id,
            );
            if let Some(avro) = &self.settings.avro {
                // The id above is of the JSON form, so it does not depend on the format.
                avro.single_object(batch, row, &mut self.value);
            }
            self.produce()?;
        }
        Ok(())
    }

    /// Waits until every message is acknowledged or has failed for good.
    fn flush(&mut self) -> io::Result<()> {
        let wait = self.settings.delivery_timeout + Duration::from_secs(5);
        let deadline = Instant::now() + wait;
        // In steps, so that a refused certificate or password ends the
        // wait at once rather than after every result has timed out.
        loop {
            self.check_fatal()?;
            let step = FLUSH_STEP.min(deadline.saturating_duration_since(Instant::now()));
            match self.producer.flush(step) {
                Ok(()) => return Ok(()),
                Err(_) if Instant::now() < deadline => continue,
                Err(e) => {
                    return Err(io::Error::other(format!(
                        "Kafka sink {}: results still unacknowledged after {wait:?}: {e}",
                        self.settings.topic
                    )))
                }
            }
        }
    }

    /// In transactional mode, the results since the last checkpoint are
    /// committed as one transaction before the checkpoint is written (a crash
    /// between the two replays them, under the same ids).
    fn pre_commit(&mut self) -> io::Result<crate::state::SinkPosition> {
        self.flush()?;
        if self.settings.transactional_id.is_some() {
            self.producer
                .commit_transaction(TRANSACTION_TIMEOUT)
                .and_then(|()| self.producer.begin_transaction())
                .map_err(|e| {
                    io::Error::other(format!(
                        "Kafka sink {}: committing the transaction: {e}",
                        self.settings.topic
                    ))
                })?;
        }
        Ok(crate::state::SinkPosition::None)
    }

    fn take_failures(&mut self) -> Vec<SinkFailure> {
        std::mem::take(&mut *self.failed.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

fn write_key(out: &mut String, value: Value<'_>) {
    use std::fmt::Write;
    let _ = match value {
        Value::String(s) => write!(out, "{s}"),
        Value::I64(v) => write!(out, "{v}"),
        Value::Bool(v) => write!(out, "{v}"),
        Value::F64(v) => write!(out, "{v}"),
        Value::Timestamp(v) => write!(out, "{}", crate::format::timestamp::format(v)),
    };
}
