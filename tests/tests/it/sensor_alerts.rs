//! The seed query end to end: the real binary, the real plugin components.

use std::fs;

use weir_tests::*;

struct Run {
    alerts: String,
    dead_letters: String,
    stderr: String,
}

fn run_seed_query(input: &str, extra_args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (data, output, dead) = (
        dir.path().join("in.ndjson"),
        dir.path().join("alerts.ndjson"),
        dir.path().join("dead.ndjson"),
    );
    fs::write(&data, input).unwrap();
    let pipeline = dir.path().join("pipeline.toml");
    fs::write(&pipeline, sensor_pipeline(&data, &output, &dead)).unwrap();
    let mut args = vec!["run", pipeline.to_str().unwrap()];
    args.extend_from_slice(extra_args);
    let out = weir(&args, b"");
    assert!(
        out.status.success(),
        "weir run failed: {}",
        text(&out.stderr)
    );
    Run {
        alerts: fs::read_to_string(&output).unwrap(),
        // Positions name the input file, whose temporary directory differs per run.
        dead_letters: fs::read_to_string(&dead)
            .unwrap()
            .replace(data.to_str().unwrap(), "<input>"),
        stderr: text(&out.stderr),
    }
}

#[test]
fn alerts_equal_the_reference_model_including_late_events() {
    let input = generated(120_000, 11, 0.002);
    let (expected, late) = reference_alerts(&parse_readings(&input), 5_000, 100.0, 5);
    assert!(
        expected.len() > 100,
        "the workload should raise alerts; got {}",
        expected.len()
    );
    assert!(
        late > 10,
        "the workload should have late events; got {late}"
    );

    let run = run_seed_query(&input, &[]);
    assert_eq!(parse_alerts(&run.alerts), expected);
    let late_letters = run
        .dead_letters
        .lines()
        .filter(|l| l.contains(r#""kind":"late""#))
        .count();
    assert_eq!(
        late_letters, late,
        "every late hot reading is dead-lettered, no more"
    );
    assert!(
        run.stderr.contains(&format!("late {late}")),
        "summary counts late events:\n{}",
        run.stderr
    );
}

#[test]
fn output_does_not_depend_on_batch_size_or_decoder_threads() {
    let input = generated(30_000, 5, 0.01);
    let reference = run_seed_query(&input, &["--batch-size", "1024", "--decoders", "1"]);
    assert!(reference.alerts.lines().count() > 10 && reference.dead_letters.lines().count() > 10);
    for (size, decoders) in [("1", "2"), ("7", "3"), ("333", "4"), ("1024", "4")] {
        let run = run_seed_query(&input, &["--batch-size", size, "--decoders", decoders]);
        let case = format!("batch size {size}, {decoders} decoders");
        assert!(run.alerts == reference.alerts, "alerts differ at {case}");
        assert!(
            run.dead_letters == reference.dead_letters,
            "dead letters differ at {case}"
        );
    }
}

#[test]
fn the_last_windows_fire_at_the_end_of_the_input() {
    // Six hot readings of one sensor in [0, 10 s): the watermark never passes
    // the window's end, so only the end of the input can fire it.
    let input: String = (0..6)
        .map(|i| {
            Reading {
                sensor_id: "s1".into(),
                temperature: 101.0,
                event_time: i * 1_000,
            }
            .to_json()
                + "\n"
        })
        .collect();
    let run = run_seed_query(&input, &[]);
    assert_eq!(
        parse_alerts(&run.alerts),
        vec![("s1".to_string(), 10_000, 6)]
    );
}

#[test]
fn the_bundled_pipeline_prints_alerts_from_the_sample_data() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = weir(
        &[
            "run",
            root.join("pipelines/sensor-alerts.toml").to_str().unwrap(),
        ],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let sample = fs::read_to_string(root.join("data/sensors-sample.ndjson")).unwrap();
    let readings: Vec<Reading> = sample
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            Reading {
                sensor_id: v["sensor_id"].as_str().unwrap().into(),
                temperature: v["temperature"].as_f64().unwrap(),
                event_time: weir::format::timestamp::parse(v["event_time"].as_str().unwrap())
                    .unwrap(),
            }
        })
        .collect();
    let (expected, _) = reference_alerts(&readings, 5_000, 100.0, 5);
    assert_eq!(stdout.lines().count(), expected.len(), "{stdout}");
    for ((sensor, _, count), line) in expected.iter().zip(stdout.lines()) {
        assert!(line.starts_with(&format!("sensor_id={sensor} ")), "{line}");
        assert!(line.contains(&format!("count={count} ")), "{line}");
    }
}

#[test]
fn a_map_plugin_adds_fields_and_reads_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.ndjson");
    let pipeline = dir.path().join("p.toml");
    fs::write(
        &pipeline,
        format!(
            r#"
source = {{ kind = "stdin" }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "i64" }}
event_time = {{ field = "event_time", max_out_of_orderness = "1s" }}
sink = {{ kind = "file", path = "{output}" }}

[[operators]]
type = "plugin"
path = "{map}"
config = {{ decimals = 1 }}
"#,
            output = output.display(),
            map = plugin("fahrenheit_to_celsius.wasm")
        ),
    )
    .unwrap();
    let input = "{\"sensor_id\":\"a\",\"temperature\":212,\"event_time\":5}\n{\"sensor_id\":\"b\",\"temperature\":100.0,\"event_time\":6}\n";
    let out = weir(&["run", pipeline.to_str().unwrap()], input.as_bytes());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        fs::read_to_string(&output).unwrap(),
        "{\"sensor_id\":\"a\",\"temperature\":212.0,\"event_time\":5,\"temperature_c\":100.0}\n\
         {\"sensor_id\":\"b\",\"temperature\":100.0,\"event_time\":6,\"temperature_c\":37.8}\n"
    );
}

#[test]
fn a_plugin_sees_no_files_environment_clock_or_network() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.ndjson");
    let pipeline = dir.path().join("p.toml");
    // A listener the probe is told to connect to: a connection that gets
    // through is seen here, whatever error the probe then reports.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    fs::write(dir.path().join("beside.txt"), "the pipeline's directory").unwrap();
    let cwd = std::env::current_dir().unwrap();
    let paths = [
        "/".to_string(),
        ".".to_string(),
        "/etc/passwd".to_string(),
        "/tmp".to_string(),
        "/proc/self/environ".to_string(),
        dir.path().display().to_string(),
        dir.path().join("beside.txt").display().to_string(),
        cwd.display().to_string(),
        "Cargo.toml".to_string(),
    ];
    let paths_toml = paths
        .iter()
        .map(|p| format!("{p:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    fs::write(
        &pipeline,
        format!(
            r#"
source = {{ kind = "stdin" }}
schema = {{ event_time = "i64" }}
event_time = {{ field = "event_time", max_out_of_orderness = "1s" }}
sink = {{ kind = "file", path = "{output}" }}

[[operators]]
type = "plugin"
path = "{probe}"
config = {{ port = {port}, paths = [{paths_toml}] }}
"#,
            output = output.display(),
            probe = plugin("sandbox_probe.wasm")
        ),
    )
    .unwrap();
    // The host itself has plenty of environment; none of it may leak in.
    let out = weir(
        &["run", pipeline.to_str().unwrap()],
        b"{\"event_time\": 1}\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let probe: serde_json::Value =
        serde_json::from_str(fs::read_to_string(&output).unwrap().trim()).unwrap();
    assert_eq!(probe["files_open"], 0, "{probe}");
    let files = probe["files"].as_str().unwrap();
    assert_eq!(files.matches(": denied").count(), paths.len(), "{probe}");
    assert_eq!(probe["env_vars"], 0, "{probe}");
    assert_eq!(
        probe["wall_clock_ms"], 0,
        "the clock is frozen at the epoch: {probe}"
    );
    assert!(
        probe["network"].as_str().unwrap().starts_with("denied"),
        "{probe}"
    );
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the plugin reached the listener: {other:?}"),
    }
}
