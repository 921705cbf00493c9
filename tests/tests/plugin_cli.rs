//! `weir plugin test`: a plugin over sample records, without a pipeline.

use std::path::Path;
use std::process::Output;

use weir_tests::{generated, parse_readings, plugin, text, weir};

/// `weir plugin test` of over-threshold on `input`.
fn over_threshold_on(input: &Path, config: Option<&str>) -> Output {
    let (component, input) = (plugin("over_threshold.wasm"), input.to_str().unwrap());
    let mut args = vec!["plugin", "test", &component, "--input", input];
    if let Some(config) = config {
        args.extend(["--config", config]);
    }
    weir(&args, b"")
}

#[test]
fn plugin_test_shows_what_a_filter_does_with_each_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("sample.ndjson");
    let mut sample = generated(200, 4, 0.0);
    sample.push_str("{\"sensor_id\":\"x\",\"temperature\":\"warm\",\"event_time\":1}\n");
    std::fs::write(&input, &sample).unwrap();
    let out = over_threshold_on(&input, Some(r#"{"threshold": 100.0}"#));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let readings = parse_readings(&generated(200, 4, 0.0));
    for (i, reading) in readings.iter().enumerate() {
        let line = format!("line {}: ", i + 1);
        let shown = stdout
            .lines()
            .find(|l| l.starts_with(&line))
            .unwrap_or_else(|| panic!("no {line}in:\n{stdout}"));
        if reading.temperature > 100.0 {
            assert!(shown.contains("\"temperature\""), "{shown}");
        } else {
            assert!(shown.ends_with("dropped"), "{shown}");
        }
    }
    let kept = readings.iter().filter(|r| r.temperature > 100.0).count();
    assert!(
        stdout.contains("line 201: not decoded: field `temperature`"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "201 lines: {kept} rows out, {} dropped, 0 failed, 1 not decoded",
            200 - kept
        )),
        "{stdout}"
    );
}

#[test]
fn plugin_test_reports_a_rejected_config() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("sample.ndjson");
    std::fs::write(&input, generated(5, 1, 0.0)).unwrap();
    let out = over_threshold_on(&input, None);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("rejected its config"),
        "{}",
        text(&out.stderr)
    );
}
