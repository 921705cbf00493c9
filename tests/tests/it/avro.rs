//! "JSON in, Avro out": the seed query's alerts written as an Avro container
//! file and read back with an independent Avro implementation (apache-avro),
//! equal to the same run's JSON output; and, with checkpoints, a file that
//! two runs append to stays one readable container.

use std::path::Path;

use apache_avro::types::Value as Avro;
use serde_json::Value;
use weir_tests::{json_lines, text, weir};

/// Every record of the container file at `path`, as (field, value) pairs.
fn read_avro(path: &Path) -> (String, Vec<Vec<(String, Avro)>>) {
    let file = std::fs::File::open(path).unwrap();
    let reader = apache_avro::Reader::new(file).expect("an Avro container file");
    let schema = reader.writer_schema().canonical_form();
    let records = reader
        .map(|record| match record.expect("a readable record") {
            Avro::Record(fields) => fields,
            other => panic!("not a record: {other:?}"),
        })
        .collect();
    (schema, records)
}

/// The JSON value weir writes for an Avro value.
fn as_json(value: &Avro) -> Value {
    match value {
        Avro::String(s) => Value::from(s.as_str()),
        Avro::Long(v) => Value::from(*v),
        Avro::Double(v) => Value::from(*v),
        Avro::Boolean(v) => Value::from(*v),
        Avro::TimestampMillis(ms) => Value::from(weir::format::timestamp::format(*ms)),
        other => panic!("unexpected Avro value {other:?}"),
    }
}

#[test]
fn alerts_as_avro_read_back_equal_to_the_json_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    std::fs::write(&input, weir_tests::generated(40_000, 12, 0.001)).unwrap();
    let avro_out = dir.path().join("alerts.avro");
    let expected = weir_tests::seed_query_twice(
        dir.path(),
        &input,
        &format!(
            r#"{{ kind = "file", path = "{}", format = "avro" }}"#,
            avro_out.display()
        ),
    );
    let (schema, records) = read_avro(&avro_out);
    assert!(schema.contains(r#""name":"weir.alerts""#), "{schema}");
    assert_eq!(records.len(), expected.len());
    for (record, json) in records.iter().zip(&expected) {
        let object = json.as_object().unwrap();
        assert_eq!(record.len(), object.len());
        for (name, value) in record {
            assert_eq!(&as_json(value), &object[name], "field {name}");
        }
    }
}

#[test]
fn checkpointed_runs_append_to_one_readable_container() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    let readings = weir_tests::generated(4_000, 3, 0.0);
    let lines: Vec<&str> = readings.lines().collect();
    std::fs::write(&input, lines[..2_500].join("\n") + "\n").unwrap();
    let output = dir.path().join("readings.avro");
    let pipeline = dir.path().join("p.toml");
    let head = weir_tests::sensor_pipeline_head("avro-resume", &input, "i64");
    std::fs::write(
        &pipeline,
        format!(
            "{head}[sink]\nkind = \"file\"\npath = \"{}\"\nformat = \"avro\"\n[checkpoint]\ndir = \"{}\"\n",
            output.display(),
            dir.path().join("checkpoints").display()
        ),
    )
    .unwrap();
    let run = weir(&["run", pipeline.to_str().unwrap()], b"");
    assert!(run.status.success(), "{}", text(&run.stderr));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    std::io::Write::write_all(&mut file, (lines[2_500..].join("\n") + "\n").as_bytes()).unwrap();
    let run = weir(&["run", pipeline.to_str().unwrap()], b"");
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("resum"), "{stderr}");

    let (_, records) = read_avro(&output);
    let times: Vec<i64> = records
        .iter()
        .map(|r| match &r[2] {
            (name, Avro::Long(t)) if name == "event_time" => *t,
            other => panic!("{other:?}"),
        })
        .collect();
    let sent: Vec<i64> = json_lines(&readings)
        .iter()
        .map(|r| r["event_time"].as_i64().unwrap())
        .collect();
    assert_eq!(
        times, sent,
        "every reading once, in order, across both runs"
    );
}
