//! `follow = true` through `weir run`: a growing file read like `tail -F`,
//! a line written in two parts, a rotation, and a restart that resumes
//! where the last run stopped, each event delivered once.

use std::time::{Duration, Instant};

use serde_json::json;
use weir_tests::append;
use weir_tests::kafka::{start_weir_with, terminate};
use weir_tests::receiver::Receiver;

fn line(i: i64) -> String {
    json!({ "sensor_id": "s", "temperature": 1.0, "event_time": 1_700_000_000_000i64 + i })
        .to_string()
        + "\n"
}

fn wait_for(receiver: &Receiver, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.received().len() < count {
        assert!(
            Instant::now() < deadline,
            "{} of {count} events arrived",
            receiver.received().len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_followed_file_is_read_through_partial_lines_rotation_and_a_restart_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    let receiver = Receiver::start(|_, _| (200, None));
    let pipeline = dir.path().join("tail.toml");
    let head = weir_tests::sensor_pipeline_head("tail", &input, "timestamp")
        .replace("kind = \"file\"\n", "kind = \"file\"\nfollow = true\n");
    std::fs::write(
        &pipeline,
        format!(
            "{head}[[operators]]\ntype = \"plugin\"\npath = \"{}\"\nconfig = {{ threshold = -1000.0 }}\n[sink]\nkind = \"webhook\"\nurl = \"{}\"\n[checkpoint]\ndir = \"{}\"\ninterval = \"100ms\"\n",
            weir_tests::plugin("over_threshold.wasm"),
            receiver.url,
            dir.path().join("checkpoints").display()
        ),
    )
    .unwrap();

    let whole: String = (0..100).map(line).collect();
    let split = line(100);
    append(&input, &(whole + &split[..20]));
    let stderr = dir.path().join("first.log");
    let weir = start_weir_with(&pipeline, &stderr, &[]);
    wait_for(&receiver, 100);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        receiver.received().len(),
        100,
        "the half-written line waits"
    );
    append(
        &input,
        &(split[20..].to_string() + &(101..150).map(line).collect::<String>()),
    );
    wait_for(&receiver, 150);

    std::fs::rename(&input, dir.path().join("readings.ndjson.1")).unwrap();
    append(&input, &(150..180).map(line).collect::<String>());
    wait_for(&receiver, 180);
    terminate(weir, &stderr);

    // Written while weir is down: read by the next run, after the checkpoint.
    append(&input, &(180..200).map(line).collect::<String>());
    let stderr = dir.path().join("second.log");
    let weir = start_weir_with(&pipeline, &stderr, &[]);
    wait_for(&receiver, 200);
    std::thread::sleep(Duration::from_millis(300));
    let log = terminate(weir, &stderr);
    assert!(log.contains("resum"), "{log}");

    let expected: Vec<i64> = (0..200).map(|i| 1_700_000_000_000 + i).collect();
    assert_eq!(receiver.event_times(), expected);
}
