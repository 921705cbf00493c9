//! Hot swapping through the admin API of a running host, under a steady
//! stream on standard input: no event lost or duplicated, broken versions
//! rolled back, the API closed to callers without the token.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use weir_tests::live::{rebuilt_copy, LiveHost};
use weir_tests::{
    generated, json_lines, own_plugin_copy, parse_alerts, parse_readings, plugin, reference_alerts,
    seed_query, summary_count, text, weir,
};

/// The seed query on standard input, its filter at `filter`.
fn stdin_sensor_pipeline(filter: &Path, output: &Path) -> String {
    seed_query(r#"{ kind = "stdin" }"#, filter, output, None)
}

fn generate(events: u64, seed: u64) -> Vec<u8> {
    generated(events, seed, 0.0).into_bytes()
}

/// The seed query's alerts over `input` by the reference model, in weir's
/// output order (window end, then sensor).
fn model_alerts(input: &[u8]) -> Vec<weir_tests::Alert> {
    let readings = parse_readings(&String::from_utf8_lossy(input));
    reference_alerts(&readings, 5_000, 100.0, 5).0
}

fn outcome(body: &Value) -> &str {
    body["outcome"].as_str().unwrap_or("<none>")
}

#[test]
fn a_hundred_swaps_between_identical_builds_change_no_result() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        dir.path().join("filter-a.wasm"),
        dir.path().join("filter-b.wasm"),
    );
    std::fs::copy(plugin("over_threshold.wasm"), &a).unwrap();
    rebuilt_copy(&a, &b, "b");
    let input = generate(1_000_000, 11);
    let expected_alerts = model_alerts(&input);

    let reference_out = dir.path().join("reference.jsonl");
    let reference_pipeline = dir.path().join("reference.toml");
    std::fs::write(
        &reference_pipeline,
        stdin_sensor_pipeline(&a, &reference_out),
    )
    .unwrap();
    let reference = weir(&["run", reference_pipeline.to_str().unwrap()], &input);
    assert!(reference.status.success());

    let swapped_out = dir.path().join("swapped.jsonl");
    let pipeline = dir.path().join("swapped.toml");
    std::fs::write(&pipeline, stdin_sensor_pipeline(&a, &swapped_out)).unwrap();
    let mut host = LiveHost::start(&pipeline, dir.path(), &[]);
    let busy = Arc::new(AtomicBool::new(true));
    let feeder = host.feed(input, busy.clone());
    let mut pauses = Vec::new();
    for i in 0..100 {
        let next = if i % 2 == 0 { &b } else { &a };
        let (status, body) = host.swap("hot", next, None);
        assert_eq!(
            (status, outcome(&body)),
            (200, "swapped"),
            "swap {i}: {body}\n{}",
            host.stderr()
        );
        pauses.push(body["pause_us"].as_u64().unwrap());
    }
    busy.store(false, Ordering::SeqCst);
    feeder.join().unwrap();
    let finished = host.finish();
    assert!(finished.success, "{}", finished.stderr);
    assert_eq!(summary_count(&finished.stderr, "events in"), 1_000_000);
    assert!(
        finished.stderr.contains("swap kept 100"),
        "the summary counts the swaps:\n{}",
        finished.stderr
    );

    let expected = std::fs::read_to_string(&reference_out).unwrap();
    let got = std::fs::read_to_string(&swapped_out).unwrap();
    assert!(expected.lines().count() > 100, "the workload raises alerts");
    assert!(got == expected, "results differ after 100 swaps");
    // And both are the alerts the plain reference model raises.
    assert_eq!(parse_alerts(&got), expected_alerts);
    pauses.sort_unstable();
    eprintln!(
        "swap pause p50 {} µs, max {} µs",
        pauses[50],
        pauses.last().unwrap()
    );
}

fn sequence(events: usize) -> Vec<u8> {
    (0..events)
        .map(|i| format!("{{\"seq\":{i},\"event_time\":{i}}}\n"))
        .collect::<String>()
        .into_bytes()
}

fn tag_pipeline(output: &Path) -> String {
    format!(
        r#"
source = {{ kind = "stdin" }}
schema = {{ seq = "i64", event_time = "i64" }}
event_time = {{ field = "event_time", max_out_of_orderness = "1s" }}
sink = {{ kind = "file", path = "{output}" }}
batch_size = 500

[[operators]]
type = "plugin"
name = "tag"
path = "{tag}"
"#,
        output = output.display(),
        tag = plugin("version_tag.wasm"),
    )
}

#[test]
fn every_event_is_processed_by_exactly_one_version_switching_between_batches() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("tagged.jsonl");
    let pipeline = dir.path().join("tag.toml");
    std::fs::write(&pipeline, tag_pipeline(&output)).unwrap();
    let events = 300_000;
    let mut host = LiveHost::start(&pipeline, dir.path(), &[]);
    let busy = Arc::new(AtomicBool::new(true));
    let feeder = host.feed(sequence(events), busy.clone());
    let (v1, v2) = (plugin("version_tag.wasm"), plugin("version_tag_v2.wasm"));
    let mut switches = Vec::new();
    for i in 0..20 {
        let next = if i % 2 == 0 { &v2 } else { &v1 };
        let (status, body) = host.swap("tag", Path::new(next), None);
        assert_eq!((status, outcome(&body)), (200, "swapped"), "{body}");
        switches.push(body["at_row"].as_u64().unwrap() as usize);
    }
    busy.store(false, Ordering::SeqCst);
    feeder.join().unwrap();
    let finished = host.finish();
    assert!(finished.success, "{}", finished.stderr);

    let rows = json_lines(&std::fs::read_to_string(&output).unwrap());
    assert_eq!(rows.len(), events, "every event out exactly once");
    // Each row was processed by the version the host's reports put there:
    // v1 until the first swap's row, then alternating at each reported row
    // (on a loaded machine a swap may even land before row 0). So no row
    // was processed by both versions or by neither.
    assert!(switches.windows(2).all(|w| w[0] <= w[1]), "{switches:?}");
    let mut next = switches.iter().peekable();
    let mut version = "v1";
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["seq"].as_u64(), Some(i as u64), "in order, none twice");
        while next.next_if(|&&at| at <= i).is_some() {
            version = if version == "v1" { "v2" } else { "v1" };
        }
        assert_eq!(row["version"], version, "row {i}; swaps at {switches:?}");
    }
    assert_eq!(rows[events - 1]["version"], "v1", "20 swaps end on v1");
}

/// A stage of hostile in its well-behaved mode, on a stream of readings.
fn hostile_pipeline(component: &Path, output: &Path, dead: &Path) -> String {
    format!(
        r#"
source = {{ kind = "stdin" }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "timestamp" }}
event_time = {{ field = "event_time", max_out_of_orderness = "5s" }}
sink = {{ kind = "file", path = "{output}" }}
dead_letter = {{ path = "{dead}" }}

[[operators]]
type = "plugin"
name = "notes"
path = "{component}"
config = {{ mode = "wide", width = 0 }}
"#,
        component = component.display(),
        output = output.display(),
        dead = dead.display(),
    )
}

#[test]
fn broken_versions_are_rolled_back_and_results_are_unaffected() {
    let dir = tempfile::tempdir().unwrap();
    let good = own_plugin_copy(dir.path(), "hostile.wasm", "notes.wasm");
    let plugins = good.parent().unwrap();
    let other_build = plugins.join("notes-2.wasm");
    rebuilt_copy(&good, &other_build, "2");
    let other_schema = own_plugin_copy(dir.path(), "over_threshold.wasm", "over_threshold.wasm");
    let garbage = plugins.join("truncated.wasm");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&garbage, &bytes[..bytes.len() / 2]).unwrap();

    let input = generate(60_000, 5);
    let (output, dead) = (dir.path().join("out.jsonl"), dir.path().join("dead.jsonl"));
    let pipeline = dir.path().join("notes.toml");
    std::fs::write(&pipeline, hostile_pipeline(&good, &output, &dead)).unwrap();
    let mut host = LiveHost::start(&pipeline, dir.path(), &[]);
    let busy = Arc::new(AtomicBool::new(true));
    let feeder = host.feed(input.clone(), busy.clone());

    // Traps on every row of its first batch: tried, then rolled back.
    let (status, body) = host.swap("notes", &other_build, Some(json!({ "mode": "panic" })));
    assert_eq!((status, outcome(&body)), (422, "rolled-back"), "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("panicked"),
        "{body}"
    );
    // Rejected before it serves a single row.
    let (status, body) = host.swap("notes", &other_schema, Some(json!({ "threshold": 1 })));
    assert_eq!((status, outcome(&body)), (422, "rejected"), "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("outputs"),
        "{body}"
    );
    let (status, body) = host.swap("notes", &other_build, Some(json!({ "mode": "sideways" })));
    assert_eq!((status, outcome(&body)), (422, "rejected"), "{body}");
    assert!(body["error"].as_str().unwrap().contains("config"), "{body}");
    let (status, body) = host.swap("notes", &garbage, None);
    assert_eq!((status, outcome(&body)), (422, "rejected"), "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not a valid WebAssembly component"),
        "{body}"
    );

    let (_, list) = host.get("/v1/plugins");
    let serving = &list["plugins"][0]["plugin"];
    assert_eq!(
        serving["component"].as_str().unwrap(),
        good.display().to_string(),
        "the original version still serves: {list}"
    );
    busy.store(false, Ordering::SeqCst);
    feeder.join().unwrap();
    let finished = host.finish();
    assert!(finished.success, "{}", finished.stderr);

    let rows = std::fs::read_to_string(&output).unwrap();
    assert_eq!(rows.lines().count(), 60_000, "every reading came through");
    assert!(rows.lines().all(|l| l.contains(r#""note":"""#)));
    assert_eq!(
        std::fs::read_to_string(&dead).unwrap(),
        "",
        "nothing failed"
    );
}

#[test]
fn changes_need_the_token_and_components_must_come_from_a_plugin_directory() {
    let dir = tempfile::tempdir().unwrap();
    let filter = own_plugin_copy(dir.path(), "over_threshold.wasm", "filter.wasm");
    let plugins = filter.parent().unwrap();
    let outside = dir.path().join("outside.wasm");
    rebuilt_copy(&filter, &outside, "outside");
    std::os::unix::fs::symlink(&outside, plugins.join("link.wasm")).unwrap();
    let output = dir.path().join("out.jsonl");
    let pipeline = dir.path().join("p.toml");
    std::fs::write(&pipeline, stdin_sensor_pipeline(&filter, &output)).unwrap();
    // No input flows here, so a trial would never end: swap outright.
    let host = LiveHost::start(&pipeline, dir.path(), &["--trial-batches", "0"]);

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&host.token_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "token file readable by its owner only");

    let swap = json!({ "path": filter });
    let (status, body) = host.post("/v1/plugins/hot/swap", &swap, None);
    assert_eq!(status, 401, "{body}");
    let (status, _) = host.post("/v1/plugins/hot/swap", &swap, Some("not-the-token"));
    assert_eq!(status, 401);
    let (status, _) = host.delete("/v1/plugins/nope");
    assert_eq!(status, 404, "with the token, an unknown stage is a 404");
    let (status, list) = host.get("/v1/plugins");
    assert_eq!(status, 200, "reading needs no token");
    assert_eq!(list["plugins"].as_array().unwrap().len(), 2);

    for path in [
        outside.clone(),
        plugins.join("link.wasm"),
        plugins.join("../outside.wasm"),
    ] {
        let (status, body) = host.swap("hot", &path, None);
        assert_eq!(status, 403, "{}: {body}", path.display());
        assert!(body["error"]
            .as_str()
            .unwrap()
            .contains("not inside a plugin directory"));
    }
    let (status, body) = host.swap("hot", &filter, None);
    assert_eq!((status, outcome(&body)), (200, "unchanged"), "{body}");
    // What may not be named by path may be uploaded, and is checked the same.
    let (status, body) = host.upload("hot", b"\0asm but not really");
    assert_eq!((status, outcome(&body)), (422, "rejected"), "{body}");
    let (status, body) = host.upload("hot", &std::fs::read(&outside).unwrap());
    assert_eq!((status, outcome(&body)), (200, "swapped"), "{body}");
    let (_, list) = host.get("/v1/plugins");
    assert_eq!(list["plugins"][0]["plugin"]["component"], "upload:hot");
    let finished = host.finish();
    assert!(finished.success, "{}", finished.stderr);

    let out = weir(
        &["run", pipeline.to_str().unwrap(), "--admin", "0.0.0.0:0"],
        b"",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
}

#[test]
fn unload_is_refused_unless_the_stage_may_be_bypassed() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.jsonl");
    let pipeline = dir.path().join("p.toml");
    let text = stdin_sensor_pipeline(Path::new(&plugin("over_threshold.wasm")), &output).replace(
        "config = { threshold = 100.0 }",
        "config = { threshold = 100.0 }\nunload = \"bypass\"",
    );
    std::fs::write(&pipeline, text).unwrap();
    let mut host = LiveHost::start(&pipeline, dir.path(), &[]);

    let (status, body) = host.delete("/v1/plugins/alert");
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("part of the pipeline file"));

    // A filter loaded at run time goes in and out again.
    let load = json!({
        "path": plugin("over_threshold.wasm"), "name": "extra", "after": "hot",
        "config": { "threshold": 110.0 },
    });
    let (status, body) = host.post("/v1/plugins", &load, Some(&host.token.clone()));
    assert_eq!((status, outcome(&body)), (200, "loaded"), "{body}");
    let (_, list) = host.get("/v1/status");
    let names: Vec<&str> = list["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hot", "extra", "window-2", "alert"]);
    // A map that adds fields cannot be slipped in: the stages after it were
    // checked against the rows as they are.
    let map = json!({ "path": plugin("fahrenheit_to_celsius.wasm"), "after": "hot" });
    let (status, body) = host.post("/v1/plugins", &map, Some(&host.token.clone()));
    assert_eq!(status, 422, "{body}");
    assert_eq!(host.delete("/v1/plugins/extra").0, 200);
    // The file's filter is marked `unload = "bypass"`.
    let (status, body) = host.delete("/v1/plugins/hot");
    assert_eq!((status, outcome(&body)), (200, "unloaded"), "{body}");

    // Every reading now reaches the window: 10 readings of one sensor in one
    // window, none above 100 °F, raise an alert.
    let cool: String = (0..10)
        .map(|i| {
            format!(
                "{{\"sensor_id\":\"s\",\"temperature\":50.0,\"event_time\":{}}}\n",
                i * 100
            )
        })
        .collect();
    let busy = Arc::new(AtomicBool::new(false));
    host.feed(cool.into_bytes(), busy).join().unwrap();
    let finished = host.finish();
    assert!(finished.success, "{}", finished.stderr);
    let alerts = std::fs::read_to_string(&output).unwrap();
    assert_eq!(alerts.lines().count(), 1, "{alerts}");
    assert!(alerts.contains(r#""count":10"#), "{alerts}");
}

#[test]
fn a_new_file_in_a_watched_directory_is_swapped_in() {
    let dir = tempfile::tempdir().unwrap();
    let filter = own_plugin_copy(dir.path(), "over_threshold.wasm", "filter.wasm");
    let output = dir.path().join("out.jsonl");
    let pipeline = dir.path().join("p.toml");
    std::fs::write(&pipeline, stdin_sensor_pipeline(&filter, &output)).unwrap();
    let mut host = LiveHost::start(&pipeline, dir.path(), &["--watch", "--trial-batches", "0"]);
    let hash = |host: &LiveHost| {
        let (_, list) = host.get("/v1/plugins");
        list["plugins"][0]["plugin"]["content_hash"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let before = hash(&host);
    let busy = Arc::new(AtomicBool::new(true));
    let input = generate(200_000, 3);
    let feeder = host.feed(input.clone(), busy.clone());
    // Written elsewhere and renamed in, as deploy tools do.
    let staged = dir.path().join("staged.wasm");
    rebuilt_copy(&filter, &staged, "v2");
    std::fs::rename(&staged, &filter).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while hash(&host) == before {
        assert!(
            std::time::Instant::now() < deadline,
            "not swapped:\n{}",
            host.stderr()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    busy.store(false, Ordering::SeqCst);
    feeder.join().unwrap();
    let finished = host.finish();
    assert!(finished.success, "{}", finished.stderr);
    let got = parse_alerts(&std::fs::read_to_string(&output).unwrap());
    assert!(got.len() > 10, "the workload raises alerts");
    assert_eq!(got, model_alerts(&input), "the swap changed the results");
}

#[test]
fn on_an_idle_stream_a_swap_stays_on_trial_until_batches_come() {
    let dir = tempfile::tempdir().unwrap();
    let filter = own_plugin_copy(dir.path(), "over_threshold.wasm", "filter.wasm");
    let rebuilt = filter.with_file_name("filter-2.wasm");
    rebuilt_copy(&filter, &rebuilt, "2");
    let output = dir.path().join("out.jsonl");
    let pipeline = dir.path().join("p.toml");
    std::fs::write(&pipeline, stdin_sensor_pipeline(&filter, &output)).unwrap();
    let mut host = LiveHost::start(&pipeline, dir.path(), &["--trial-wait", "300ms"]);

    let (status, body) = host.swap("hot", &rebuilt, None);
    assert_eq!((status, outcome(&body)), (200, "on-trial"), "{body}");
    let (_, list) = host.get("/v1/plugins");
    let trial = &list["plugins"][0]["plugin"]["on_trial"];
    assert_eq!(trial["batches_left"], 3, "{list}");
    let (status, body) = host.swap("hot", &filter, None);
    assert_eq!(status, 409, "one trial at a time: {body}");

    // Three batches of 1,024 readings end the trial.
    host.send(&generate(5_000, 8));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, list) = host.get("/v1/plugins");
        let kept = list["recent_changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["outcome"] == "kept");
        if kept {
            assert!(list["plugins"][0]["plugin"]["on_trial"].is_null(), "{list}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "trial never ended: {list}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let finished = host.finish();
    assert!(finished.success, "{}", finished.stderr);
}

#[test]
fn the_weir_plugin_commands_drive_the_api_and_exit_1_on_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let filter = own_plugin_copy(dir.path(), "over_threshold.wasm", "filter.wasm");
    let output = dir.path().join("out.jsonl");
    let pipeline = dir.path().join("p.toml");
    std::fs::write(&pipeline, stdin_sensor_pipeline(&filter, &output)).unwrap();
    let host = LiveHost::start(&pipeline, dir.path(), &["--trial-batches", "0"]);
    let token_file = host.token_file.to_str().unwrap().to_string();
    let cli = |args: &[&str]| {
        let mut all = vec!["plugin"];
        all.extend_from_slice(args);
        all.extend(["--admin", &host.addr, "--token-file", &token_file]);
        weir(&all, b"")
    };

    let list = cli(&["list"]);
    assert!(list.status.success(), "{}", text(&list.stderr));
    let table = text(&list.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("hot ") && l.contains("over-threshold")),
        "{table}"
    );

    let swap = cli(&[
        "swap",
        "hot",
        filter.to_str().unwrap(),
        "--config",
        r#"{"threshold": 110}"#,
    ]);
    assert!(swap.status.success(), "{}", text(&swap.stderr));
    assert!(
        text(&swap.stdout).starts_with("swapped `hot`"),
        "{}",
        text(&swap.stdout)
    );

    let refused = cli(&["unload", "alert"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("(HTTP 409)"),
        "{}",
        text(&refused.stderr)
    );

    let finished = host.finish();
    assert!(finished.success, "{}", finished.stderr);
}
