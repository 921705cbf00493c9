//! The run loop in process: an in-memory source through real stages into
//! the null sink, without files, services or plugins.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::run_reading;
use crate::pipeline::{parse, Pipeline, RunError, SinkSpec};
use crate::plugin::PluginEngine;
use crate::source::{RawChunk, Source, SourceContext, SourceError};

/// Lines of JSON, handed on in chunks; then the end of input, a failure,
/// or a wait for `stop`.
struct MemorySource {
    lines: Vec<String>,
    then: Then,
}

enum Then {
    End,
    Fail(&'static str),
    WaitForStop,
}

impl Source for MemorySource {
    fn run(self: Box<Self>, cx: SourceContext<'_>) -> Result<(), SourceError> {
        let mut chunk = RawChunk::new(0, cx.chunk_records);
        for (i, line) in self.lines.iter().enumerate() {
            chunk.push(i as u64 + 1, line.as_bytes());
            cx.stats.records.fetch_add(1, Ordering::Relaxed);
            if chunk.records.len() == cx.chunk_records {
                let next = chunk.next();
                if cx.out.send(std::mem::replace(&mut chunk, next)).is_err() {
                    return Ok(());
                }
            }
        }
        if !chunk.records.is_empty() && cx.out.send(chunk).is_err() {
            return Ok(());
        }
        match self.then {
            Then::End => cx.complete.store(true, Ordering::SeqCst),
            Then::Fail(reason) => return Err(SourceError::Kafka(reason.into())),
            Then::WaitForStop => {
                let deadline = Instant::now() + Duration::from_secs(30);
                while !cx.stop.load(Ordering::SeqCst) {
                    assert!(Instant::now() < deadline, "stop never came");
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        Ok(())
    }
}

/// Sensor rows: `sensors` sensors, one reading every 10 ms of event time.
fn readings(count: usize, sensors: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            format!(
                r#"{{"sensor_id":"s{}","temperature":{},"event_time":{}}}"#,
                i % sensors,
                90 + i % 20,
                1_700_000_000_000i64 + i as i64 * 10
            )
        })
        .collect()
}

/// A 1 s tumbling count per sensor of the hot readings, into the null sink.
fn counting_pipeline(batch_size: usize, parallelism: usize) -> Pipeline {
    let text = format!(
        r#"
batch_size = {batch_size}
parallelism = {parallelism}
source = {{ kind = "stdin" }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "timestamp" }}
event_time = {{ field = "event_time", max_out_of_orderness = "1s" }}
sink = {{ kind = "console" }}

[[operators]]
type = "window"
kind = "tumbling"
size = "1s"
key_by = "sensor_id"
aggregates = {{ n = "count", hottest = "max(temperature)" }}
"#
    );
    let engine = PluginEngine::new().unwrap();
    let mut pipeline = parse(std::path::Path::new("memory.toml"), &text, &engine).unwrap();
    pipeline.set_sink(SinkSpec::Null { digest: false });
    pipeline
}

/// Windows per (sensor, second), counted by brute force.
fn expected_windows(lines: &[String]) -> usize {
    let mut windows = BTreeMap::new();
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let second = v["event_time"].as_i64().unwrap().div_euclid(1_000);
        windows.insert((v["sensor_id"].as_str().unwrap().to_string(), second), ());
    }
    windows.len()
}

#[test]
fn memory_rows_through_a_window_give_every_window_once_at_any_parallelism() {
    let lines = readings(5_000, 7);
    let expected = expected_windows(&lines);
    for (batch_size, parallelism) in [(1024, 1), (1, 1), (333, 2), (64, 3)] {
        let source = MemorySource {
            lines: lines.clone(),
            then: Then::End,
        };
        let stop = AtomicBool::new(false);
        let summary = run_reading(
            counting_pipeline(batch_size, parallelism),
            &stop,
            Some(Box::new(source)),
        )
        .unwrap();
        let case = format!("batch size {batch_size}, parallelism {parallelism}");
        assert!(summary.completed, "{case}");
        assert_eq!(summary.events_in, 5_000, "{case}");
        assert_eq!(summary.results_out as usize, expected, "{case}");
        assert_eq!(summary.windows_fired as usize, expected, "{case}");
        assert_eq!(summary.parallelism, parallelism, "{case}");
        assert_eq!(summary.dead_lettered(), 0, "{case}");
    }
}

#[test]
fn a_source_failure_ends_the_run_with_its_reason() {
    let source = MemorySource {
        lines: readings(100, 3),
        then: Then::Fail("the broker went away"),
    };
    let stop = AtomicBool::new(false);
    let error = run_reading(counting_pipeline(10, 1), &stop, Some(Box::new(source))).unwrap_err();
    assert!(matches!(error, RunError::Source(_)), "{error}");
    assert_eq!(error.to_string(), "Kafka: the broker went away");
}

#[test]
fn a_stop_ends_an_endless_run_with_what_it_read() {
    let source = MemorySource {
        lines: readings(1_000, 3),
        then: Then::WaitForStop,
    };
    let stop = AtomicBool::new(false);
    let summary = std::thread::scope(|scope| {
        let run =
            scope.spawn(|| run_reading(counting_pipeline(100, 1), &stop, Some(Box::new(source))));
        std::thread::sleep(Duration::from_millis(100));
        stop.store(true, Ordering::SeqCst);
        run.join().unwrap().unwrap()
    });
    assert!(!summary.completed, "stopped, not complete");
    assert_eq!(summary.events_in, 1_000);
    // Windows the watermark passed fired; the open ones did not, unlike at
    // the end of a bounded input.
    assert!(
        summary.results_out > 0 && summary.open_windows_discarded > 0,
        "{summary:?}"
    );
}
