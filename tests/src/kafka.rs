//! A real Kafka-protocol broker for the Kafka tests: tansu, started by
//! `scripts/kafka-broker` on a free loopback port with its own data directory,
//! stopped by PID when the test is done. Producing and reading back go
//! through rdkafka, as any Kafka client would.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use crate::certificates::Authority;
use crate::live::free_port;
use crate::tls_proxy::TlsProxy;
use crate::{plugin_dir, weir_binary};

pub struct Broker {
    dir: tempfile::TempDir,
    /// tansu's own port.
    pub port: u16,
    /// In front of tansu, when clients must speak TLS to it.
    pub tls: Option<TlsProxy>,
    /// What every client of the test's own needs besides the servers.
    pub client_properties: Vec<(String, String)>,
    /// Every client must authenticate (SASL).
    authentication: bool,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka-broker")
}

impl Broker {
    pub fn start() -> Self {
        let broker = Self {
            dir: tempfile::tempdir().expect("broker data dir"),
            port: free_port(),
            tls: None,
            client_properties: Vec::new(),
            authentication: false,
        };
        broker.run_script(&["start", &broker.port.to_string()]);
        broker
    }

    /// A broker reachable only over TLS, with a certificate for 127.0.0.1
    /// signed by `authority` (see [`TlsProxy`]); the test's own clients
    /// trust `authority`, whose PEM is written to `ca_file`.
    pub fn start_behind_tls(authority: &Authority, ca_file: &Path) -> Self {
        let broker = Self::behind_tls(authority, ca_file);
        broker.restart();
        broker
    }

    /// As [`Broker::start_behind_tls`], where every client must also log in
    /// with SCRAM-SHA-512 as one of `users` (name, password); the test's
    /// own clients log in as the first.
    pub fn start_behind_tls_with_users(
        authority: &Authority,
        ca_file: &Path,
        users: &[(&str, &str)],
    ) -> Self {
        let mut broker = Self::behind_tls(authority, ca_file);
        // Users are made while the broker still lets anyone in.
        broker.restart();
        for (name, password) in users {
            broker.run_script(&["user", name, password, &broker.port.to_string()]);
        }
        broker.stop();
        broker.authentication = true;
        broker.restart();
        let (name, password) = users[0];
        broker.client_properties = vec![
            ("security.protocol".into(), "sasl_ssl".into()),
            ("ssl.ca.location".into(), ca_file.display().to_string()),
            ("sasl.mechanism".into(), "SCRAM-SHA-512".into()),
            ("sasl.username".into(), name.into()),
            ("sasl.password".into(), password.into()),
        ];
        broker
    }

    fn behind_tls(authority: &Authority, ca_file: &Path) -> Self {
        let (cert, key) = authority.sign(&["127.0.0.1"]);
        std::fs::write(ca_file, authority.pem()).expect("writing the CA file");
        let port = free_port();
        Self {
            dir: tempfile::tempdir().expect("broker data dir"),
            port,
            client_properties: vec![
                ("security.protocol".into(), "ssl".into()),
                ("ssl.ca.location".into(), ca_file.display().to_string()),
            ],
            tls: Some(TlsProxy::start(&cert, &key, port)),
            authentication: false,
        }
    }

    fn tls_port(&self) -> u16 {
        self.tls.as_ref().map_or(self.port, |proxy| proxy.port)
    }

    fn run_script(&self, args: &[&str]) {
        let out = Command::new("bash")
            .arg(script())
            .args(args)
            .env("WEIR_KAFKA_DIR", self.dir.path())
            .env(
                "WEIR_KAFKA_AUTHENTICATION",
                if self.authentication { "1" } else { "0" },
            )
            .output()
            .expect("running scripts/kafka-broker");
        assert!(
            out.status.success(),
            "scripts/kafka-broker {args:?}: {}{}",
            crate::text(&out.stdout),
            crate::text(&out.stderr)
        );
    }

    pub fn stop(&self) {
        self.run_script(&["stop"]);
        // Wait until the port is free, so a restart can bind it again.
        let deadline = Instant::now() + Duration::from_secs(10);
        let own = format!("127.0.0.1:{}", self.port);
        while std::net::TcpStream::connect(&own).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the broker again on the same port and data.
    pub fn restart(&self) {
        self.run_script(&[
            "start",
            &self.port.to_string(),
            &self.tls_port().to_string(),
        ]);
    }

    /// Where clients connect: the TLS proxy's port if there is one.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.tls_port())
    }

    fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.bootstrap());
        for (key, value) in &self.client_properties {
            config.set(key, value);
        }
        config
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        weir::source::kafka::create_topics(
            &self.bootstrap(),
            &self.client_properties,
            &[(name, partitions)],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Produces `lines`, keyed by the string field `key_field` when given,
    /// or to `partition` when given; waits until every one is acknowledged.
    pub fn produce(&self, topic: &str, lines: &[String], key_field: Option<&str>) {
        self.produce_with(topic, lines, |line| {
            let key = key_field.map(|field| {
                let value: serde_json::Value = serde_json::from_str(line).expect("JSON line");
                value[field]
                    .as_str()
                    .expect("key field is a string")
                    .to_string()
            });
            (key, None, None)
        });
    }

    /// Produces each line with the key, partition and timestamp `meta` gives it.
    pub fn produce_with(
        &self,
        topic: &str,
        lines: &[String],
        meta: impl Fn(&str) -> (Option<String>, Option<i32>, Option<i64>),
    ) {
        let producer = self.producer();
        for line in lines {
            let (key, partition, timestamp) = meta(line);
            let mut record = BaseRecord::<String, String>::to(topic).payload(line);
            if let Some(key) = &key {
                record = record.key(key);
            }
            if let Some(partition) = partition {
                record = record.partition(partition);
            }
            if let Some(timestamp) = timestamp {
                record = record.timestamp(timestamp);
            }
            send(&producer, record);
        }
        flush(&producer);
    }

    /// Produces a tombstone (a null value) for `key`: a changelog's delete.
    pub fn produce_tombstone(&self, topic: &str, key: &str) {
        let producer = self.producer();
        send(&producer, BaseRecord::<str, [u8]>::to(topic).key(key));
        flush(&producer);
    }

    /// Produces each payload as it is (binary values such as Avro) with its key.
    pub fn produce_bytes(&self, topic: &str, payloads: &[(String, Vec<u8>)]) {
        let producer = self.producer();
        for (key, payload) in payloads {
            send(
                &producer,
                BaseRecord::<String, Vec<u8>>::to(topic)
                    .key(key)
                    .payload(payload),
            );
        }
        flush(&producer);
    }

    fn producer(&self) -> ThreadedProducer<DefaultProducerContext> {
        self.config()
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create()
            .expect("producer")
    }

    /// Every message of `topic`, read from the start of each partition until
    /// `expected` have arrived or nothing came for `quiet`.
    pub fn read_all(&self, topic: &str, expected: usize, quiet: Duration) -> Vec<String> {
        self.read_keyed(topic, expected, quiet)
            .into_iter()
            .map(|(_, value)| value)
            .collect()
    }

    /// Like [`read_all`](Self::read_all), each message as (key, value).
    pub fn read_keyed(
        &self,
        topic: &str,
        expected: usize,
        quiet: Duration,
    ) -> Vec<(String, String)> {
        let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
        self.read_bytes(topic, expected, quiet)
            .into_iter()
            .map(|(key, value)| (text(key), text(value)))
            .collect()
    }

    /// As [`read_keyed`](Self::read_keyed), the keys and values as bytes.
    pub fn read_bytes(
        &self,
        topic: &str,
        expected: usize,
        quiet: Duration,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let (consumer, _) = self.reader_from_start(topic);
        let mut out = Vec::new();
        let mut last = Instant::now();
        while out.len() < expected && last.elapsed() < quiet {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                let bytes = |b: Option<&[u8]>| b.unwrap_or_default().to_vec();
                out.push((bytes(message.key()), bytes(message.payload())));
                last = Instant::now();
            }
        }
        out
    }

    /// A consumer assigned every partition of `topic` from its beginning,
    /// and the partitions.
    fn reader_from_start(&self, topic: &str) -> (BaseConsumer, Vec<i32>) {
        let consumer: BaseConsumer = self
            .config()
            .set("group.id", "weir-test-reader")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("topic metadata");
        let partitions: Vec<i32> = metadata.topics()[0]
            .partitions()
            .iter()
            .map(|p| p.id())
            .collect();
        let mut list = TopicPartitionList::new();
        for &partition in &partitions {
            list.add_partition_offset(topic, partition, Offset::Beginning)
                .expect("partition");
        }
        consumer.assign(&list).expect("assign");
        (consumer, partitions)
    }

    /// Every message of `topic` as (key, value), read from the start of each
    /// partition to the high watermark it has when asked: all there is, not
    /// a count decided beforehand. Panics if that takes over `limit`.
    pub fn read_to_end(&self, topic: &str, limit: Duration) -> Vec<(String, String)> {
        let (consumer, partitions) = self.reader_from_start(topic);
        let ends: BTreeMap<i32, i64> = partitions
            .into_iter()
            .map(|partition| {
                let (_, high) = consumer
                    .fetch_watermarks(topic, partition, Duration::from_secs(10))
                    .expect("watermarks");
                (partition, high)
            })
            .collect();
        let mut next: BTreeMap<i32, i64> = ends.keys().map(|&p| (p, 0)).collect();
        let deadline = Instant::now() + limit;
        let mut out = Vec::new();
        while next.iter().any(|(p, &n)| n < ends[p]) {
            assert!(
                Instant::now() < deadline,
                "{topic} not read to its end in {limit:?}: at {next:?} of {ends:?}"
            );
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                let text =
                    |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
                out.push((text(message.key()), text(message.payload())));
                next.insert(message.partition(), message.offset() + 1);
            }
        }
        out
    }

    /// The group's committed offsets on `topic`, by partition.
    pub fn committed(&self, group: &str, topic: &str, partitions: i32) -> BTreeMap<i32, i64> {
        let consumer: BaseConsumer = self
            .config()
            .set("group.id", group)
            .create()
            .expect("consumer");
        let mut list = TopicPartitionList::new();
        for partition in 0..partitions {
            list.add_partition(topic, partition);
        }
        let committed = consumer
            .committed_offsets(list, Duration::from_secs(10))
            .expect("committed offsets");
        let offsets = committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect();
        // rd_kafka_destroy can hang while a list from `committed` is alive.
        drop(committed);
        offsets
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .env("WEIR_KAFKA_DIR", self.dir.path())
            .output();
    }
}

/// `pipelines/sensor-alerts-kafka.toml` pointed at `broker`, with its plugin
/// paths made absolute, its dead letters in `dir`, and `source_extra` (TOML
/// lines) added to its source. Written into `dir`; returns the path.
pub fn sensor_pipeline(broker: &Broker, dir: &Path, group: &str, source_extra: &str) -> PathBuf {
    let original =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/sensor-alerts-kafka.toml");
    let text = std::fs::read_to_string(original).expect("the Kafka pipeline file");
    let text = text
        .replace("127.0.0.1:19092", &broker.bootstrap())
        .replace(
            "\"../plugins/dist/",
            &format!("\"{}/", plugin_dir().display()),
        )
        .replace(
            "\"../out/sensor-alerts-kafka.dead-letter.ndjson\"",
            &format!("\"{}\"", dir.join("dead.ndjson").display()),
        )
        .replace(
            "group_id = \"weir-sensor-alerts\"",
            &format!("group_id = \"{group}\"\n{source_extra}"),
        );
    assert!(text.contains(&broker.bootstrap()) && text.contains(group));
    let path = dir.join("sensor-alerts-kafka.toml");
    std::fs::write(&path, text).expect("writing the pipeline");
    path
}

/// Starts `weir run pipeline extra…`, logging to `stderr`.
pub fn start_weir_with(pipeline: &Path, stderr: &Path, extra: &[&str]) -> Weir {
    start_weir_with_env(pipeline, stderr, extra, &[])
}

/// As [`start_weir_with`], with `env` (name, value) set for weir.
pub fn start_weir_with_env(
    pipeline: &Path,
    stderr: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Weir {
    let child = Command::new(weir_binary())
        .arg("run")
        .arg(pipeline)
        .args(extra)
        .envs(env.iter().copied())
        .env("WEIR_LOG", "weir=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).expect("stderr file"))
        .spawn()
        .expect("starting weir");
    Weir(child)
}

/// A running `weir`, killed if the test fails before it ends.
pub struct Weir(pub Child);

impl Drop for Weir {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Stops a run as Ctrl-C would (SIGTERM) and waits for it to end; returns its log.
pub fn terminate(weir: Weir, stderr: &Path) -> String {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(weir.0.id() as i32, libc::SIGTERM) };
    wait_done(weir, stderr, Duration::from_secs(60))
}

/// Waits for a run to end, successfully, within `limit`; returns its log.
pub fn wait_done(child: Weir, stderr: &Path, limit: Duration) -> String {
    let (status, log) = wait_exit(child, stderr, limit);
    assert!(status.success(), "weir failed: {log}");
    log
}

/// Waits up to `limit` for `child` to exit, however it ends; its status
/// and what it logged to `stderr`. Panics if it is still running.
pub fn wait_exit(
    mut child: Weir,
    stderr: &Path,
    limit: Duration,
) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.0.try_wait().expect("waiting for weir") {
            return (status, std::fs::read_to_string(stderr).unwrap_or_default());
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(stderr).unwrap_or_default();
            panic!("weir still running after {limit:?}: {log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `record`, waiting while the producer's queue is full.
fn send<K, P>(producer: &ThreadedProducer<DefaultProducerContext>, mut record: BaseRecord<'_, K, P>)
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((_, back)) => {
                record = back;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

fn flush(producer: &ThreadedProducer<DefaultProducerContext>) {
    producer
        .flush(Duration::from_secs(60))
        .expect("every test message acknowledged");
}
