//! Bad input and bad pipelines: clear errors that say where, and nothing lost.

use std::fs;

use weir_tests::*;

fn write(dir: &tempfile::TempDir, name: &str, contents: &str) -> String {
    let path = dir.path().join(name);
    fs::write(&path, contents).unwrap();
    path.display().to_string()
}

/// A stdin pipeline with `schema` (an inline table) and one operator table.
fn stdin_pipeline(schema: &str, operator: &str) -> String {
    format!(
        r#"
source = {{ kind = "stdin" }}
schema = {schema}
event_time = {{ field = "event_time", max_out_of_orderness = "5s" }}
sink = {{ kind = "console" }}

[[operators]]
{operator}
"#
    )
}

/// Writes `pipeline` as `p.toml`, checks that `weir validate` refuses it, and
/// returns what it said.
fn refused(pipeline: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "p.toml", pipeline);
    let out = weir(&["validate", &path], b"");
    assert!(!out.status.success(), "weir validate accepted:\n{pipeline}");
    text(&out.stderr)
}

/// An `[[operators]]` body loading a component from plugins/dist.
fn plugin_operator(wasm: &str, config: &str) -> String {
    format!(
        "type = \"plugin\"\npath = \"{}\"\nconfig = {config}",
        plugin(wasm)
    )
}

#[test]
fn malformed_lines_are_dead_lettered_with_their_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let input = [
        r#"{"sensor_id":"s1","temperature":101,"event_time":1000}"#,
        r#"{"sensor_id":"s1","temperature":"hot","event_time":1001}"#,
        r#"not json at all"#,
        r#"{"sensor_id":"s1","temperature":102,"event_time":1002}"#,
        r#"{"sensor_id":"s1","event_time":1003}"#,
        r#"{"sensor_id":"s1","temperature":103,"event_time":1004"#,
    ]
    .join("\n");
    let data = write(&dir, "in.ndjson", &input);
    let (out_path, dead_path) = (
        dir.path().join("out.ndjson"),
        dir.path().join("dead.ndjson"),
    );
    let pipeline = write(
        &dir,
        "p.toml",
        &sensor_pipeline(data.as_ref(), &out_path, &dead_path),
    );
    let out = weir(&["run", &pipeline], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));

    let letters = json_lines(&fs::read_to_string(&dead_path).unwrap());
    let located: Vec<(String, String)> = letters
        .iter()
        .map(|l| {
            (
                l["source"]
                    .as_str()
                    .unwrap()
                    .rsplit(':')
                    .next()
                    .unwrap()
                    .to_string(),
                l["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(located.len(), 4, "{located:?}");
    assert_eq!(located[0].0, "2");
    assert!(
        located[0]
            .1
            .contains("field `temperature`: expected a number, found string \"hot\""),
        "{}",
        located[0].1
    );
    assert_eq!(located[1].0, "3");
    assert_eq!(
        located[2],
        ("5".to_string(), "missing field `temperature`".to_string())
    );
    assert_eq!(located[3].0, "6", "a truncated last line is a record too");
    assert_eq!(
        letters[1]["record"], "not json at all",
        "the raw line is kept"
    );
    let stderr = text(&out.stderr);
    assert_eq!(summary_count(&stderr, "records read"), 6);
    assert!(stderr.contains("undecodable 4"), "{stderr}");
}

#[test]
fn a_plugin_that_reads_a_missing_field_is_refused_at_load() {
    // The alert plugin reads `count` and `window_end`: without a window before it, they do not exist.
    let stderr = refused(&stdin_pipeline(
        r#"{ sensor_id = "string", temperature = "f64", event_time = "timestamp" }"#,
        &plugin_operator("spike_alert.wasm", r#"{ min_count = 5 }"#),
    ));
    assert!(
        stderr.contains("p.toml:7:1: operator #1: plugin `spike-alert` does not fit the pipeline"),
        "{stderr}"
    );
    assert!(stderr.contains("it reads field `window_end` (timestamp), which the pipeline does not have at this point"), "{stderr}");
}

#[test]
fn a_field_of_the_wrong_type_is_refused_at_load() {
    let stderr = refused(&stdin_pipeline(
        r#"{ temperature = "i64", event_time = "i64" }"#,
        &plugin_operator("over_threshold.wasm", r#"{ threshold = 100.0 }"#),
    ));
    assert!(
        stderr.contains("it reads field `temperature` as f64, but the pipeline has it as i64"),
        "{stderr}"
    );
}

#[test]
fn a_plugin_rejecting_its_config_stops_the_load_with_its_reason() {
    let stderr = refused(&stdin_pipeline(
        r#"{ temperature = "f64", event_time = "i64" }"#,
        &plugin_operator("over_threshold.wasm", r#"{ threshold = "hot" }"#),
    ));
    assert!(stderr.contains("plugin `over-threshold` rejected its config: invalid config: invalid type: string \"hot\", expected f64"), "{stderr}");
}

#[test]
fn pipeline_file_errors_name_the_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "source = { kind = \"stdin\" }\nschema = { t = \"float\" }\n",
            "p.toml:2:16: unknown variant `float`, expected one of `string`, `f64`, `i64`, `bool`, `timestamp`",
        ),
        (
            "source = { kind = \"stdin\" }\nschema = { t = \"i64\" }\nevent_time = { field = \"time\", max_out_of_orderness = \"5s\" }\nsink = { kind = \"console\" }\n",
            "p.toml:3:24: event_time field `time` is not in the schema; available: t (i64)",
        ),
        (
            "source = { kind = \"stdin\" }\nschema = { t = \"i64\" }\nevent_time = { field = \"t\", max_out_of_orderness = \"five\" }\nsink = { kind = \"console\" }\n",
            "p.toml:3:52: `five` is not a duration",
        ),
        (
            "source = { kind = \"stdin\", pth = \"x\" }\n",
            "p.toml:1:28: unknown field `pth`",
        ),
        (
            "source = { kind = \"stdin\" }\nschema = { t = \"i64\" }\nevent_time = { field = \"t\", max_out_of_orderness = \"5s\" }\n[sink]\nkind = \"console\"\nbatch_size = 10\n",
            "p.toml:6:1: unknown field `batch_size`",
        ),
    ];
    let hints = [
        "= hint: field types are string, f64, i64, bool and timestamp: did you mean `f64`?",
        "",
        "",
        "= hint: remove it, or see the pipeline file reference",
        "= hint: `batch_size` belongs at the top level",
    ];
    for ((contents, expected), hint) in cases.into_iter().zip(hints) {
        let pipeline = write(&dir, "p.toml", contents);
        let out = weir(&["validate", &pipeline], b"");
        assert!(!out.status.success());
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(expected),
            "expected `{expected}` in:\n{stderr}"
        );
        assert!(stderr.contains(hint), "expected `{hint}` in:\n{stderr}");
    }
}

#[test]
fn a_window_on_a_missing_key_is_refused() {
    let stderr = refused(&stdin_pipeline(
        r#"{ sensor_id = "string", event_time = "i64" }"#,
        "type = \"window\"\nsize = \"10s\"\nkey_by = \"sensor\"\naggregates = { n = \"count\" }",
    ));
    assert!(
        stderr.contains(
            "p.toml:10:11: operator #1 (`window-1`): key_by field `sensor` is not in the input"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "10 | key_by = \"sensor\"\n   |           ^^^^^^\n   = hint: did you mean `sensor_id`?"
        ),
        "the line, the word and a hint:\n{stderr}"
    );
}

#[test]
fn every_kind_of_malformed_input_is_dead_lettered_and_the_run_continues() {
    let dir = tempfile::tempdir().unwrap();
    let good = |t: i64| {
        format!("{{\"sensor_id\":\"s1\",\"temperature\":101,\"event_time\":{t}}}\n").into_bytes()
    };
    let mut input = Vec::new();
    input.extend(good(1_000)); // line 1
    input.extend(b"{\"sensor_id\":\"s\xff\xfe\",\"temperature\":101,\"event_time\":1001}\n"); // 2: not UTF-8
    input.extend(format!("{{\"sensor_id\":\"{}\"}}\n", "x".repeat(10 << 20)).into_bytes()); // 3: a 10 MB line
    input.extend(good(7_258_118_400_000)); // 4: the year 2200
    input.extend(good(2_000)); // 5: still on time: the year-2200 event did not move the watermark
    input.extend(good(-86_400_000)); // 6: 1969, behind the watermark: late, not an error
    input.extend(b"\n   \n"); // 7, 8: blank lines are not records
    input.extend(good(3_000)); // 9
    let data = dir.path().join("in.ndjson");
    fs::write(&data, &input).unwrap();
    let (out_path, dead_path) = (
        dir.path().join("out.ndjson"),
        dir.path().join("dead.ndjson"),
    );
    let pipeline = sensor_pipeline(&data, &out_path, &dead_path).replace(
        r#"source = { kind = "file", path"#,
        r#"source = { kind = "file", max_line_bytes = 1048576, path"#,
    );
    let pipeline_path = write(&dir, "p.toml", &pipeline);
    let out = weir(&["run", &pipeline_path], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));

    let letters = json_lines(&fs::read_to_string(&dead_path).unwrap());
    let by_line = |line: &str| {
        letters
            .iter()
            .find(|l| l["source"].as_str().unwrap().ends_with(&format!(":{line}")))
            .unwrap_or_else(|| panic!("no dead letter for line {line}: {letters:?}"))["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        by_line("2").contains("invalid unicode") || by_line("2").contains("UTF-8"),
        "{}",
        by_line("2")
    );
    assert!(
        by_line("3").contains("over the limit (source max_line_bytes)"),
        "{}",
        by_line("3")
    );
    assert!(
        by_line("4").contains("implausible event time 2200-01-01"),
        "{}",
        by_line("4")
    );
    assert!(by_line("6").starts_with("late:"), "{}", by_line("6"));
    assert_eq!(letters.len(), 4, "{letters:?}");
    let stderr = text(&out.stderr);
    assert_eq!(summary_count(&stderr, "events in"), 4, "lines 1, 5, 6, 9");
    assert!(stderr.contains("undecodable 3, late 1"), "{stderr}");
}

#[test]
fn an_empty_file_is_an_empty_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("in.ndjson");
    fs::write(&data, "").unwrap();
    let (out_path, dead_path) = (
        dir.path().join("out.ndjson"),
        dir.path().join("dead.ndjson"),
    );
    let pipeline = write(
        &dir,
        "p.toml",
        &sensor_pipeline(&data, &out_path, &dead_path),
    );
    let out = weir(&["run", &pipeline], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(fs::read_to_string(&out_path).unwrap(), "");
    assert_eq!(summary_count(&text(&out.stderr), "records read"), 0);
}

#[test]
fn a_corrupt_compiled_component_in_the_cache_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let pipeline = write(
        &dir,
        "p.toml",
        &stdin_pipeline(
            r#"{ temperature = "f64", event_time = "i64" }"#,
            &plugin_operator("over_threshold.wasm", r#"{ threshold = 1.0 }"#),
        ),
    );
    let validate = || {
        let out = std::process::Command::new(weir_binary())
            .args(["validate", &pipeline])
            .env("WEIR_CACHE_DIR", &cache)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        out
    };
    validate();
    let entries: Vec<_> = fs::read_dir(cache.join("components"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "one compiled component cached: {entries:?}"
    );
    let size = fs::metadata(&entries[0]).unwrap().len();
    fs::write(&entries[0], b"not a compiled component").unwrap();
    let out = validate();
    assert!(
        text(&out.stderr).contains("ignoring an unusable cached component"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        fs::metadata(&entries[0]).unwrap().len(),
        size,
        "the entry is rewritten"
    );
}
