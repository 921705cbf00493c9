//! Checks shared by the plugin languages' tests: a plugin written in another
//! language must give, byte for byte, what the Rust one gives.

use std::fs;
use std::path::Path;

use crate::{
    generated, json_lines, parse_alerts, parse_readings, plugin, reference_alerts, refused,
    seed_query, stdin_pipeline, summary_count, text, weir,
};

/// The component `build` (a script) makes from a plugin in another
/// language: plugins/dist/<name>_<suffix>.wasm.
pub fn component(name: &str, suffix: &str, build: &str) -> String {
    let path = plugin(&format!("{name}_{suffix}.wasm"));
    assert!(
        Path::new(&path).exists(),
        "{path} missing: run {build} (scripts/test does)"
    );
    path
}

/// The over-threshold `component` given `threshold = "hot"` is refused at
/// load with the plugin's message (`got`: how it prints "hot").
pub fn bad_threshold_is_named_at_load(component: &str, plugin_name: &str, got: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("p.toml");
    fs::write(
        &file,
        stdin_pipeline(
            r#"{ temperature = "f64", event_time = "timestamp" }"#,
            &format!(
                "type = \"plugin\"\npath = \"{component}\"\nconfig = {{ threshold = \"hot\" }}"
            ),
        ),
    )
    .expect("writing the pipeline");
    refused(
        &file,
        &format!("p.toml:7:1: operator #1: plugin `{plugin_name}` rejected its config: threshold must be a finite number, got {got}"),
        "a string threshold",
    );
}

/// The seed query on 100 k generated readings with `filter` and `alert`
/// (components) in place of the Rust plugins: the reference model's alerts,
/// and the Rust plugins' output exactly.
pub fn seed_query_matches_rust_and_the_reference(filter: &str, alert: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("in.ndjson");
    let readings = generated(100_000, 23, 0.02);
    fs::write(&input, &readings).expect("writing the input");
    let source = format!(r#"{{ kind = "file", path = "{}" }}"#, input.display());
    let mut outputs = Vec::new();
    for (filter, alert) in [
        (plugin("over_threshold.wasm"), plugin("spike_alert.wasm")),
        (filter.to_string(), alert.to_string()),
    ] {
        let output = dir.path().join("alerts.ndjson");
        let pipeline = seed_query(&source, Path::new(&filter), &output, None)
            .replace(&plugin("spike_alert.wasm"), &alert);
        assert!(pipeline.contains(&alert));
        let file = dir.path().join("seed.toml");
        fs::write(&file, pipeline).expect("writing the pipeline");
        let run = weir(&["run", file.to_str().expect("utf-8 path")], b"");
        assert!(run.status.success(), "{}", text(&run.stderr));
        outputs.push(fs::read_to_string(&output).expect("the alerts"));
    }
    let (expected, late) = reference_alerts(&parse_readings(&readings), 5_000, 100.0, 5);
    assert!(expected.len() > 50 && late > 0);
    let mut got = parse_alerts(&outputs[1]);
    got.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    assert_eq!(got, expected);
    assert!(
        outputs[0] == outputs[1],
        "{filter}, {alert}: the alerts differ from the Rust plugins'"
    );
    let first = json_lines(&outputs[1]);
    assert!(
        first[0]["alert"]
            .as_str()
            .is_some_and(|a| a.contains("readings in one window, more than 5")),
        "{first:?}"
    );
}

/// pipelines/`name`.toml and its SQL twin give what
/// pipelines/sensor-alerts.toml gives with the Rust plugins, byte for byte.
pub fn pipeline_and_twin_match_the_rust_one(name: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines");
    let outputs: Vec<String> = [
        "sensor-alerts.toml".to_string(),
        format!("{name}.toml"),
        format!("{name}.sql"),
    ]
    .iter()
    .map(|file| {
        let run = weir(&["run", root.join(file).to_str().expect("utf-8 path")], b"");
        assert!(run.status.success(), "{file}: {}", text(&run.stderr));
        text(&run.stdout)
    })
    .collect();
    assert!(outputs[0].lines().count() > 100);
    assert!(outputs[1] == outputs[0], "{name}.toml: the alerts differ");
    assert!(outputs[2] == outputs[0], "{name}.sql: the alerts differ");
}

/// `weir plugin build plugins/<dir>/<name>` makes the component and shows
/// what it declares (`declares`); with no tool installed it names the
/// command that installs it (`install`).
pub fn weir_plugin_build_works_and_names_a_missing_tool(dir: &str, declares: &str, install: &str) {
    let out = tempfile::tempdir().expect("temp dir");
    let plugin_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins")
        .join(dir);
    let built = weir(
        &[
            "plugin",
            "build",
            plugin_dir.to_str().expect("utf-8 path"),
            "--out",
            out.path().to_str().expect("utf-8 path"),
        ],
        b"",
    );
    let stdout = text(&built.stdout);
    assert!(built.status.success(), "{stdout}{}", text(&built.stderr));
    assert!(stdout.contains(declares), "{stdout}");
    assert_eq!(fs::read_dir(out.path()).expect("the output").count(), 1);

    let no_tools = tempfile::tempdir().expect("temp dir");
    let missing = std::process::Command::new(crate::weir_binary())
        .args(["plugin", "build", plugin_dir.to_str().expect("utf-8 path")])
        .env("WEIR_TOOLS", no_tools.path())
        .env("PATH", no_tools.path())
        .output()
        .expect("running weir");
    let stderr = text(&missing.stderr);
    assert_eq!(missing.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(install), "{stderr}");
}

/// A pipeline over `input` with the hostile filter `component` configured
/// by `config`; returns the run's stderr and its dead letters.
pub fn hostile_run(
    component: &str,
    dir: &Path,
    input: &Path,
    config: &str,
) -> (String, Vec<serde_json::Value>) {
    let dead = dir.join("dead.ndjson");
    let file = dir.join("hostile.toml");
    fs::write(
        &file,
        format!(
            r#"
name = "hostile"
# Small batches: bisection isolates a few failing rows per batch within its
# budget of failed calls (past it, the rest of a batch is dead-lettered).
batch_size = 64
source = {{ kind = "file", path = "{input}" }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "timestamp" }}
event_time = {{ field = "event_time", max_out_of_orderness = "5s" }}
sink = {{ kind = "blackhole" }}
dead_letter = {{ path = "{dead}" }}

[[operators]]
type = "plugin"
path = "{plugin}"
config = {config}
batch_deadline = "300ms"
memory_mib = 64
quarantine_after = 0
"#,
            input = input.display(),
            dead = dead.display(),
            plugin = component,
        ),
    )
    .expect("the hostile run");
    let run = weir(&["run", file.to_str().expect("the hostile run")], b"");
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{config}: {stderr}");
    (
        stderr,
        json_lines(&fs::read_to_string(&dead).expect("the hostile run")),
    )
}

/// The hostile `component`, raising on readings above 119.5, fails only
/// those rows: bisection finds them, each goes to the dead letters with the
/// plugin's message, and every other row goes on.
pub fn raised_rows_are_dead_lettered(component: &str) {
    let dir = tempfile::tempdir().expect("a dead letter");
    let input = dir.path().join("in.ndjson");
    let readings = generated(3_000, 5, 0.0);
    fs::write(&input, &readings).expect("a dead letter");
    let hot = parse_readings(&readings)
        .iter()
        .filter(|r| r.temperature > 119.5)
        .count();
    // Few enough per batch for bisection to isolate each within its budget.
    assert!(hot > 5 && hot < 60, "{hot}");
    let (stderr, dead) = hostile_run(component, dir.path(), &input, "{ raise_above = 119.5 }");
    assert_eq!(dead.len(), hot, "{stderr}");
    for letter in &dead {
        assert_eq!(letter["kind"], "plugin");
        assert!(
            letter["record"]["temperature"]
                .as_f64()
                .expect("a dead letter")
                > 119.5
        );
        assert!(
            letter["reason"]
                .as_str()
                .expect("a dead letter")
                .contains("is too hot to handle"),
            "{letter}"
        );
    }
    assert_eq!(
        summary_count(&stderr, "results out"),
        3_000 - hot as u64,
        "{stderr}"
    );
}

/// The hostile `component` under each (config, reason): every one of 40
/// rows is dead-lettered with the reason, and the host goes on.
pub fn every_row_fails_with(component: &str, cases: &[(&str, &str)]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("in.ndjson");
    fs::write(&input, generated(40, 9, 0.0)).expect("writing the input");
    for (config, reason) in cases {
        let (stderr, dead) = hostile_run(component, dir.path(), &input, config);
        assert_eq!(dead.len(), 40, "{config}: {stderr}");
        assert!(
            dead.iter()
                .all(|d| d["reason"].as_str().is_some_and(|r| r.contains(reason))),
            "{config}: expected `{reason}` in {:?}",
            dead[0]
        );
    }
}

/// Runs `weir` in `cwd` (outside any checkout) with its own data home, so
/// that the SDK it writes out is the one it carries.
fn weir_outside_a_checkout(cwd: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(crate::weir_binary())
        .args(args)
        .current_dir(cwd)
        .env("XDG_DATA_HOME", cwd.join("data"))
        .output()
        .expect("running weir")
}

/// `weir plugin new NAME --lang LANG --kind KIND` outside a checkout, for
/// each of `kinds`: the plugin's own test passes natively (`test`: the
/// command prefix, the test path appended), and it fails once its logic is
/// broken (`break_it`: text in the app and what to put instead). Returns
/// the directory everything was written to.
pub fn scaffolded_plugins_pass_their_tests(
    lang: &str,
    kinds: &[&str],
    test: &[&str],
    test_path: &str,
    break_it: (&str, &str),
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for kind in kinds {
        let name = format!("hot-{kind}");
        let made = weir_outside_a_checkout(
            dir.path(),
            &["plugin", "new", &name, "--lang", lang, "--kind", kind],
        );
        let stdout = text(&made.stdout);
        assert!(made.status.success(), "{stdout}{}", text(&made.stderr));
        let root = dir.path().join(name.replace('-', "_"));
        assert!(
            stdout.contains(&format!("created ./{}", name.replace('-', "_"))),
            "{stdout}"
        );
        let run_test = || {
            std::process::Command::new(test[0])
                .args(&test[1..])
                .arg(root.join(test_path))
                .output()
                .expect("running the plugin's test")
        };
        let passed = run_test();
        let report = format!("{}{}", text(&passed.stdout), text(&passed.stderr));
        assert!(passed.status.success(), "{kind}: {report}");
        assert!(
            !report.contains("Ran 0 tests") && !report.contains("# pass 0"),
            "{kind}: no test ran: {report}"
        );
        let app = root.join(if lang == "python" { "app.py" } else { "app.js" });
        let source = fs::read_to_string(&app).expect("the app");
        if source.contains(break_it.0) {
            fs::write(&app, source.replace(break_it.0, break_it.1)).expect("breaking the app");
            assert!(
                !run_test().status.success(),
                "{kind}: the test passes a broken plugin"
            );
            fs::write(&app, source).expect("mending the app");
        }
    }
    dir
}

/// Builds the plugin in `dir/name` with `weir plugin build` (the SDK and WIT
/// this weir carries) into `dir/dist`; returns the component's path.
pub fn build_outside_a_checkout(dir: &Path, name: &str) -> std::path::PathBuf {
    let built = weir_outside_a_checkout(dir, &["plugin", "build", name, "--out", "dist"]);
    assert!(
        built.status.success(),
        "{}{}",
        text(&built.stdout),
        text(&built.stderr)
    );
    fs::read_dir(dir.join("dist"))
        .expect("dist")
        .map(|e| e.expect("entry").path())
        .find(|p| p.to_string_lossy().contains(name))
        .expect("the built component")
}

/// Builds the scaffolded plugin `dir/name` with `weir plugin build` (the SDK
/// and WIT this weir carries) and runs it with `weir plugin test` over two
/// readings, one hot (keyed by `key_by` if given); returns what `weir plugin
/// test` printed.
pub fn build_and_try_scaffolded(
    dir: &Path,
    name: &str,
    config: &str,
    key_by: Option<&str>,
) -> String {
    let component = build_outside_a_checkout(dir, name);
    fs::write(
        dir.join("sample.ndjson"),
        concat!(
            r#"{"sensor_id":"a","temperature":99.0,"event_time":"2026-01-15 08:00:00.000"}"#,
            "\n",
            r#"{"sensor_id":"b","temperature":101.5,"event_time":"2026-01-15 08:00:01.000"}"#,
            "\n",
        ),
    )
    .expect("sample");
    let mut args = vec![
        "plugin",
        "test",
        component.to_str().expect("utf-8 path"),
        "--input",
        "sample.ndjson",
        "--config",
        config,
    ];
    if let Some(key) = key_by {
        args.extend(["--key-by", key]);
    }
    let tried = weir_outside_a_checkout(dir, &args);
    let stdout = text(&tried.stdout);
    assert!(tried.status.success(), "{stdout}{}", text(&tried.stderr));
    stdout
}
/// The fraud detector `component` (another language's) flags exactly what
/// the Rust one flags on generated payments plus payments that take every
/// branch of the rule, at parallelism 1 and 2.
pub fn fraud_detector_flags_what_the_rust_one_flags(component: &str) {
    let other = component.to_string();
    let mut payments = weir(&["generate", "payments", "--events", "60000"], b"").stdout;
    payments.extend(probing_payments(1_768_464_000_000 + 700_000).as_bytes());
    let original = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/fraud-detection.toml");
    let shipped = fs::read_to_string(original).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for (plugin_path, parallelism) in [
        (plugin("fraud_detector.wasm"), 1),
        (other.clone(), 1),
        (other, 2),
    ] {
        let pipeline = shipped
            .replace(
                "\"../plugins/dist/fraud_detector.wasm\"",
                &format!("\"{plugin_path}\""),
            )
            .replace("../out/", &format!("{}/", dir.path().display()))
            .replace(
                "name = \"fraud-detection\"",
                &format!("name = \"fraud-detection\"\nparallelism = {parallelism}"),
            );
        assert!(pipeline.contains(&plugin_path) && pipeline.contains("parallelism"));
        let file = dir.path().join("fraud.toml");
        fs::write(&file, pipeline).unwrap();
        let run = weir(&["run", file.to_str().unwrap()], &payments);
        assert!(run.status.success(), "{}", text(&run.stderr));
        let mut alerts: Vec<String> = text(&run.stdout).lines().map(str::to_string).collect();
        alerts.sort();
        outputs.push(alerts);
    }
    assert!(outputs[0].len() > 5, "{:?}", outputs[0]);
    assert_eq!(
        outputs[1], outputs[0],
        "{component}: differs from the Rust detector"
    );
    assert_eq!(outputs[2], outputs[0], "at parallelism 2");
}

/// Payments after `start` that take every branch of the fraud rule, which
/// the generator's injected frauds alone do not: 40 users each buying from
/// 12 addresses (more than the 8 remembered), small and large amounts in
/// any order, and gaps now and then longer than the 5-minute window.
fn probing_payments(start: i64) -> String {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let mut time = start;
    let mut lines = String::new();
    for _ in 0..20_000 {
        time += if next(50) == 0 {
            200_000
        } else {
            1 + next(2_000) as i64
        };
        let amount = [1.0, 3.5, 5.0, 50.0, 499.0, 500.0, 950.0][next(7) as usize];
        lines.push_str(&format!(
            "{{\"user_id\":\"probe-{}\",\"amount\":{amount:.2},\"ip\":\"192.0.2.{}\",\"event_time\":{time}}}\n",
            next(40),
            next(12)
        ));
    }
    lines
}

/// The scaffolded keyed plugin `dir/hot_keyed`, built and tried with a limit
/// of one: the hot reading alerts, the other is dropped.
pub fn scaffolded_keyed_plugin_alerts_on_the_hot_reading(dir: &Path) {
    let keyed = build_and_try_scaffolded(dir, "hot_keyed", r#"{"limit": 1}"#, Some("sensor_id"));
    assert!(keyed.contains("plugin hot-keyed 0.1.0 (keyed)"), "{keyed}");
    assert!(keyed.contains("line 1: dropped"), "{keyed}");
    assert!(keyed.contains("\"streak\":1"), "{keyed}");
}

/// The aggregate plugin `range` (another language's temperature_range):
/// the temperature's spread per sensor and window equals the host's own max minus min of the same window, exactly,
/// in tumbling windows and in sliding ones (whose panes the plugin merges;
/// one sensor with thousands of rows per pane makes the host fold and merge
/// folded accumulators too).
pub fn spread_equals_the_hosts_max_minus_min(range: &str) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    let output = dir.path().join("spreads.ndjson");
    for (window, sensors) in [
        ("kind = \"tumbling\"\nsize = \"10s\"", 200),
        ("kind = \"sliding\"\nsize = \"10s\"\nslide = \"2s\"", 200),
        ("kind = \"sliding\"\nsize = \"10s\"\nslide = \"5s\"", 1),
    ] {
        let generated = weir(
            &[
                "generate",
                "sensors",
                "--events",
                "60000",
                "--sensors",
                &sensors.to_string(),
            ],
            b"",
        );
        assert!(generated.status.success());
        fs::write(&input, &generated.stdout).unwrap();
        let pipeline = crate::sensor_window_pipeline(
            "spreads",
            &input,
            &output,
            window,
            &format!(
                r#"low = "min(temperature)"
high = "max(temperature)"
spread = {{ plugin = "{range}", field = "temperature" }}"#
            ),
        );
        let file = dir.path().join("spreads.toml");
        fs::write(&file, pipeline).unwrap();
        let run = weir(&["run", file.to_str().unwrap()], b"");
        assert!(run.status.success(), "{}", text(&run.stderr));
        let rows = json_lines(&fs::read_to_string(&output).unwrap());
        assert!(rows.len() > 10, "{window}: {} windows", rows.len());
        for row in &rows {
            let (low, high) = (row["low"].as_f64().unwrap(), row["high"].as_f64().unwrap());
            assert_eq!(row["spread"].as_f64(), Some(high - low), "{window}: {row}");
        }
    }
}
