//! Several sinks (`[[sinks]]`), each fed by the stage it names.

use std::collections::BTreeSet;
use std::path::Path;

use weir_tests::{generated, sensor_pipeline, summary_count, text, weir};

/// The seed query with its window results to `windows` and its alerts to
/// `alerts`, in place of its one sink.
pub fn fan_out_pipeline(input: &Path, windows: &Path, alerts: &Path, dead: &Path) -> String {
    let single = sensor_pipeline(input, alerts, dead);
    let sink = format!(
        r#"sink = {{ kind = "file", path = "{}" }}"#,
        alerts.display()
    );
    assert!(single.contains(&sink), "{single}");
    single.replace(
        &sink,
        &format!(
            r#"sinks = [
    {{ kind = "file", path = "{}", from = "window-2" }},
    {{ kind = "file", path = "{}" }},
]"#,
            windows.display(),
            alerts.display()
        ),
    )
}

fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// (sensor, window end, count) of result rows.
fn windows_of<'a>(
    rows: impl Iterator<Item = &'a serde_json::Value>,
) -> BTreeSet<(String, String, i64)> {
    rows.map(|r| {
        (
            r["sensor_id"].as_str().unwrap().to_string(),
            r["window_end"].as_str().unwrap().to_string(),
            r["count"].as_i64().unwrap(),
        )
    })
    .collect()
}

#[test]
fn each_sink_gets_exactly_the_rows_of_its_stage() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, generated(60_000, 5, 0.002)).unwrap();
    let (windows, alerts, dead) = (
        dir.path().join("windows.ndjson"),
        dir.path().join("alerts.ndjson"),
        dir.path().join("dead.ndjson"),
    );
    for parallelism in ["1", "2"] {
        let pipeline = dir.path().join("fan-out.toml");
        std::fs::write(
            &pipeline,
            fan_out_pipeline(&input, &windows, &alerts, &dead),
        )
        .unwrap();
        let run = weir(
            &[
                "run",
                pipeline.to_str().unwrap(),
                "--parallelism",
                parallelism,
            ],
            b"",
        );
        let stderr = text(&run.stderr);
        assert!(run.status.success(), "{stderr}");

        // The alerts: what the same query with one sink writes.
        let single = dir.path().join("single.toml");
        let single_out = dir.path().join("single.ndjson");
        std::fs::write(&single, sensor_pipeline(&input, &single_out, &dead)).unwrap();
        let reference = weir(
            &[
                "run",
                single.to_str().unwrap(),
                "--parallelism",
                parallelism,
            ],
            b"",
        );
        assert!(reference.status.success(), "{}", text(&reference.stderr));
        assert!(
            std::fs::read(&alerts).unwrap() == std::fs::read(&single_out).unwrap(),
            "the alerts sink differs from the one-sink run at parallelism {parallelism}"
        );

        // The windows: every window fired, once, and the alerts are exactly
        // those of them with more than five hot readings.
        let window_rows = json_lines(&windows);
        assert_eq!(
            window_rows.len() as u64,
            summary_count(&stderr, "windows fired"),
            "{stderr}"
        );
        let all = windows_of(window_rows.iter());
        assert_eq!(all.len(), window_rows.len(), "no window twice");
        let alerted: BTreeSet<_> = all.iter().filter(|w| w.2 > 5).cloned().collect();
        assert!(alerted.len() > 10, "the workload raises alerts");
        assert_eq!(windows_of(json_lines(&alerts).iter()), alerted);
        assert_eq!(
            summary_count(&stderr, "results out"),
            (window_rows.len() + alerted.len()) as u64
        );
    }
}

#[test]
fn sink_tables_that_cannot_work_are_refused_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ndjson");
    let (windows, alerts, dead) = (
        dir.path().join("w.ndjson"),
        dir.path().join("a.ndjson"),
        dir.path().join("d.ndjson"),
    );
    let fan_out = fan_out_pipeline(&input, &windows, &alerts, &dead);
    let cases = [
        (
            fan_out.replace("from = \"window-2\"", "from = \"windw-2\""),
            "from = \"windw-2\" names no stage; the stages are: hot, window-2, alert",
        ),
        (
            format!("{}\n[sink]\nkind = \"console\"\n", fan_out),
            "use either one [sink] table or [[sinks]] tables, not both",
        ),
        (
            sensor_pipeline(&input, &alerts, &dead)
                .lines()
                .filter(|l| !l.starts_with("sink = "))
                .collect::<Vec<_>>()
                .join("\n"),
            "where do results go? add a [sink] table (or [[sinks]] tables)",
        ),
    ];
    for (text_of_file, expected) in cases {
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, &text_of_file).unwrap();
        let out = weir(&["validate", file.to_str().unwrap()], b"");
        assert_eq!(out.status.code(), Some(1), "{text_of_file}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expected), "{expected}\n{stderr}");
        assert!(
            stderr.contains("bad.toml:"),
            "the error names the file: {stderr}"
        );
    }
}
