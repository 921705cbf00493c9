//! The Kafka source and sink against a real Kafka-protocol broker (tansu),
//! with the real binary and the real plugins: results equal the file run,
//! offsets commit only what was delivered, and bad messages are
//! dead-lettered with their topic, partition and offset.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use weir_tests::kafka::{sensor_pipeline, start_weir_with, wait_done, Broker, Weir};
use weir_tests::{
    generated, json_lines, parse_alerts, parse_readings, reference_alerts, seed_query, text, weir,
    Alert,
};

const READINGS: &str = "sensor-readings";
const ALERTS: &str = "sensor-alerts";

/// A broker with the pipeline's topics: readings in 4 partitions.
fn broker_with_topics() -> Broker {
    let broker = Broker::start();
    broker.create_topic(READINGS, 4);
    broker.create_topic(ALERTS, 1);
    broker
}

/// The same events through the file pipeline: what the Kafka run must match.
fn file_run_alerts(events: &str, dir: &Path) -> Vec<Alert> {
    let input = dir.join("events.ndjson");
    std::fs::write(&input, events).expect("writing events");
    let output = dir.join("file-alerts.jsonl");
    let source = format!(r#"{{ kind = "file", path = "{}" }}"#, input.display());
    let pipeline = dir.join("file.toml");
    let filter = weir_tests::plugin("over_threshold.wasm");
    std::fs::write(
        &pipeline,
        seed_query(&source, Path::new(&filter), &output, None),
    )
    .expect("writing pipeline");
    let out = weir(&["run", pipeline.to_str().expect("utf-8 path")], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    sorted(parse_alerts(
        &std::fs::read_to_string(output).expect("file alerts"),
    ))
}

/// The group's committed offsets on the readings topic, summed over its
/// 4 partitions: the messages it will not read again.
fn committed_total(broker: &Broker, group: &str) -> i64 {
    broker.committed(group, READINGS, 4).values().sum()
}

fn sorted(mut alerts: Vec<Alert>) -> Vec<Alert> {
    alerts.sort();
    alerts
}

fn start_weir(pipeline: &Path, stderr: &Path) -> Weir {
    start_weir_with(pipeline, stderr, &[])
}

/// Waits for a run to end well, with nothing dead-lettered: the test data's
/// disorder stays within the bound, so no reading may be late, whatever the
/// partitions and restarts.
fn wait_ok(child: Weir, stderr: &Path, limit: Duration) -> String {
    let log = wait_done(child, stderr, limit);
    assert_eq!(weir_tests::summary_count(&log, "dead-lettered"), 0, "{log}");
    log
}

pub(crate) fn sigterm(child: &Weir) {
    // SAFETY: a plain kill(2) on our own child's PID.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
}

fn alerts_on_topic(broker: &Broker, expected: usize) -> Vec<Alert> {
    let messages = broker.read_all(ALERTS, expected, Duration::from_secs(5));
    sorted(parse_alerts(&messages.join("\n")))
}

#[test]
fn alerts_from_a_partitioned_topic_equal_the_file_run() {
    partitioned_topic_run(1);
}

/// Two operator instances behind a partitioned topic: the same alerts, and
/// offsets committed (from both instances' progress) to the end.
#[test]
fn alerts_at_parallelism_two_equal_the_file_run_and_commit_every_offset() {
    partitioned_topic_run(2);
}

fn partitioned_topic_run(parallelism: usize) {
    let broker = broker_with_topics();
    let dir = tempfile::tempdir().expect("temp dir");
    let events = generated(20_000, 7, 0.0);
    let lines: Vec<String> = events.lines().map(String::from).collect();
    broker.produce(READINGS, &lines, Some("sensor_id"));

    let expected = file_run_alerts(&events, dir.path());
    let (reference, late) = reference_alerts(&parse_readings(&events), 5_000, 100.0, 5);
    assert_eq!(late, 0, "the generator's disorder stays within the bound");
    assert_eq!(expected, sorted(reference), "the file run is right");
    assert!(
        expected.len() > 50,
        "enough alerts to compare: {}",
        expected.len()
    );

    let pipeline = sensor_pipeline(&broker, dir.path(), "equal-test", "bounded = true");
    let text = std::fs::read_to_string(&pipeline).unwrap();
    std::fs::write(&pipeline, format!("parallelism = {parallelism}\n{text}")).unwrap();
    let log = dir.path().join("weir.stderr");
    let log = wait_ok(start_weir(&pipeline, &log), &log, Duration::from_secs(120));
    assert!(log.contains("finished in"), "{log}");
    if parallelism > 1 {
        assert_eq!(
            weir_tests::summary_count(&log, "operator instances"),
            parallelism as u64
        );
    }
    assert_eq!(weir_tests::summary_count(&log, "records read"), 20_000);
    assert_eq!(alerts_on_topic(&broker, expected.len() + 1), expected);
    assert_eq!(
        committed_total(&broker, "equal-test"),
        20_000,
        "every partition committed to its end"
    );
}

/// Alerts beyond `expected` may only repeat a window already there, with a
/// count no larger: at-least-once redelivers the input of windows that were
/// open at the last commit, so a restarted run may fire part of one again.
fn assert_complete_at_least_once(got: &[Alert], expected: &[Alert]) {
    let mut counts: BTreeMap<(&str, i64), i64> = BTreeMap::new();
    for (sensor, end, count) in expected {
        counts.insert((sensor, *end), *count);
    }
    let got_set: std::collections::BTreeSet<&Alert> = got.iter().collect();
    let missing: Vec<&Alert> = expected.iter().filter(|a| !got_set.contains(a)).collect();
    assert!(missing.is_empty(), "alerts lost: {missing:?}");
    for (sensor, end, count) in got {
        let full = counts.get(&(sensor.as_str(), *end));
        assert!(
            full.is_some_and(|full| count <= full),
            "alert ({sensor}, {end}, {count}) is no part of any expected alert"
        );
    }
}

/// The test's events in rounds, each produced keyed by sensor, and a last
/// reading per partition far ahead in event time, which closes every window
/// once it is read.
struct Stream {
    rounds: Vec<Vec<String>>,
    expected: Vec<Alert>,
    last_event_time: i64,
}

fn stream(events: u64, seed: u64, rounds: usize) -> Stream {
    let text = generated(events, seed, 0.0);
    let mut readings = parse_readings(&text);
    let last = readings.iter().map(|r| r.event_time).max().expect("events");
    let lines: Vec<String> = text.lines().map(String::from).collect();
    let per_round = lines.len().div_ceil(rounds);
    let rounds = lines.chunks(per_round).map(<[String]>::to_vec).collect();
    for _ in 0..4 {
        readings.push(closer(last));
    }
    let (expected, _) = reference_alerts(&readings, 5_000, 100.0, 5);
    Stream {
        rounds,
        expected: sorted(expected),
        last_event_time: last,
    }
}

fn closer(last_event_time: i64) -> weir_tests::Reading {
    weir_tests::Reading {
        sensor_id: "closer".into(),
        temperature: 0.0,
        event_time: last_event_time + 60_000,
    }
}

impl Stream {
    fn produce_round(&self, broker: &Broker, round: usize) {
        broker.produce(READINGS, &self.rounds[round], Some("sensor_id"));
    }

    /// One far-ahead reading into each partition (filtered out by the
    /// pipeline, but it moves that partition's watermark).
    fn produce_closers(&self, broker: &Broker) {
        for partition in 0..4 {
            let closer = closer(self.last_event_time).to_json();
            broker.produce_with(READINGS, &[closer], |_| (None, Some(partition), None));
        }
    }

    fn events(&self) -> usize {
        self.rounds.iter().map(Vec::len).sum()
    }
}

pub(crate) fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn stopped_mid_stream_it_resumes_from_committed_offsets() {
    let broker = broker_with_topics();
    let dir = tempfile::tempdir().expect("temp dir");
    let stream = stream(40_000, 11, 4);
    let pipeline = sensor_pipeline(
        &broker,
        dir.path(),
        "restart-test",
        "commit_interval = \"100ms\"",
    );
    let first_log = dir.path().join("first.stderr");
    let first = start_weir(&pipeline, &first_log);
    stream.produce_round(&broker, 0);
    stream.produce_round(&broker, 1);
    // Open windows hold commits back to the input of the last ~15 s of event
    // time (window + bound), ~15,000 readings here.
    wait_for("offsets committed", Duration::from_secs(60), || {
        committed_total(&broker, "restart-test") > 2_000
    });
    sigterm(&first);
    let first_log = wait_ok(first, &first_log, Duration::from_secs(60));
    let read_first = weir_tests::summary_count(&first_log, "records read") as i64;
    let committed = committed_total(&broker, "restart-test");
    assert!(
        committed <= read_first,
        "committed {committed} of {read_first} read"
    );

    // The rest arrives while weir is down; the second run reads up to the end.
    stream.produce_round(&broker, 2);
    stream.produce_round(&broker, 3);
    stream.produce_closers(&broker);
    let second = sensor_pipeline(&broker, dir.path(), "restart-test", "bounded = true");
    let second_log = dir.path().join("second.stderr");
    let second_log = wait_ok(
        start_weir(&second, &second_log),
        &second_log,
        Duration::from_secs(120),
    );
    let read_second = weir_tests::summary_count(&second_log, "records read") as i64;
    assert_eq!(
        read_second,
        stream.events() as i64 + 4 - committed,
        "the second run starts exactly at the committed offsets"
    );
    let got = alerts_on_topic(&broker, stream.expected.len() * 2);
    assert_complete_at_least_once(&got, &stream.expected);
}

#[test]
fn two_processes_in_one_group_split_the_partitions() {
    let broker = broker_with_topics();
    let dir = tempfile::tempdir().expect("temp dir");
    let stream = stream(20_000, 5, 1);
    let pipeline = sensor_pipeline(&broker, dir.path(), "group-test", "");
    let logs = [dir.path().join("a.stderr"), dir.path().join("b.stderr")];
    let a = start_weir(&pipeline, &logs[0]);
    wait_for("the first member assigned", Duration::from_secs(30), || {
        assigned(&logs[0]).len() == 4
    });
    let b = start_weir(&pipeline, &logs[1]);
    wait_for("the partitions split", Duration::from_secs(60), || {
        let (mine, theirs) = (assigned(&logs[0]), assigned(&logs[1]));
        !mine.is_empty() && !theirs.is_empty() && mine.len() + theirs.len() == 4
    });
    stream.produce_round(&broker, 0);
    stream.produce_closers(&broker);
    let expected = stream.expected.len();
    wait_for("every alert out", Duration::from_secs(60), || {
        broker
            .read_all(ALERTS, expected, Duration::from_millis(500))
            .len()
            >= expected
    });
    sigterm(&a);
    sigterm(&b);
    let logs = [
        wait_ok(a, &logs[0], Duration::from_secs(60)),
        wait_ok(b, &logs[1], Duration::from_secs(60)),
    ];
    for log in &logs {
        assert!(weir_tests::summary_count(log, "records read") > 0, "{log}");
    }
    let read: u64 = logs
        .iter()
        .map(|l| weir_tests::summary_count(l, "records read"))
        .sum();
    assert_eq!(
        read,
        stream.events() as u64 + 4,
        "each message read by one member"
    );
    assert_eq!(alerts_on_topic(&broker, expected + 1), stream.expected);
}

/// The partitions a member holds, by its latest rebalance log line.
pub(crate) fn assigned(log: &Path) -> Vec<String> {
    let log = std::fs::read_to_string(log).unwrap_or_default();
    let Some(line) = log.lines().rev().find(|l| {
        l.contains("Kafka partitions assigned") || l.contains("Kafka partitions revoked")
    }) else {
        return Vec::new();
    };
    if line.contains("revoked") {
        return Vec::new();
    }
    line.split("(\"sensor-readings\", ")
        .skip(1)
        .map(|rest| rest.split(')').next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn it_rides_out_a_broker_restart() {
    let broker = broker_with_topics();
    let dir = tempfile::tempdir().expect("temp dir");
    let stream = stream(40_000, 3, 2);
    let pipeline = sensor_pipeline(
        &broker,
        dir.path(),
        "outage-test",
        "commit_interval = \"200ms\"",
    );
    let log = dir.path().join("weir.stderr");
    let weir = start_weir(&pipeline, &log);
    stream.produce_round(&broker, 0);
    wait_for("the first round committed", Duration::from_secs(60), || {
        committed_total(&broker, "outage-test") > 2_000
    });
    broker.stop();
    std::thread::sleep(Duration::from_secs(2));
    broker.restart();
    stream.produce_round(&broker, 1);
    stream.produce_closers(&broker);
    let expected = stream.expected.len();
    wait_for(
        "every alert out after the restart",
        Duration::from_secs(90),
        || {
            broker
                .read_all(ALERTS, expected, Duration::from_millis(500))
                .len()
                >= expected
        },
    );
    sigterm(&weir);
    let log = wait_ok(weir, &log, Duration::from_secs(60));
    assert_eq!(
        weir_tests::summary_count(&log, "records read"),
        stream.events() as u64 + 4,
        "{log}"
    );
    let got = alerts_on_topic(&broker, expected * 2);
    assert_complete_at_least_once(&got, &stream.expected);
}

#[test]
fn bad_messages_are_dead_lettered_with_topic_partition_and_offset() {
    let broker = broker_with_topics();
    let dir = tempfile::tempdir().expect("temp dir");
    let good = r#"{"sensor_id":"s-1","temperature":101.5,"event_time":1767225600000}"#;
    // Key and timestamp from the message when the value lacks them.
    let keyed = r#"{"temperature":102.5}"#;
    let lines: Vec<String> = [
        good,
        "not json",
        r#"{"sensor_id":"s-2","temperature":"hot","event_time":1}"#,
        keyed,
    ]
    .map(String::from)
    .to_vec();
    broker.produce_with(READINGS, &lines, |line| {
        let key = (line == keyed).then(|| "s-keyed".to_string());
        (key, Some(2), Some(1_767_225_601_000))
    });
    let extra = "bounded = true\nkey_field = \"sensor_id\"\ntimestamp_field = \"event_time\"";
    let pipeline = sensor_pipeline(&broker, dir.path(), "bad-test", extra);
    let log = dir.path().join("weir.stderr");
    let log = wait_done(start_weir(&pipeline, &log), &log, Duration::from_secs(60));
    assert_eq!(weir_tests::summary_count(&log, "records read"), 4);
    assert_eq!(weir_tests::summary_count(&log, "events in"), 2, "{log}");
    let dead =
        json_lines(&std::fs::read_to_string(dir.path().join("dead.ndjson")).expect("dead letters"));
    let places: Vec<(&str, &str)> = dead
        .iter()
        .map(|d| (d["source"].as_str().unwrap(), d["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(places.len(), 2, "{places:?}");
    assert_eq!(places[0].0, "sensor-readings [2] offset 1");
    assert!(places[0].1.contains("expected"), "{places:?}");
    assert_eq!(places[1].0, "sensor-readings [2] offset 2");
    assert!(places[1].1.contains("field `temperature`"), "{places:?}");
    assert_eq!(dead[0]["record"], "not json");
}

#[test]
fn a_slow_plugin_pauses_the_consumer_and_loses_nothing() {
    let broker = broker_with_topics();
    let dir = tempfile::tempdir().expect("temp dir");
    let events = generated(150, 9, 0.0);
    let lines: Vec<String> = events.lines().map(String::from).collect();
    broker.produce(READINGS, &lines, Some("sensor_id"));
    let output = dir.path().join("out.ndjson");
    let pipeline = dir.path().join("slow.toml");
    // Every row costs 100 M multiplications in the plugin (~125 ms on this
    // VM on a fast day; 16 M at 20 ms/row once made batches too quick to
    // pause), a batch of 10 over a second; 15 batches are more than the ~11
    // the queues between reader and operators hold. So the reader's queue
    // stays full past the pause threshold (500 ms), and the consumer must pause.
    std::fs::write(
        &pipeline,
        format!(
            r#"
batch_size = 10
source = {{ kind = "kafka", bootstrap_servers = "{bootstrap}", topic = "{READINGS}", group_id = "slow-test", bounded = true }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "i64" }}
event_time = {{ field = "event_time", max_out_of_orderness = "5s" }}
sink = {{ kind = "file", path = "{output}" }}

[[operators]]
type = "plugin"
path = "{plugin}"
config = {{ mode = "slow", spin = 100000000 }}
batch_deadline = "60s"
"#,
            bootstrap = broker.bootstrap(),
            output = output.display(),
            plugin = weir_tests::plugin("hostile.wasm"),
        ),
    )
    .expect("writing the pipeline");
    let log = dir.path().join("weir.stderr");
    let admin = format!("127.0.0.1:{}", weir_tests::live::free_port());
    let weir = start_weir_with(&pipeline, &log, &["--admin", &admin]);
    // While it crawls, /metrics counts the consumer's pauses. (The lag gauge
    // is left out: librdkafka reports it only once offsets are committed,
    // every 5 s, which a loaded machine may not reach within this run.)
    let mut pauses_seen = false;
    let mut metrics = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let partition_watermarks = "weir_partition_watermark_timestamp_milliseconds{";
    // Partition watermarks are published after the first slow batch.
    while !(pauses_seen && metrics.contains(partition_watermarks)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        let Ok(mut response) = ureq::get(&format!("http://{admin}/metrics")).call() else {
            continue;
        };
        metrics = response.body_mut().read_to_string().unwrap_or_default();
        pauses_seen |= metric_values(&metrics, "weir_source_pauses_total{").any(|v| v > 0.0);
    }
    assert!(pauses_seen, "pauses counted in /metrics");
    // Each partition read so far has its own watermark: behind its newest
    // event by the 5 s bound, so at most the newest event overall less 5 s;
    // the pipeline's is at least the least of them.
    let newest = json_lines(&events)
        .iter()
        .map(|r| r["event_time"].as_i64().unwrap())
        .max()
        .unwrap() as f64;
    let partitions: Vec<f64> = metric_values(&metrics, partition_watermarks).collect();
    assert!(!partitions.is_empty(), "{metrics}");
    assert!(
        partitions.iter().all(|&w| w <= newest - 5_001.0),
        "{metrics}"
    );
    assert!(metric_values(&metrics, "weir_partition_idle{").all(|idle| idle == 0.0));
    if let Some(pipeline) = metric_values(&metrics, "weir_watermark_timestamp_milliseconds{").next()
    {
        let least = partitions.iter().copied().fold(f64::MAX, f64::min);
        assert!(pipeline >= least || partitions.len() < 4, "{metrics}");
    }
    let log = wait_ok(weir, &log, Duration::from_secs(180));
    assert!(
        weir_tests::summary_count(&log, "source paused") > 0,
        "the consumer paused: {log}"
    );
    let out = json_lines(&std::fs::read_to_string(&output).expect("output"));
    assert_eq!(out.len(), 150, "every reading through, once");
    let key = |r: &serde_json::Value| {
        (
            r["sensor_id"].as_str().expect("sensor_id").to_string(),
            r["event_time"].as_i64().expect("event_time"),
            r["temperature"].to_string(),
        )
    };
    let mut got: Vec<_> = out.iter().map(key).collect();
    let mut sent: Vec<_> = json_lines(&events).iter().map(key).collect();
    got.sort();
    sent.sort();
    assert!(got == sent, "every reading through exactly once");
}

/// The values of the metric lines starting with `prefix`.
fn metric_values<'a>(metrics: &'a str, prefix: &'a str) -> impl Iterator<Item = f64> + 'a {
    metrics
        .lines()
        .filter(move |l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn start_from_decides_where_a_new_process_begins() {
    let broker = broker_with_topics();
    let dir = tempfile::tempdir().expect("temp dir");
    let lines: Vec<String> = generated(500, 2, 0.0).lines().map(String::from).collect();
    broker.produce(READINGS, &lines, Some("sensor_id"));
    let read = |start: &str, stderr: &str| {
        let pipeline = sensor_pipeline(&broker, dir.path(), "start-test", "bounded = true");
        let text = std::fs::read_to_string(&pipeline).expect("pipeline");
        let default = "start_from = \"committed\"";
        assert!(text.contains(default), "{text}");
        let text = text.replace(default, &format!("start_from = \"{start}\""));
        std::fs::write(&pipeline, text).expect("pipeline");
        let log = dir.path().join(stderr);
        let log = wait_ok(start_weir(&pipeline, &log), &log, Duration::from_secs(60));
        weir_tests::summary_count(&log, "records read")
    };
    assert_eq!(
        read("committed", "1.stderr"),
        500,
        "nothing committed yet: from the start"
    );
    assert_eq!(committed_total(&broker, "start-test"), 500);
    assert_eq!(read("committed", "2.stderr"), 0, "all committed");
    assert_eq!(
        read("earliest", "3.stderr"),
        500,
        "earliest ignores the commits"
    );
    assert_eq!(read("latest", "4.stderr"), 0);
}

#[test]
fn an_idle_partition_stops_holding_the_windows_back() {
    let broker = broker_with_topics();
    let dir = tempfile::tempdir().expect("temp dir");
    let stream = stream(10_000, 4, 1);
    // Everything into partition 0; partitions 1–3 never send a message.
    let pipeline = sensor_pipeline(&broker, dir.path(), "idle-test", "idle_timeout = \"1s\"");
    let log = dir.path().join("weir.stderr");
    let weir = start_weir(&pipeline, &log);
    let mut lines = stream.rounds[0].clone();
    lines.push(closer(stream.last_event_time).to_json());
    broker.produce_with(READINGS, &lines, |_| (None, Some(0), None));
    let expected = stream.expected.len();
    wait_for("the windows fire", Duration::from_secs(60), || {
        broker
            .read_all(ALERTS, expected, Duration::from_millis(500))
            .len()
            >= expected
    });
    sigterm(&weir);
    wait_ok(weir, &log, Duration::from_secs(60));
    assert_eq!(alerts_on_topic(&broker, expected + 1), stream.expected);
}

#[test]
fn results_the_sink_cannot_deliver_are_dead_lettered() {
    let broker = broker_with_topics();
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, generated(300, 8, 0.0)).expect("input");
    let dead = dir.path().join("dead.ndjson");
    // The broker does not create topics on demand: every message fails.
    let pipeline = dir.path().join("p.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"
source = {{ kind = "file", path = "{input}" }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "i64" }}
event_time = {{ field = "event_time", max_out_of_orderness = "5s" }}
sink = {{ kind = "kafka", bootstrap_servers = "{bootstrap}", topic = "no-such-topic", delivery_timeout = "3s" }}
dead_letter = {{ path = "{dead}" }}
"#,
            input = input.display(),
            bootstrap = broker.bootstrap(),
            dead = dead.display(),
        ),
    )
    .expect("pipeline");
    let log = dir.path().join("weir.stderr");
    let log = wait_done(start_weir(&pipeline, &log), &log, Duration::from_secs(60));
    assert!(log.contains("undelivered 300"), "{log}");
    let dead = json_lines(&std::fs::read_to_string(dead).expect("dead letters"));
    assert_eq!(dead.len(), 300);
    assert!(dead.iter().all(|d| d["kind"] == "sink"
        && d["source"] == "kafka:no-such-topic"
        && d["reason"].as_str().unwrap().contains("no-such-topic")
        && d["record"]["sensor_id"].is_string()));
}

/// What a member's `/readyz` says: ready, and the partitions it reads.
fn readiness(addr: &str) -> Option<(bool, Vec<String>)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let mut response = agent.get(format!("http://{addr}/readyz")).call().ok()?;
    let ready = response.status() == 200;
    let body: serde_json::Value = response.body_mut().read_json().ok()?;
    let partitions = body["partitions"]
        .as_array()?
        .iter()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect();
    assert_eq!(body["ready"], ready, "{body}");
    Some((ready, partitions))
}

#[test]
fn static_members_say_on_readyz_which_partitions_they_read() {
    let broker = broker_with_topics();
    let dir = tempfile::tempdir().expect("temp dir");
    let pipeline = sensor_pipeline(&broker, dir.path(), "static-group", "");
    let addrs = [0, 1].map(|_| format!("127.0.0.1:{}", weir_tests::live::free_port()));
    let logs = [dir.path().join("a.stderr"), dir.path().join("b.stderr")];
    let start = |i: usize, id: &str| {
        start_weir_with(
            &pipeline,
            &logs[i],
            &["--instance-id", id, "--admin", &addrs[i]],
        )
    };
    let a = start(0, "member-a");
    let b = start(1, "member-b");
    let mut split = (Vec::new(), Vec::new());
    wait_for(
        "both ready with the partitions split",
        Duration::from_secs(60),
        || match (readiness(&addrs[0]), readiness(&addrs[1])) {
            (Some((true, mine)), Some((true, theirs)))
                if mine.len() + theirs.len() == 4 && !mine.is_empty() && !theirs.is_empty() =>
            {
                split = (mine, theirs);
                true
            }
            _ => false,
        },
    );
    let mut all: Vec<String> = split.0.iter().chain(&split.1).cloned().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4, "each partition read by one member: {split:?}");
    let health = ureq::get(format!("http://{}/healthz", addrs[0]))
        .call()
        .expect("healthz");
    assert_eq!(health.status(), 200);
    // Killed and back under the same name: the other member keeps its
    // partitions, no rebalance (KIP-345).
    let mut a = a;
    a.0.kill().expect("kill -9");
    a.0.wait().expect("reaped");
    let a = start(0, "member-a");
    wait_for("the member back", Duration::from_secs(60), || {
        readiness(&addrs[0]).is_some_and(|(ready, mine)| ready && mine == split.0)
    });
    let b_log = std::fs::read_to_string(&logs[1]).unwrap_or_default();
    assert!(!b_log.contains("Kafka partitions revoked"), "{b_log}");
    sigterm(&a);
    sigterm(&b);
    wait_ok(a, &logs[0], Duration::from_secs(60));
    wait_ok(b, &logs[1], Duration::from_secs(60));
    let out = weir(
        &["run", pipeline.to_str().unwrap(), "--instance-id", "a b"],
        b"",
    );
    assert!(
        text(&out.stderr).contains("--instance-id: `a b` is not an instance id"),
        "{}",
        text(&out.stderr)
    );
}
