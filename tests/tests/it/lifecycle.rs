//! Stopping a running pipeline: the first SIGINT or SIGTERM stops reading,
//! finishes what is in flight, prints the summary and exits 0 — even while
//! the source is blocked waiting for input.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use weir_tests::*;

fn stops_on(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("p.toml");
    std::fs::write(
        &pipeline,
        r#"
source = { kind = "stdin" }
schema = { sensor_id = "string", temperature = "f64", event_time = "i64" }
event_time = { field = "event_time", max_out_of_orderness = "5s" }
sink = { kind = "console" }
"#,
    )
    .unwrap();
    let mut child = Command::new(weir_binary())
        .args(["run", pipeline.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Stdin stays open: the source is blocked waiting for more when the signal comes.
    let mut stdin = child.stdin.take().unwrap();
    for t in 1..=3 {
        writeln!(
            stdin,
            r#"{{"sensor_id":"s","temperature":1.5,"event_time":{t}}}"#
        )
        .unwrap();
    }
    stdin.flush().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..3 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(line.starts_with("sensor_id=s"), "{line}");
    }
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "weir did not stop within 10 s of {signal}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    drop(stdin);
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(
        stderr.contains("stopped before the end of its input"),
        "{stderr}"
    );
    assert_eq!(summary_count(&stderr, "events in"), 3);
}

#[test]
fn sigint_stops_a_pipeline_blocked_on_stdin() {
    stops_on("-INT");
}

#[test]
fn sigterm_stops_a_pipeline_blocked_on_stdin() {
    stops_on("-TERM");
}

/// `weir run … | head -1`: once the reader of its output leaves, weir
/// stops, however much input is left. (It used to wait for ever: the
/// reader thread blocked on a full queue nobody drained any more.)
#[test]
fn a_run_whose_output_reader_leaves_exits() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, generated(400_000, 7, 0.0)).unwrap();
    let pipeline = dir.path().join("p.toml");
    std::fs::write(
        &pipeline,
        format!(
            "source = {{ kind = \"file\", path = \"{}\" }}\nschema = {{ sensor_id = \"string\", temperature = \"f64\", event_time = \"i64\" }}\nevent_time = {{ field = \"event_time\", max_out_of_orderness = \"5s\" }}\nsink = {{ kind = \"console\" }}\n",
            input.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(weir_binary())
        .args(["run", pipeline.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("sensor_id="), "{first}");
    // The BufReader, and with it the pipe's read end, is gone here.
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("weir kept running 30 s after its output's reader left");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
