//! Keyed plugin state: per-key state and event-time timers kept by the host,
//! carried across swaps (with a migration when the state type changes), and
//! refused when a new version cannot read it.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use weir_tests::keyed_swap::streaks;
use weir_tests::live::LiveHost;
use weir_tests::{generated, heat_pipeline, json_lines, plugin, text, weir};

fn reading(sensor: &str, temperature: f64, at: i64) -> String {
    format!(r#"{{"sensor_id":"{sensor}","temperature":{temperature},"event_time":{at}}}"#)
}

#[test]
fn streaks_alert_by_timer_when_quiet_and_by_reading_when_broken_late() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = vec![
        reading("a", 101.0, 1_000),
        reading("b", 101.0, 1_000),
        reading("c", 101.0, 1_000),
        reading("a", 102.0, 2_000), // then a goes quiet, still hot
        reading("b", 99.0, 3_000),  // b cools before 5 s
        reading("c", 103.0, 4_000),
        reading("c", 99.0, 7_000), // c cools after 6 s, before its timer fires
    ];
    // Another sensor moves the watermark on.
    lines.extend((8..30).map(|s| reading("z", 50.0, s * 1_000)));
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let output = dir.path().join("out.jsonl");
    let pipeline = dir.path().join("p.toml");
    let source = format!(r#"{{ kind = "file", path = "{}" }}"#, input.display());
    std::fs::write(
        &pipeline,
        heat_pipeline(&source, Path::new(&plugin("sustained_heat.wasm")), &output),
    )
    .unwrap();
    let run = weir(
        &["run", pipeline.to_str().unwrap(), "--batch-size", "2"],
        b"",
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    let alerts: Vec<(String, String, i64, f64)> =
        json_lines(&std::fs::read_to_string(&output).unwrap())
            .iter()
            .map(|a| {
                (
                    a["sensor_id"].as_str().unwrap().to_string(),
                    a["hot_since"].as_str().unwrap().to_string(),
                    a["hot_for_ms"].as_i64().unwrap(),
                    a["max_temperature"].as_f64().unwrap(),
                )
            })
            .collect();
    assert_eq!(
        alerts,
        vec![
            ("c".into(), "1970-01-01T00:00:01.000Z".into(), 6_000, 103.0),
            ("a".into(), "1970-01-01T00:00:01.000Z".into(), 5_000, 102.0),
        ]
    );
}

#[test]
fn state_survives_a_swap_with_a_migration_and_a_swap_that_cannot_read_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = generated(300_000, 21, 0.0).into_bytes();
    let (v1, v2) = (
        plugin("sustained_heat.wasm"),
        plugin("sustained_heat_v2.wasm"),
    );

    let reference_out = dir.path().join("reference.jsonl");
    let reference = dir.path().join("reference.toml");
    std::fs::write(
        &reference,
        heat_pipeline(r#"{ kind = "stdin" }"#, Path::new(&v1), &reference_out),
    )
    .unwrap();
    let run = weir(&["run", reference.to_str().unwrap()], &input);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let expected = streaks(&std::fs::read_to_string(&reference_out).unwrap());
    assert!(expected.len() > 100, "the workload has hot streaks");
    assert!(expected.values().all(|&n| n == 1), "one alert per streak");

    let output = dir.path().join("swapped.jsonl");
    let pipeline = dir.path().join("swapped.toml");
    std::fs::write(
        &pipeline,
        heat_pipeline(r#"{ kind = "stdin" }"#, Path::new(&v1), &output),
    )
    .unwrap();
    let mut host = LiveHost::start(&pipeline, dir.path(), &[]);
    let busy = Arc::new(AtomicBool::new(true));
    let feeder = host.feed(input, busy.clone());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (status, body) = host.swap("heat", Path::new(&v2), None);
    assert_eq!(
        (status, body["outcome"].as_str()),
        (200, Some("swapped")),
        "{body}"
    );
    // Version 1 cannot read version 2's state: refused, version 2 keeps it.
    let (status, body) = host.swap("heat", Path::new(&v1), None);
    assert_eq!(
        (status, body["outcome"].as_str()),
        (409, Some("refused")),
        "{body}"
    );
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("cannot migrate the stage's state version 2"),
        "{error}"
    );
    busy.store(false, Ordering::SeqCst);
    feeder.join().unwrap();
    let finished = host.finish();
    assert!(finished.success, "{}", finished.stderr);
    assert!(
        finished
            .stderr
            .contains("state migrated from version 1 to 2"),
        "{}",
        finished.stderr
    );
    // Timers fire at batch ends, and standard input is batched as it comes,
    // so the moment an alert fires may differ; which streaks alert may not.
    let got = streaks(&std::fs::read_to_string(&output).unwrap());
    assert_eq!(got, expected, "the swap lost or invented hot streaks");
}

#[test]
fn the_fraud_detector_flags_exactly_the_planted_patterns() {
    let dir = tempfile::tempdir().unwrap();
    let generated = weir(
        &["generate", "payments", "--events", "100000", "--seed", "5"],
        b"",
    );
    assert!(generated.status.success(), "{}", text(&generated.stderr));
    let payments = text(&generated.stdout);
    // The generator's ground truth: large purchases from a fresh address,
    // each a few minutes after a small one by the same user.
    let planted: BTreeSet<(String, String)> = json_lines(&payments)
        .iter()
        .filter(|p| p["ip"].as_str().unwrap().starts_with("203.0.113."))
        .map(|p| {
            (
                p["user_id"].as_str().unwrap().to_string(),
                p["ip"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(planted.len() > 50, "the workload plants fraud");

    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pipelines/fraud-detection.toml"
    ))
    .unwrap();
    let output = dir.path().join("alerts.jsonl");
    let pipeline = shipped
        .replace(
            "[sink]\nkind = \"console\"",
            &format!("[sink]\nkind = \"file\"\npath = \"{}\"", output.display()),
        )
        .replace(
            "../plugins/dist/fraud_detector.wasm",
            &plugin("fraud_detector.wasm"),
        )
        .replace(
            "../out/fraud-detection.dead-letter.ndjson",
            &dir.path().join("dead.jsonl").display().to_string(),
        );
    assert_ne!(pipeline, shipped);
    let file = dir.path().join("fraud.toml");
    std::fs::write(&file, pipeline).unwrap();
    let run = weir(&["run", file.to_str().unwrap()], payments.as_bytes());
    assert!(run.status.success(), "{}", text(&run.stderr));
    let alerts = json_lines(&std::fs::read_to_string(&output).unwrap());
    let flagged: BTreeSet<(String, String)> = alerts
        .iter()
        .map(|a| {
            assert!(a["gap_ms"].as_i64().unwrap() <= 300_000);
            assert!(a["small_amount"].as_f64().unwrap() <= 5.0);
            (
                a["user_id"].as_str().unwrap().to_string(),
                a["new_ip"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(flagged.len(), alerts.len(), "each pattern flagged once");
    assert_eq!(flagged, planted);
}

/// The timers of seven sensors fire in one call, and the plugin panics on
/// one key's: the call is tried again in halves, on fresh instances, so
/// the six others still fire and only the failing one is dropped, by name.
#[test]
fn a_timer_that_fails_does_not_take_the_others_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<String> = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .map(|s| reading(s, 20.0, 1_000))
        .collect();
    // A later reading moves the watermark past every timer.
    lines.push(reading("z", 20.0, 60_000));
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let output = dir.path().join("out.jsonl");
    let pipeline = dir.path().join("p.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"
name = "fragile-timers"
source = {{ kind = "file", path = "{input}" }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "timestamp" }}
event_time = {{ field = "event_time", max_out_of_orderness = "1s" }}
sink = {{ kind = "file", path = "{output}" }}

[[operators]]
type = "plugin"
path = "{plugin}"
key_by = "sensor_id"
config = {{ mode = "fragile", at = 2000, key = "c" }}
"#,
            input = input.display(),
            output = output.display(),
            plugin = plugin("hostile_keyed.wasm"),
        ),
    )
    .unwrap();
    let run = weir(&["run", pipeline.to_str().unwrap()], b"");
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let fired: BTreeSet<String> = json_lines(&std::fs::read_to_string(&output).unwrap())
        .iter()
        .map(|r| r["sensor_id"].as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = ["a", "b", "d", "e", "f", "z"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(fired, expected, "{stderr}");
    let dropped: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("timers dropped"))
        .collect();
    assert_eq!(dropped.len(), 1, "{stderr}");
    assert!(
        dropped[0].contains("key=c") && dropped[0].contains("the timer of c fired"),
        "{}",
        dropped[0]
    );
}
