//! CSV input through `weir run`: the seed query on readings written as CSV
//! (by header, and by declared columns), bad records dead-lettered with
//! their line and column, and a resumed run that reads the header again.

use std::path::Path;

use weir_tests::{
    json_lines, parse_alerts, parse_readings, plugin, reference_alerts, seed_query, summary_count,
    text, weir, Reading,
};

/// `readings` as CSV: columns reordered around an extra one, a header when asked.
fn to_csv(readings: &[Reading], header: bool, delimiter: char) -> String {
    let d = delimiter;
    let mut out = String::new();
    if header {
        out.push_str(&format!("event_time{d}site{d}sensor_id{d}temperature\n"));
    }
    for r in readings {
        out.push_str(&format!(
            "{}{d}\"Oslo{d} north\"{d}{}{d}{}\n",
            r.event_time, r.sensor_id, r.temperature
        ));
    }
    out
}

fn csv_pipeline(input: &Path, output: &Path, dead: &Path, csv: &str) -> String {
    let source = format!(
        r#"{{ kind = "file", path = "{}", format = "csv"{csv} }}"#,
        input.display()
    );
    seed_query(
        &source,
        Path::new(&plugin("over_threshold.wasm")),
        output,
        Some(dead),
    )
}

#[test]
fn the_seed_query_on_csv_raises_the_alerts_it_raises_on_json() {
    let dir = tempfile::tempdir().unwrap();
    let readings = parse_readings(&weir_tests::generated(40_000, 8, 0.0));
    let (mut expected, _) = reference_alerts(&readings, 5_000, 100.0, 5);
    expected.sort();
    assert!(expected.len() > 20);
    for (csv, header, delimiter) in [
        ("", true, ','),
        (
            r#", csv = { header = false, delimiter = ";", columns = ["event_time", "site", "sensor_id", "temperature"] }"#,
            false,
            ';',
        ),
    ] {
        let input = dir.path().join("readings.csv");
        let mut text_ = to_csv(&readings, header, delimiter);
        // One bad record, after the header (if any) and 2 readings.
        let bad_line = 3 + usize::from(header);
        let mut lines: Vec<&str> = text_.lines().collect();
        let bad = format!("1700000000000{delimiter}x{delimiter}s1{delimiter}warm");
        lines.insert(bad_line - 1, &bad);
        text_ = lines.join("\n") + "\n";
        std::fs::write(&input, &text_).unwrap();
        let (output, dead) = (dir.path().join("out.jsonl"), dir.path().join("dead.jsonl"));
        let pipeline = dir.path().join("csv.toml");
        std::fs::write(&pipeline, csv_pipeline(&input, &output, &dead, csv)).unwrap();
        let run = weir(&["run", pipeline.to_str().unwrap()], b"");
        let stderr = text(&run.stderr);
        assert!(run.status.success(), "{stderr}");

        let mut got = parse_alerts(&std::fs::read_to_string(&output).unwrap());
        got.sort();
        assert_eq!(got, expected, "{csv}");
        let dead = json_lines(&std::fs::read_to_string(&dead).unwrap());
        assert_eq!(dead.len(), 1, "{dead:?}");
        assert_eq!(
            dead[0]["reason"],
            "column 4 (`temperature`): `warm` is not a number"
        );
        assert!(
            dead[0]["source"]
                .as_str()
                .unwrap()
                .ends_with(&format!("readings.csv:{bad_line}")),
            "{dead:?}"
        );
        assert_eq!(
            summary_count(&stderr, "records read"),
            readings.len() as u64 + 1
        );
    }
}

#[test]
fn a_resumed_run_reads_the_header_from_the_top_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let readings = parse_readings(&weir_tests::generated(3_000, 2, 0.0));
    let input = dir.path().join("readings.csv");
    std::fs::write(&input, to_csv(&readings[..2_000], true, ',')).unwrap();
    let output = dir.path().join("out.jsonl");
    let pipeline = dir.path().join("csv.toml");
    let head = weir_tests::sensor_pipeline_head("csv-resume", &input, "i64")
        .replace("kind = \"file\"\n", "kind = \"file\"\nformat = \"csv\"\n");
    std::fs::write(
        &pipeline,
        format!(
            "{head}[sink]\nkind = \"file\"\npath = \"{}\"\n[checkpoint]\ndir = \"{}\"\n",
            output.display(),
            dir.path().join("checkpoints").display()
        ),
    )
    .unwrap();
    let run = weir(&["run", pipeline.to_str().unwrap()], b"");
    assert!(run.status.success(), "{}", text(&run.stderr));
    // More readings, and a run that resumes past the header.
    let more = to_csv(&readings[2_000..], false, ',');
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    std::io::Write::write_all(&mut file, more.as_bytes()).unwrap();
    let run = weir(&["run", pipeline.to_str().unwrap()], b"");
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("resum"), "{stderr}");

    let got = json_lines(&std::fs::read_to_string(&output).unwrap());
    assert_eq!(got.len(), readings.len(), "each reading once");
    for (row, reading) in got.iter().zip(&readings) {
        assert_eq!(row["sensor_id"], reading.sensor_id.as_str());
        assert_eq!(row["event_time"], reading.event_time);
    }
}

#[test]
fn bad_csv_settings_are_refused_when_the_pipeline_loads() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.csv");
    let (output, dead) = (dir.path().join("out.jsonl"), dir.path().join("dead.jsonl"));
    for (csv, expected) in [
        (
            r#", csv = { delimiter = ";;" }"#,
            "csv delimiter must be one ASCII character",
        ),
        (
            r#", csv = { columns = ["a"] }"#,
            "csv columns are for files without a header line",
        ),
        (
            r#", csv = { header = false, columns = ["event_time", "sensor"] }"#,
            "the declared CSV columns: no column for the schema field `sensor_id`",
        ),
    ] {
        let pipeline = dir.path().join("csv.toml");
        std::fs::write(&pipeline, csv_pipeline(&input, &output, &dead, csv)).unwrap();
        let run = weir(&["validate", pipeline.to_str().unwrap()], b"");
        let stderr = text(&run.stderr);
        assert!(!run.status.success(), "accepted {csv}");
        assert!(stderr.contains(expected), "wanted `{expected}`: {stderr}");
        assert!(stderr.contains("csv.toml"), "{stderr}");
    }
    let pipeline = dir.path().join("csv.toml");
    let json = csv_pipeline(&input, &output, &dead, "")
        .replace(r#", format = "csv""#, r#", csv = { header = false }"#);
    std::fs::write(&pipeline, json).unwrap();
    let run = weir(&["validate", pipeline.to_str().unwrap()], b"");
    assert!(
        text(&run.stderr).contains("a `csv` table needs format = \"csv\""),
        "{}",
        text(&run.stderr)
    );
}

/// A quoted field may hold a newline (RFC 4180): the record continues on the
/// next line instead of splitting into a dead letter and an invented
/// reading. A quote never closed is one dead letter naming it; NaN,
/// infinities and overflow are refused as in JSON.
#[test]
fn quoted_newlines_stay_in_their_record_and_non_finite_numbers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output, dead) = (
        dir.path().join("in.csv"),
        dir.path().join("out.jsonl"),
        dir.path().join("dead.jsonl"),
    );
    std::fs::write(
        &input,
        "sensor_id,temperature,event_time\n\
         \"sensor-0001\n-north\",101.5,1000\n\
         plain,102.5,1001\n\
         nan,NaN,1002\n\
         inf,inf,1003\n\
         huge,1e999,1004\n\
         \"say \"\"hi\"\"\",103.5,1005\n\
         \"never closed,104.5,1006\n\
         after,105.5,1007\n",
    )
    .unwrap();
    let pipeline = dir.path().join("p.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"
source = {{ kind = "file", path = "{}", format = "csv" }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "i64" }}
event_time = {{ field = "event_time", max_out_of_orderness = "5s" }}
sink = {{ kind = "file", path = "{}" }}
dead_letter = {{ path = "{}" }}
"#,
            input.display(),
            output.display(),
            dead.display()
        ),
    )
    .unwrap();
    let out = weir(&["run", pipeline.to_str().unwrap()], b"");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let ids: Vec<String> = json_lines(&std::fs::read_to_string(&output).unwrap())
        .iter()
        .map(|r| r["sensor_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["sensor-0001\n-north", "plain", "say \"hi\""]);
    let letters = json_lines(&std::fs::read_to_string(&dead).unwrap());
    let reasons: Vec<(&str, &str)> = letters
        .iter()
        .map(|l| (l["source"].as_str().unwrap(), l["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    for (i, line) in [5, 6, 7].into_iter().enumerate() {
        assert!(reasons[i].0.ends_with(&format!(":{line}")), "{reasons:?}");
        assert!(
            reasons[i].1.contains("is not a finite number"),
            "{reasons:?}"
        );
    }
    // The unclosed quote swallows the rest of the file: one record, at its first line.
    assert!(reasons[3].0.ends_with(":9"), "{reasons:?}");
    assert!(
        reasons[3].1.contains("quoted field is never closed"),
        "{reasons:?}"
    );
    assert_eq!(summary_count(&stderr, "records read"), 7);
}
