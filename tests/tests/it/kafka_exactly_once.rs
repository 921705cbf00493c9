//! Exactly-once results from Kafka: checkpoints hold the partitions' offsets
//! with the state, so a run SIGKILLed and resumed writes every alert once;
//! and the transactional sink says clearly when the broker has no
//! transactions (tansu 0.6 has none).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use weir_tests::kafka::{sensor_pipeline, start_weir_with, wait_done, Broker};
use weir_tests::{generated, parse_alerts, parse_readings, reference_alerts, text, weir};

const READINGS: &str = "sensor-readings";

/// The Kafka sensor pipeline with its sink replaced by `sink` (TOML lines)
/// and `extra` appended.
fn pipeline_with(broker: &Broker, dir: &Path, group: &str, sink: &str, extra: &str) -> PathBuf {
    let path = sensor_pipeline(
        broker,
        dir,
        group,
        "bounded = true\nproperties = { \"session.timeout.ms\" = \"6000\" }",
    );
    let original = std::fs::read_to_string(&path).unwrap();
    let start = original.find("[sink]").unwrap();
    let end = original.find("[dead_letter]").unwrap();
    let text = format!(
        "{}[sink]\n{sink}\n\n{}\n{extra}\n",
        &original[..start],
        &original[end..]
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn checkpoint_count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "bin"))
            .count()
    })
}

#[test]
fn a_kafka_run_killed_and_resumed_writes_every_alert_once() {
    let broker = Broker::start();
    broker.create_topic(READINGS, 4);
    let dir = tempfile::tempdir().unwrap();
    let events = generated(60_000, 17, 0.0);
    let lines: Vec<String> = events.lines().map(String::from).collect();
    broker.produce(READINGS, &lines, Some("sensor_id"));
    let (mut expected, late) = reference_alerts(&parse_readings(&events), 5_000, 100.0, 5);
    assert_eq!(late, 0);
    expected.sort();

    let output = dir.path().join("alerts.jsonl");
    let checkpoints = dir.path().join("checkpoints");
    // tansu 0.6 does not reliably hand a SIGKILLed member's partitions to the
    // next member of its group: one member in the same group was left with
    // an empty assignment for over 60 s (seen again on 2026-12-05 under
    // load, after two runs in one group had passed). Where to resume comes
    // from the checkpoint, not from the group, so each restart joins a group
    // of its own; the last one commits its offsets.
    let pipeline_for = |group: &str| {
        pipeline_with(
            &broker,
            dir.path(),
            group,
            &format!("kind = \"file\"\npath = \"{}\"", output.display()),
            &format!(
                "[checkpoint]\ndir = \"{}\"\ninterval = \"50ms\"",
                checkpoints.display()
            ),
        )
    };
    let log = dir.path().join("weir.stderr");
    let mut kills = 0;
    for round in 0..3u64 {
        let before = checkpoint_count(&checkpoints);
        let pipeline = pipeline_for(&format!("exactly-once-{round}"));
        let mut child = start_weir_with(&pipeline, &log, &[]);
        // Kill it once it has made progress (a new checkpoint), at a moment
        // that varies from round to round.
        let deadline = Instant::now() + Duration::from_secs(60);
        let newest = |dir: &Path| {
            std::fs::read_dir(dir)
                .map(|e| e.filter_map(Result::ok).map(|e| e.path()).max())
                .ok()
                .flatten()
        };
        let first = newest(&checkpoints);
        while newest(&checkpoints) == first && checkpoint_count(&checkpoints) <= before {
            assert!(
                Instant::now() < deadline,
                "no checkpoint after 60 s: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            if child.0.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(17 * round * round));
        if child.0.try_wait().unwrap().is_none() {
            child.0.kill().unwrap(); // SIGKILL
            child.0.wait().unwrap();
            kills += 1;
        }
    }
    assert!(kills >= 2, "the run ended before it could be killed twice");
    let pipeline = pipeline_for("exactly-once-final");
    let log_text = wait_done(
        start_weir_with(&pipeline, &log, &[]),
        &log,
        Duration::from_secs(120),
    );
    assert!(log_text.contains("resumed from checkpoint"), "{log_text}");
    let mut got = parse_alerts(&std::fs::read_to_string(&output).unwrap());
    got.sort();
    assert_eq!(got.len(), expected.len(), "no alert lost, none twice");
    assert_eq!(got, expected);
    let committed: i64 = broker
        .committed("exactly-once-final", READINGS, 4)
        .values()
        .sum();
    assert_eq!(
        committed, 60_000,
        "offsets committed with the last checkpoint"
    );
}

#[test]
fn the_transactional_sink_says_clearly_that_the_broker_has_no_transactions() {
    let broker = Broker::start();
    broker.create_topic(READINGS, 1);
    broker.create_topic("alerts-tx", 1);
    let dir = tempfile::tempdir().unwrap();
    let sink = format!(
        "kind = \"kafka\"\nbootstrap_servers = \"{}\"\ntopic = \"alerts-tx\"\ntransactional_id = \"weir-alerts\"",
        broker.bootstrap()
    );
    let without_checkpoints = pipeline_with(&broker, dir.path(), "tx", &sink, "");
    let out = weir(&["validate", without_checkpoints.to_str().unwrap()], b"");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("add a [checkpoint] table"),
        "{}",
        text(&out.stderr)
    );

    let pipeline = pipeline_with(
        &broker,
        dir.path(),
        "tx",
        &sink,
        &format!(
            "[checkpoint]\ndir = \"{}\"",
            dir.path().join("cp").display()
        ),
    );
    let started = Instant::now();
    let out = weir(&["run", pipeline.to_str().unwrap()], b"");
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "transactions (transactional_id = \"weir-alerts\") are not available from the broker"
        ) && stderr.contains("deterministic id"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_replay_gives_every_result_the_same_id() {
    let broker = Broker::start();
    broker.create_topic("alerts-first", 1);
    broker.create_topic("alerts-replay", 1);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    let readings = generated(20_000, 23, 0.0);
    std::fs::write(&input, &readings).unwrap();
    let (mut expected, _) = reference_alerts(&parse_readings(&readings), 5_000, 100.0, 5);
    expected.sort();
    assert!(expected.len() > 50, "enough alerts to compare");
    let source = format!(r#"{{ kind = "file", path = "{}" }}"#, input.display());
    let filter = weir_tests::plugin("over_threshold.wasm");
    let unused = dir.path().join("unused.jsonl");
    let mut ids = Vec::new();
    for topic in ["alerts-first", "alerts-replay"] {
        let pipeline = weir_tests::seed_query(&source, Path::new(&filter), &unused, None).replace(
            &format!(
                "sink = {{ kind = \"file\", path = \"{}\" }}",
                unused.display()
            ),
            &format!(
                "sink = {{ kind = \"kafka\", bootstrap_servers = \"{}\", topic = \"{topic}\" }}",
                broker.bootstrap()
            ),
        );
        assert!(pipeline.contains(topic));
        let file = dir.path().join(format!("{topic}.toml"));
        std::fs::write(&file, pipeline).unwrap();
        let run = weir(&["run", file.to_str().unwrap()], b"");
        assert!(run.status.success(), "{}", text(&run.stderr));
        // The whole topic, against the reference model: nothing missing,
        // nothing extra.
        let messages = broker.read_to_end(topic, Duration::from_secs(60));
        let values: String = messages.iter().map(|(_, v)| format!("{v}\n")).collect();
        let mut got = parse_alerts(&values);
        got.sort();
        assert_eq!(
            got, expected,
            "{topic}: the alerts the reference model raises"
        );
        let mut keyed: Vec<(String, String)> = messages;
        keyed.sort();
        ids.push(keyed);
    }
    let distinct: std::collections::BTreeSet<&String> = ids[0].iter().map(|(id, _)| id).collect();
    assert_eq!(distinct.len(), ids[0].len(), "one id per result");
    assert!(
        ids[0].iter().all(|(id, _)| id.len() == 32),
        "128-bit hex ids"
    );
    assert_eq!(
        ids[0], ids[1],
        "the replay produced other ids or other results"
    );
}

#[test]
fn an_update_by_a_late_row_keeps_the_id_of_the_result_it_updates() {
    let broker = Broker::start();
    broker.create_topic("late-updates", 1);
    let dir = tempfile::tempdir().unwrap();
    let sink = format!(
        "[sink]\nkind = \"kafka\"\nbootstrap_servers = \"{}\"\ntopic = \"late-updates\"",
        broker.bootstrap()
    );
    let pipeline = weir_tests::late_updates_pipeline(dir.path(), &sink);
    let run = weir(&["run", pipeline.to_str().unwrap()], b"");
    assert!(run.status.success(), "{}", text(&run.stderr));
    let messages = broker.read_keyed("late-updates", 7, Duration::from_secs(5));
    assert_eq!(messages.len(), 7, "{messages:?}");

    // A consumer that upserts by id (the message key) ends with each
    // window's final count once.
    let mut upserted: std::collections::BTreeMap<String, serde_json::Value> = Default::default();
    for (id, value) in &messages {
        upserted.insert(id.clone(), serde_json::from_str(value).unwrap());
    }
    let mut finals: Vec<(String, String, i64)> = upserted
        .values()
        .map(|row| {
            (
                row["sensor_id"].as_str().unwrap().to_string(),
                row["window_start"].as_str().unwrap().to_string(),
                row["count"].as_i64().unwrap(),
            )
        })
        .collect();
    finals.sort();
    // By sensor and window start: a [0, 10) 3, [10, 20) 1, [40, 50) 1; b
    // [0, 10) 1, [40, 50) 1; c [0, 10) 1.
    let counts: Vec<(&str, i64)> = finals.iter().map(|(s, _, n)| (s.as_str(), *n)).collect();
    assert_eq!(
        counts,
        vec![("a", 3), ("a", 1), ("a", 1), ("b", 1), ("b", 1), ("c", 1)],
        "{finals:?}"
    );
    let update = messages
        .iter()
        .find(|(_, value)| value.contains("\"update\":true"))
        .expect("one update");
    let original = messages
        .iter()
        .find(|(_, value)| value.contains("\"count\":2"))
        .expect("a's first result");
    assert_eq!(update.0, original.0, "the update replaces a's first result");
}
