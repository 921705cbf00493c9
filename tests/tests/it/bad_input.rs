//! Bad input and bad pipelines: clear errors that say where, and nothing lost.

use std::fs;

use weir_tests::*;

fn write(dir: &tempfile::TempDir, name: &str, contents: &str) -> String {
    let path = dir.path().join(name);
    fs::write(&path, contents).unwrap();
    path.display().to_string()
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
        "= hint: remove it, or see docs/pipeline-reference.md",
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

/// 0001-01-01 and 9999-12-31T23:59:59.999, the range weir accepts.
const EVENT_TIME_MIN: i64 = -62_135_596_800_000;
const EVENT_TIME_MAX: i64 = 253_402_300_799_999;

/// Event times from the whole `i64` range — its edges, the accepted range's
/// edges and 400 drawn at random (seed printed) — among ordinary readings.
fn readings_at_extreme_times() -> (String, Vec<i64>) {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("extreme event times seeded with {seed}");
    let mut state = seed;
    let mut times = vec![
        i64::MIN,
        i64::MIN + 1,
        -9_223_372_036_854_775_000,
        EVENT_TIME_MIN - 1,
        EVENT_TIME_MIN,
        -1,
        0,
        EVENT_TIME_MAX,
        EVENT_TIME_MAX + 1,
        i64::MAX - 1,
        i64::MAX,
    ];
    for i in 0..400 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Three quarters from the whole range, a quarter inside the accepted one.
        times.push(if i % 4 == 3 {
            EVENT_TIME_MIN + (state % (EVENT_TIME_MAX - EVENT_TIME_MIN) as u64) as i64
        } else {
            state as i64
        });
    }
    let mut lines = String::new();
    let base = 1_768_464_000_000i64;
    for (i, &t) in times.iter().enumerate() {
        for j in 0..3 {
            let ordinary = base + (i * 3 + j) as i64 * 700;
            lines += &format!(
                "{{\"sensor_id\":\"s{}\",\"temperature\":101,\"event_time\":{ordinary}}}\n",
                j % 2
            );
        }
        lines += &format!("{{\"sensor_id\":\"x\",\"temperature\":101,\"event_time\":{t}}}\n");
    }
    (lines, times)
}

/// One event time near `i64::MIN` once made a window fire without end until
/// the host was killed for its memory. Every window kind, with and without
/// allowed lateness, over event times from the whole `i64` range: the run
/// ends, within bounded memory, with each time outside the accepted range
/// dead-lettered as such, and every accepted event counted once.
#[test]
fn event_times_across_the_whole_i64_range_never_take_a_window_down() {
    let (input, times) = readings_at_extreme_times();
    let outside = times
        .iter()
        .filter(|&&t| !(EVENT_TIME_MIN..=EVENT_TIME_MAX).contains(&t))
        .count();
    let windows = [
        r#"kind = "tumbling"
size = "10s""#,
        r#"kind = "tumbling"
size = "10s"
allowed_lateness = "30s""#,
        r#"kind = "sliding"
size = "10s"
slide = "5s""#,
        r#"kind = "session"
gap = "5s""#,
    ];
    for window in windows {
        let dir = tempfile::tempdir().unwrap();
        let (output, dead) = (dir.path().join("out.jsonl"), dir.path().join("dead.jsonl"));
        let pipeline = write(
            &dir,
            "p.toml",
            &format!(
                r#"
source = {{ kind = "stdin" }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "i64" }}
event_time = {{ field = "event_time", max_out_of_orderness = "5s" }}
sink = {{ kind = "file", path = "{}" }}
dead_letter = {{ path = "{}" }}

[[operators]]
type = "window"
{window}
key_by = "sensor_id"
aggregates = {{ n = "count" }}
"#,
                output.display(),
                dead.display()
            ),
        );
        let out = weir_bounded(
            &["run", &pipeline],
            input.as_bytes(),
            std::time::Duration::from_secs(120),
            1024,
        )
        .within_bounds();
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{window}:\n{stderr}");
        let letters = json_lines(&fs::read_to_string(&dead).unwrap());
        let refused = letters
            .iter()
            .filter(|l| {
                l["reason"]
                    .as_str()
                    .unwrap()
                    .contains("outside the range weir accepts")
            })
            .count();
        assert_eq!(
            refused, outside,
            "{window}: each time outside the range is refused once"
        );
        let records = summary_count(&stderr, "records read");
        assert_eq!(records, times.len() as u64 * 4);
        if !window.contains("sliding") {
            // Every event is in one window's count, or dead-lettered.
            // An update carries the window's whole new count: the last row
            // of each window counts.
            let mut last = std::collections::BTreeMap::new();
            for row in json_lines(&fs::read_to_string(&output).unwrap()) {
                let window = (
                    row["sensor_id"].to_string(),
                    row["window_start"].to_string(),
                );
                last.insert(window, row["n"].as_u64().unwrap());
            }
            let counted: u64 = last.values().sum();
            assert_eq!(
                counted + letters.len() as u64,
                records,
                "{window}: counted {counted}, dead-lettered {}",
                letters.len()
            );
        }
    }
}

/// A component built against another version of weir's WIT is refused,
/// naming both versions, even when its functions have the same shapes.
#[test]
fn a_plugin_built_against_another_wit_version_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = fs::read(plugin("over_threshold.wasm")).unwrap();
    let needle: &[u8] = b"weir:plugin/types@0.3.0";
    let mut patched = Vec::with_capacity(bytes.len());
    let mut rest = &bytes[..];
    let mut replaced = 0;
    while let Some(at) = rest.windows(needle.len()).position(|w| w == needle) {
        patched.extend_from_slice(&rest[..at]);
        patched.extend_from_slice(b"weir:plugin/types@0.2.0");
        rest = &rest[at + needle.len()..];
        replaced += 1;
    }
    patched.extend_from_slice(rest);
    assert!(replaced > 0, "the component names its WIT package");
    let old = dir.path().join("old.wasm");
    fs::write(&old, patched).unwrap();
    let stderr = refused(&stdin_pipeline(
        r#"{ temperature = "f64", event_time = "i64" }"#,
        &format!(
            "type = \"plugin\"\npath = \"{}\"\nconfig = {{ threshold = 1.0 }}",
            old.display()
        ),
    ));
    assert!(
        stderr.contains("built against weir:plugin@0.2.0")
            && stderr.contains("this host implements weir:plugin@0.3.0"),
        "{stderr}"
    );
}

#[test]
fn a_byte_order_mark_at_the_start_of_a_json_file_is_not_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(
        &dir,
        "in.ndjson",
        "\u{feff}{\"sensor_id\":\"s1\",\"temperature\":101,\"event_time\":1000}\n",
    );
    let (output, dead) = (dir.path().join("out.jsonl"), dir.path().join("dead.jsonl"));
    let pipeline = write(
        &dir,
        "p.toml",
        &sensor_pipeline(data.as_ref(), &output, &dead),
    );
    let out = weir(&["run", &pipeline], b"");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(summary_count(&stderr, "events in"), 1, "{stderr}");
    assert!(stderr.contains("undecodable 0"), "{stderr}");
}

/// Parallelism comes from the file or the command line; either way it is
/// 1 to 128 (the key groups), and the file's is refused at its place.
#[test]
fn a_parallelism_outside_the_key_groups_is_refused() {
    let pipeline = |parallelism: &str| {
        format!(
            "parallelism = {parallelism}\nsource = {{ kind = \"stdin\" }}\nschema = {{ t = \"i64\" }}\nevent_time = {{ field = \"t\", max_out_of_orderness = \"5s\" }}\nsink = {{ kind = \"console\" }}\n"
        )
    };
    for bad in ["0", "129"] {
        let said = refused(&pipeline(bad));
        let expected = format!(
            "p.toml:1:15: parallelism must be between 1 and 128 (the number of key groups), got {bad}"
        );
        assert!(said.contains(&expected), "{expected}\n{said}");
    }
    let dir = tempfile::tempdir().unwrap();
    let good = write(&dir, "p.toml", &pipeline("128"));
    assert!(weir(&["validate", &good], b"").status.success());
    for command in ["run", "explain"] {
        for bad in ["0", "200"] {
            let out = weir(&[command, &good, "--parallelism", bad], b"");
            assert_eq!(out.status.code(), Some(1), "{command} --parallelism {bad}");
            let stderr = text(&out.stderr);
            let expected = format!(
                "--parallelism must be between 1 and 128 (the number of key groups), got {bad}"
            );
            assert!(stderr.contains(&expected), "{expected}\n{stderr}");
        }
    }
}
