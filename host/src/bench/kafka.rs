//! `weir bench kafka`: the seed query read from a Kafka topic and written to
//! another, against a plain rdkafka consumer reading the same topic in the
//! same run — the ceiling the broker and client set.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use super::{load, median, BenchOptions};
use crate::generate::{write_sensors, SensorWorkload};
use crate::pipeline::{self, SinkSpec, SourceSpec};
use crate::plugin::PluginEngine;
use crate::sink::KafkaSinkSettings;
use crate::source::kafka::{create_topics, KafkaSourceSettings, StartFrom};

#[derive(Debug, Clone, clap::Args)]
pub struct KafkaBenchOptions {
    /// The broker (start the test one with `scripts/kafka-broker start`).
    #[arg(long, default_value = "127.0.0.1:19092")]
    pub bootstrap_servers: String,
    /// Events produced to the input topic, then read by each run.
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Runs of each reader; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Where the built plugins are.
    #[arg(long, default_value = "plugins/dist")]
    pub plugins: PathBuf,
}

pub struct KafkaReport {
    pub events: u64,
    pub partitions: i32,
    pub produce_events_per_s: f64,
    pub raw_events_per_s: f64,
    pub weir_events_per_s: f64,
    /// Every run's figures, k events/s, to show the broker's spread.
    pub raw_runs: Vec<f64>,
    pub weir_runs: Vec<f64>,
    pub alerts: u64,
}

impl fmt::Display for KafkaReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Kafka path: topic ({} partitions) → decode → over-threshold → 10 s tumbling count per sensor → spike-alert → topic", self.partitions)?;
        writeln!(f, "events {}  alerts {}", self.events, self.alerts)?;
        writeln!(f, "| measure | value |")?;
        writeln!(f, "|---|---|")?;
        writeln!(
            f,
            "| producing the input (rdkafka, idempotent) | {:.0} k events/s |",
            self.produce_events_per_s / 1e3
        )?;
        writeln!(
            f,
            "| plain rdkafka consumer, same topic | {:.0} k events/s |",
            self.raw_events_per_s / 1e3
        )?;
        writeln!(
            f,
            "| weir pipeline, Kafka in and out | {:.0} k events/s |",
            self.weir_events_per_s / 1e3
        )?;
        writeln!(
            f,
            "| weir / plain consumer | {:.2} |",
            self.weir_events_per_s / self.raw_events_per_s
        )?;
        let runs = |runs: &[f64]| {
            runs.iter()
                .map(|r| format!("{:.1}", r / 1e3))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            f,
            "runs (k events/s): plain [{}], weir [{}]",
            runs(&self.raw_runs),
            runs(&self.weir_runs)
        )
    }
}

pub fn run_kafka(options: &KafkaBenchOptions) -> anyhow::Result<KafkaReport> {
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let input = format!("weir-bench-{stamp}");
    let output = format!("{input}-alerts");
    create_topics(
        &options.bootstrap_servers,
        &[],
        &[(&input, options.partitions), (&output, 1)],
    )
    .map_err(anyhow::Error::msg)?;
    let produce_events_per_s = produce(options, &input)?;

    let engine = PluginEngine::new()?;
    let bench = BenchOptions {
        events: options.events,
        batch_size: 1024,
        runs: 1,
        plugins: options.plugins.clone(),
        data: None,
        baseline: None,
    };
    let (mut raw, mut weir, mut alerts) = (Vec::new(), Vec::new(), 0);
    for run in 0..options.runs.max(1) {
        // Alternate which reads first: the broker's caches warm up as it goes.
        let raw_first = run % 2 == 0;
        let group = format!("{input}-raw-{run}");
        if raw_first {
            raw.push(raw_consume(options, &input, &group)?);
        }
        // The pipeline as the file bench builds it, with Kafka at both ends.
        let mut pipeline = load(&bench, std::path::Path::new("/dev/null"), &engine, false)?;
        pipeline.source = SourceSpec::Kafka(KafkaSourceSettings {
            bootstrap_servers: options.bootstrap_servers.clone(),
            topics: vec![input.clone()],
            group_id: format!("{input}-weir-{run}"),
            start_from: StartFrom::Earliest,
            bounded: true,
            idle_timeout: None,
            commit_interval: Duration::from_secs(1),
            key_field: None,
            timestamp_field: None,
            properties: Vec::new(),
            resume_from: Vec::new(),
            avro: None,
        });
        pipeline.set_sink(SinkSpec::Kafka(KafkaSinkSettings {
            bootstrap_servers: options.bootstrap_servers.clone(),
            topic: output.clone(),
            key_column: Some(0),
            delivery_timeout: Duration::from_secs(30),
            properties: Vec::new(),
            id_prefix: "bench".into(),
            transactional_id: None,
            avro: None,
        }));
        let summary = pipeline::run(pipeline, &AtomicBool::new(false))?;
        if summary.events_in != options.events {
            bail!(
                "the weir run read {} of {} events",
                summary.events_in,
                options.events
            );
        }
        alerts = summary.results_out;
        weir.push(summary.events_per_second());
        if !raw_first {
            raw.push(raw_consume(options, &input, &group)?);
        }
    }
    Ok(KafkaReport {
        events: options.events,
        partitions: options.partitions,
        produce_events_per_s,
        raw_events_per_s: median(raw.clone()),
        weir_events_per_s: median(weir.clone()),
        raw_runs: raw,
        weir_runs: weir,
        alerts,
    })
}

/// Produces the generated readings keyed by sensor; returns events/s.
fn produce(options: &KafkaBenchOptions, topic: &str) -> anyhow::Result<f64> {
    let mut data = Vec::new();
    let workload = SensorWorkload {
        events: options.events,
        ..SensorWorkload::default()
    };
    write_sensors(&workload, &mut data)?;
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &options.bootstrap_servers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()?;
    let started = Instant::now();
    for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        // `{"sensor_id":"sensor-0736",…`: the key is the first field's value.
        let key = line.get(14..25).unwrap_or_default();
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).key(key).payload(line);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120))?;
    Ok(options.events as f64 / started.elapsed().as_secs_f64())
}

/// Reads the whole topic with a subscribed consumer, as weir does (group join
/// included), touching every payload; returns events/s.
fn raw_consume(options: &KafkaBenchOptions, topic: &str, group: &str) -> anyhow::Result<f64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &options.bootstrap_servers)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    let started = Instant::now();
    consumer.subscribe(&[topic])?;
    let (mut count, mut bytes) = (0u64, 0usize);
    let deadline = started + Duration::from_secs(600);
    while count < options.events {
        if Instant::now() > deadline {
            bail!(
                "the plain consumer read {count} of {} events in 10 minutes",
                options.events
            );
        }
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            bytes += message?.payload().map_or(0, <[u8]>::len);
            count += 1;
        }
    }
    std::hint::black_box(bytes);
    Ok(count as f64 / started.elapsed().as_secs_f64())
}
