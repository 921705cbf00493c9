//! Helpers for the end-to-end tests: locating the built `weir` binary and the
//! plugin components, writing pipelines, and a plain reference model of the
//! seed query to compare weir's results against.

pub mod certificates;
pub mod kafka;
pub mod keyed_swap;
pub mod languages;
pub mod live;
pub mod object_store;
pub mod postgres;
pub mod receiver;
pub mod tls_proxy;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A file of the checkout, by its path from the repository's root.
pub fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// `plugins/dist`, where `scripts/build-plugins` puts the components.
pub fn plugin_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist");
    assert!(
        dir.join("over_threshold.wasm").exists(),
        "plugin components missing in {}: run scripts/build-plugins (scripts/test does)",
        dir.display()
    );
    dir.canonicalize().expect("plugins/dist resolves")
}

pub fn plugin(name: &str) -> String {
    plugin_dir().join(name).display().to_string()
}

/// The `weir` binary of the same build profile as this test.
pub fn weir_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let weir = profile_dir.join("weir");
    assert!(
        weir.exists(),
        "{} not built: run `cargo build --release -p weir-host` (scripts/test does)",
        weir.display()
    );
    weir
}

/// Runs `weir` with `args`, feeding `stdin`.
pub fn weir(args: &[&str], stdin: &[u8]) -> Output {
    let (child, feeder) = spawn_weir(args, stdin);
    let output = child.wait_with_output().expect("waiting for weir");
    feeder.join().expect("stdin feeder");
    output
}

/// Starts `weir` with `args` and a thread writing `stdin` to it.
fn spawn_weir(args: &[&str], stdin: &[u8]) -> (std::process::Child, std::thread::JoinHandle<()>) {
    use std::io::Write;
    let mut child = Command::new(weir_binary())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting weir");
    let mut input = child.stdin.take().expect("piped stdin");
    let stdin = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    (child, feeder)
}

/// A stdin pipeline with `schema` (an inline table) and one operator table,
/// its results on the console.
pub fn stdin_pipeline(schema: &str, operator: &str) -> String {
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

/// `weir validate file` fails (exit code 1) with `expected` in its message.
pub fn refused(file: &Path, expected: &str, context: &str) {
    let out = weir(&["validate", file.to_str().expect("utf-8 path")], b"");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{context}\n{stderr}");
    assert!(
        stderr.contains(expected),
        "{context}\nexpected `{expected}` in:\n{stderr}"
    );
}

/// What [`weir_bounded`] saw: the run's output, or the bound it broke.
pub enum Bounded {
    Finished(Output),
    /// Still running after the time bound; killed.
    TimedOut(String),
    /// Its resident memory passed the bound (MiB); killed.
    OutOfBounds(u64, String),
}

/// Runs `weir` as [`weir`] does, but kills it once it has run `limit` or its
/// resident memory passes `max_rss_mib`: for tests of defects that made the
/// host hang or eat the machine's memory, which must fail, not take the
/// machine down with them.
pub fn weir_bounded(
    args: &[&str],
    stdin: &[u8],
    limit: std::time::Duration,
    max_rss_mib: u64,
) -> Bounded {
    use std::io::Read;
    let (mut child, feeder) = spawn_weir(args, stdin);
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let started = std::time::Instant::now();
    let verdict = loop {
        if let Some(status) = child.try_wait().expect("waiting for weir") {
            break Ok(status);
        }
        let rss = rss_mib(child.id());
        if rss > max_rss_mib {
            break Err(Some(rss));
        }
        if started.elapsed() > limit {
            break Err(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    if verdict.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = feeder.join();
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    match verdict {
        Ok(status) => Bounded::Finished(Output {
            status,
            stdout,
            stderr,
        }),
        Err(None) => Bounded::TimedOut(text(&stderr)),
        Err(Some(rss)) => Bounded::OutOfBounds(rss, text(&stderr)),
    }
}

impl Bounded {
    /// The output of a run that stayed within its bounds; panics naming the
    /// bound it broke otherwise.
    pub fn within_bounds(self) -> Output {
        match self {
            Bounded::Finished(output) => output,
            Bounded::TimedOut(stderr) => {
                panic!("weir was still running at the time bound:\n{stderr}")
            }
            Bounded::OutOfBounds(rss, stderr) => {
                panic!("weir's memory reached {rss} MiB, over its bound:\n{stderr}")
            }
        }
    }
}

/// A process's resident memory in MiB (0 once it is gone).
fn rss_mib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

/// `weir generate sensors` output: `events` readings from `seed`, a
/// `late_ratio` of them far behind the watermark.
pub fn generated(events: u64, seed: u64, late_ratio: f64) -> String {
    let out = weir(
        &[
            "generate",
            "sensors",
            "--events",
            &events.to_string(),
            "--seed",
            &seed.to_string(),
            "--late-ratio",
            &late_ratio.to_string(),
            "--time-format",
            "epoch-ms",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// Each line of `jsonl` (a sink's output, dead letters) as JSON.
pub fn json_lines(jsonl: &str) -> Vec<serde_json::Value> {
    jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// A copy of the built component `wasm` as `dir/plugins/name`: a plugin
/// directory of the test's own, which it can change. Returns the copy's path.
pub fn own_plugin_copy(dir: &Path, wasm: &str, name: &str) -> PathBuf {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).expect("creating the plugin directory");
    let copy = plugins.join(name);
    std::fs::copy(plugin(wasm), &copy).expect("copying the component");
    copy
}

/// Appends `text` to the file at `path`, creating it if missing.
pub fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("opening the file to append to");
    file.write_all(text.as_bytes()).expect("appending");
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `sustained-heat` keyed plugin at `plugin_path` (stage `heat`, keyed by
/// sensor, 100 °F for 5 s) reading `source` (a TOML inline table).
pub fn heat_pipeline(source: &str, plugin_path: &Path, output: &Path) -> String {
    format!(
        r#"
name = "heat-test"
source = {source}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "timestamp" }}
event_time = {{ field = "event_time", max_out_of_orderness = "5s" }}
sink = {{ kind = "file", path = "{output}" }}

[[operators]]
type = "plugin"
name = "heat"
path = "{plugin}"
key_by = "sensor_id"
config = {{ threshold = 100.0, duration_ms = 5000 }}
"#,
        output = output.display(),
        plugin = plugin_path.display(),
    )
}

/// The seed query as a pipeline file reading `input` and writing JSON lines to `output`.
pub fn sensor_pipeline(input: &Path, output: &Path, dead_letter: &Path) -> String {
    let source = format!(r#"{{ kind = "file", path = "{}" }}"#, input.display());
    let filter = plugin("over_threshold.wasm");
    seed_query(&source, Path::new(&filter), output, Some(dead_letter))
}

/// The seed query with stages `hot` (the filter at `filter`), `window-2` and
/// `alert`, reading `source` (a TOML inline table).
pub fn seed_query(
    source: &str,
    filter: &Path,
    output: &Path,
    dead_letter: Option<&Path>,
) -> String {
    let dead_letter = dead_letter
        .map(|d| format!("dead_letter = {{ path = \"{}\" }}", d.display()))
        .unwrap_or_default();
    format!(
        r#"
name = "sensor-alerts-test"
source = {source}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "timestamp" }}
event_time = {{ field = "event_time", max_out_of_orderness = "5s" }}
sink = {{ kind = "file", path = "{output}" }}
{dead_letter}

[[operators]]
type = "plugin"
name = "hot"
path = "{filter}"
config = {{ threshold = 100.0 }}

[[operators]]
type = "window"
size = "10s"
key_by = "sensor_id"
aggregates = {{ count = "count" }}

[[operators]]
type = "plugin"
name = "alert"
path = "{alert}"
config = {{ min_count = 5 }}
"#,
        output = output.display(),
        filter = filter.display(),
        alert = plugin("spike_alert.wasm"),
    )
}

/// Runs the seed query over `input` twice, writing into `dir`: to a JSON
/// lines file, and with `sink` (a TOML inline table) in its place. Returns
/// the JSON run's results, to compare the other sink's output with.
pub fn seed_query_twice(dir: &Path, input: &Path, sink: &str) -> Vec<serde_json::Value> {
    let source = format!(r#"{{ kind = "file", path = "{}" }}"#, input.display());
    let filter = plugin("over_threshold.wasm");
    let json_out = dir.join("alerts.jsonl");
    let json_pipeline = seed_query(&source, Path::new(&filter), &json_out, None);
    let other = json_pipeline.replace(
        &format!(
            r#"sink = {{ kind = "file", path = "{}" }}"#,
            json_out.display()
        ),
        &format!("sink = {sink}"),
    );
    assert_ne!(other, json_pipeline, "the sink was replaced");
    for (name, pipeline) in [("json.toml", &json_pipeline), ("other.toml", &other)] {
        let file = dir.join(name);
        std::fs::write(&file, pipeline).expect("writing the pipeline");
        let run = weir(&["run", file.to_str().expect("utf-8 path")], b"");
        assert!(run.status.success(), "{}", text(&run.stderr));
    }
    let results = json_lines(&std::fs::read_to_string(&json_out).expect("the JSON results"));
    assert!(results.len() > 10, "a real number of results");
    results
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub sensor_id: String,
    pub temperature: f64,
    pub event_time: i64,
}

impl Reading {
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "sensor_id": self.sensor_id,
            "temperature": self.temperature,
            "event_time": self.event_time,
        })
        .to_string()
    }
}

/// One alert: (sensor, window end in ms, count).
pub type Alert = (String, i64, i64);

/// The seed query written as plainly as possible: a watermark that trails the
/// largest event time by the bound (minus 1 ms, as in Flink), `temperature >
/// threshold`, 10 s tumbling counts per sensor, and `count > min_count`. A hot
/// reading is late when the watermark right after it has reached its window's
/// last millisecond. Returns the alerts in (window end, sensor) order and the
/// number of late readings.
pub fn reference_alerts(
    readings: &[Reading],
    bound_ms: i64,
    threshold: f64,
    min_count: i64,
) -> (Vec<Alert>, usize) {
    const SIZE: i64 = 10_000;
    let mut max_time = i64::MIN;
    let mut counts: BTreeMap<(i64, String), i64> = BTreeMap::new();
    let mut late = 0;
    for reading in readings {
        max_time = max_time.max(reading.event_time);
        let watermark = max_time - bound_ms - 1;
        if reading.temperature <= threshold {
            continue;
        }
        let end = reading.event_time.div_euclid(SIZE) * SIZE + SIZE;
        if end - 1 <= watermark {
            late += 1;
        } else {
            *counts.entry((end, reading.sensor_id.clone())).or_default() += 1;
        }
    }
    let alerts = counts
        .into_iter()
        .filter(|(_, count)| *count > min_count)
        .map(|((end, sensor), count)| (sensor, end, count))
        .collect();
    (alerts, late)
}

/// Parses weir's JSON-lines alerts back into (sensor, window end, count).
pub fn parse_alerts(jsonl: &str) -> Vec<Alert> {
    jsonl
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("sink writes JSON lines");
            let end = v["window_end"]
                .as_str()
                .expect("window_end is RFC 3339 text");
            let end = weir::format::timestamp::parse(end).expect("window_end parses");
            (
                v["sensor_id"].as_str().expect("sensor_id").to_string(),
                end,
                v["count"].as_i64().expect("count"),
            )
        })
        .collect()
}

/// Reads NDJSON sensor readings (event_time in epoch millis).
pub fn parse_readings(ndjson: &str) -> Vec<Reading> {
    ndjson
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("generator writes JSON");
            Reading {
                sensor_id: v["sensor_id"].as_str().expect("sensor_id").into(),
                temperature: v["temperature"].as_f64().expect("temperature"),
                event_time: match &v["event_time"] {
                    serde_json::Value::String(text) => {
                        weir::format::timestamp::parse(text).expect("a timestamp")
                    }
                    millis => millis.as_i64().expect("event_time in millis"),
                },
            }
        })
        .collect()
}

/// The number on the run summary's line that starts with `label` (e.g. "events in").
pub fn summary_count(stderr: &str, label: &str) -> u64 {
    stderr
        .lines()
        .find_map(|line| line.trim_start().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary line `{label}` in:\n{stderr}"))
}

/// Readings for the allowed-lateness tests: (sensor, event time in seconds
/// after 1_700_000_000 s), in arrival order.
pub const LATE_READINGS: [(&str, i64); 9] = [
    ("a", 1),
    ("a", 3),
    ("b", 4),
    // Watermark 11.999 s: [0, 10) fires with a = 2, b = 1.
    ("a", 17),
    // Late, within the allowed 20 s: a's result becomes 3, as an update.
    ("a", 5),
    // Late too, and c had no result in [0, 10): a first result, not an update.
    ("c", 6),
    // Watermark 34.999 s: [10, 20) fires; [0, 10) stops taking late rows.
    ("a", 40),
    // Beyond the allowed lateness: dead-lettered.
    ("a", 8),
    ("b", 41),
];

/// The start of a sensor pipeline file: `name`, a file source at `input`,
/// the readings schema with `event_time` of type `time_type`, and a 5 s
/// watermark bound. Operators and a sink follow.
/// Readings from `input` through a `window` (its kind and size lines) per
/// sensor computing `aggregates` (lines of an `[operators.aggregates]`
/// table), to the NDJSON file `output`.
pub fn sensor_window_pipeline(
    name: &str,
    input: &Path,
    output: &Path,
    window: &str,
    aggregates: &str,
) -> String {
    let head = sensor_pipeline_head(name, input, "timestamp");
    format!(
        r#"{head}
[[operators]]
type = "window"
key_by = "sensor_id"
{window}
[operators.aggregates]
{aggregates}
[sink]
kind = "file"
path = "{output}"
"#,
        output = output.display(),
    )
}

pub fn sensor_pipeline_head(name: &str, input: &Path, time_type: &str) -> String {
    format!(
        r#"
name = "{name}"
[source]
kind = "file"
path = "{input}"
[schema]
sensor_id = "string"
temperature = "f64"
event_time = "{time_type}"
[event_time]
field = "event_time"
max_out_of_orderness = "5s"
"#,
        input = input.display()
    )
}

/// A 10 s tumbling count per sensor with 20 s of allowed lateness over
/// [`LATE_READINGS`], written to `sink` (a `[sink]` table), dead letters
/// to `dir/dead.jsonl`.
pub fn late_updates_pipeline(dir: &Path, sink: &str) -> std::path::PathBuf {
    let input = dir.join("readings.ndjson");
    let lines: String = LATE_READINGS
        .iter()
        .map(|(sensor, s)| {
            format!(
                "{{\"sensor_id\":\"{sensor}\",\"temperature\":101.0,\"event_time\":{}}}\n",
                1_700_000_000_000 + s * 1000
            )
        })
        .collect();
    std::fs::write(&input, lines).unwrap();
    let head = sensor_pipeline_head("late-updates", &input, "i64");
    let pipeline = format!(
        r#"{head}
[[operators]]
type = "window"
size = "10s"
allowed_lateness = "20s"
key_by = "sensor_id"
aggregates = {{ count = "count" }}
{sink}
[dead_letter]
path = "{dead}"
"#,
        dead = dir.join("dead.jsonl").display(),
    );
    let file = dir.join("late.toml");
    std::fs::write(&file, pipeline).unwrap();
    file
}
