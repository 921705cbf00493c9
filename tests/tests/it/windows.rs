//! Session windows and allowed lateness through `weir run`, against results
//! computed here from the same input.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use weir_tests::{json_lines, late_updates_pipeline as lateness_pipeline, text, weir};

fn epoch_millis(text: &str) -> i64 {
    weir::format::timestamp::parse(text).unwrap_or_else(|| panic!("not a timestamp: {text}"))
}

/// The shipped pipeline file with its console sink replaced by `output`.
fn shipped(name: &str, dir: &Path, output: &Path) -> std::path::PathBuf {
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../pipelines/{name}.toml")),
    )
    .unwrap();
    let pipeline = shipped
        .replace(
            "[sink]\nkind = \"console\"",
            &format!("[sink]\nkind = \"file\"\npath = \"{}\"", output.display()),
        )
        .replace(
            &format!("../out/{name}.dead-letter.ndjson"),
            &dir.join("dead.jsonl").display().to_string(),
        );
    assert!(
        pipeline.contains("kind = \"file\""),
        "the sink was replaced"
    );
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, pipeline).unwrap();
    file
}

#[test]
fn user_sessions_match_sessions_split_at_gaps_longer_than_ten_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let generated = weir(
        &[
            "generate", "clicks", "--events", "150000", "--users", "1500", "--seed", "5",
        ],
        b"",
    );
    assert!(generated.status.success());
    let clicks = text(&generated.stdout);
    let output = dir.path().join("sessions.jsonl");
    let pipeline = shipped("user-sessions", dir.path(), &output);
    let run = weir(&["run", pipeline.to_str().unwrap()], clicks.as_bytes());
    assert!(run.status.success(), "{}", text(&run.stderr));

    // Each user's clicks in event-time order (arrival order among equal
    // times), split where the next click comes more than 10 s later.
    let mut by_user: BTreeMap<String, Vec<(i64, usize, String)>> = BTreeMap::new();
    for (arrival, click) in json_lines(&clicks).into_iter().enumerate() {
        by_user
            .entry(click["user_id"].as_str().unwrap().into())
            .or_default()
            .push((
                click["event_time"].as_i64().unwrap(),
                arrival,
                click["page"].as_str().unwrap().into(),
            ));
    }
    // (user, start) → (end, clicks, distinct pages, entry page, exit page)
    type Session = (i64, i64, usize, String, String);
    let mut expected: BTreeMap<(String, i64), Session> = BTreeMap::new();
    for (user, mut clicks) in by_user {
        clicks.sort();
        let mut run: Vec<&(i64, usize, String)> = Vec::new();
        let mut close = |run: &mut Vec<&(i64, usize, String)>| {
            let start = run[0].0;
            let last_time = run.last().unwrap().0;
            let pages: std::collections::BTreeSet<&String> = run.iter().map(|c| &c.2).collect();
            // Among equal times: entry is the first to arrive, exit the last.
            let entry = run
                .iter()
                .filter(|c| c.0 == start)
                .min_by_key(|c| c.1)
                .unwrap();
            let exit = run
                .iter()
                .filter(|c| c.0 == last_time)
                .max_by_key(|c| c.1)
                .unwrap();
            expected.insert(
                (user.clone(), start),
                (
                    last_time + 10_000,
                    run.len() as i64,
                    pages.len(),
                    entry.2.clone(),
                    exit.2.clone(),
                ),
            );
            run.clear();
        };
        for click in &clicks {
            if run.last().is_some_and(|last| click.0 - last.0 > 10_000) {
                close(&mut run);
            }
            run.push(click);
        }
        close(&mut run);
    }

    let mut got: BTreeMap<(String, i64), Session> = BTreeMap::new();
    for row in json_lines(&std::fs::read_to_string(&output).unwrap()) {
        let key = (
            row["user_id"].as_str().unwrap().to_string(),
            epoch_millis(row["window_start"].as_str().unwrap()),
        );
        let session = (
            epoch_millis(row["window_end"].as_str().unwrap()),
            row["clicks"].as_i64().unwrap(),
            row["pages"].as_i64().unwrap() as usize,
            row["entry_page"].as_str().unwrap().to_string(),
            row["exit_page"].as_str().unwrap().to_string(),
        );
        assert!(got.insert(key, session).is_none(), "one row per session");
    }
    assert!(got.len() > 1_000, "{} sessions", got.len());
    assert!(
        got.values().any(|s| s.1 > 3),
        "some sessions span several clicks"
    );
    assert_eq!(got, expected);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("dead.jsonl")).unwrap(),
        "",
        "disorder stays within the watermark"
    );
}

/// (sensor, window start in s, count, update) of each result line.
fn window_results(jsonl: &str) -> Vec<(String, i64, i64, bool)> {
    json_lines(jsonl)
        .iter()
        .map(|row| {
            (
                row["sensor_id"].as_str().unwrap().to_string(),
                (epoch_millis(row["window_start"].as_str().unwrap()) - 1_700_000_000_000) / 1000,
                row["count"].as_i64().unwrap(),
                row["update"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn late_rows_within_the_allowed_lateness_update_their_window_result() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.jsonl");
    let sink = format!("[sink]\nkind = \"file\"\npath = \"{}\"", output.display());
    let pipeline = lateness_pipeline(dir.path(), &sink);
    let run = weir(&["run", pipeline.to_str().unwrap()], b"");
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stderr = text(&run.stderr);

    let s = |x: &str| x.to_string();
    assert_eq!(
        window_results(&std::fs::read_to_string(&output).unwrap()),
        vec![
            (s("a"), 0, 2, false),
            (s("b"), 0, 1, false),
            (s("a"), 0, 3, true),
            (s("c"), 0, 1, false),
            (s("a"), 10, 1, false),
            (s("a"), 40, 1, false),
            (s("b"), 40, 1, false),
        ]
    );
    let dead = json_lines(&std::fs::read_to_string(dir.path().join("dead.jsonl")).unwrap());
    assert_eq!(dead.len(), 1, "{dead:?}");
    let reason = dead[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("allowed lateness of 20s had passed"),
        "{reason}"
    );
    assert!(
        dead[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("readings.ndjson:8"),
        "{dead:?}"
    );
    assert_eq!(
        weir_tests::summary_count(&stderr, "window updates"),
        1,
        "{stderr}"
    );
}

#[test]
fn window_settings_of_another_kind_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = lateness_pipeline(dir.path(), "[sink]\nkind = \"console\"");
    let original = std::fs::read_to_string(&pipeline).unwrap();
    for (edit, expected) in [
        (
            original.replace("size = \"10s\"", "kind = \"session\"\nsize = \"10s\""),
            "a session window has no `size`",
        ),
        (
            original.replace("size = \"10s\"", "kind = \"session\"\ngap = \"10s\""),
            "allowed_lateness is not supported on session windows",
        ),
        (
            original.replace("size = \"10s\"", "size = \"10s\"\ngap = \"3s\""),
            "`gap` is for kind = \"session\"",
        ),
        (
            original.replace("{ count = \"count\" }", "{ n = \"median(temperature)\" }"),
            "unknown function `median`",
        ),
        (
            original.replace("size = \"10s\"", "size = \"10s\"\ntime = \"processing\""),
            "allowed_lateness has no meaning with time = \"processing\"",
        ),
    ] {
        std::fs::write(&pipeline, edit).unwrap();
        let run = weir(&["validate", pipeline.to_str().unwrap()], b"");
        let stderr = text(&run.stderr);
        assert!(!run.status.success());
        assert!(stderr.contains(expected), "{stderr}");
        assert!(stderr.contains("late.toml"), "names the file: {stderr}");
    }
}

/// Runs `pipeline` (console sink) on `weir generate sensors` at 1,000
/// readings per second, `events` of them, with `late_ratio`. Returns each
/// result line with when it was read, and the run's stderr.
fn run_live(pipeline: &Path, events: u64, late_ratio: f64) -> (Vec<(Duration, String)>, String) {
    let mut generator = Command::new(weir_tests::weir_binary())
        .args([
            "generate",
            "sensors",
            "--rate",
            "1000",
            "--events",
            &events.to_string(),
        ])
        .args(["--late-ratio", &late_ratio.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut run = Command::new(weir_tests::weir_binary())
        .args(["run", pipeline.to_str().unwrap()])
        .stdin(generator.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let clock = Instant::now();
    let mut results = Vec::new();
    for line in BufReader::new(run.stdout.take().unwrap()).lines() {
        results.push((clock.elapsed(), line.unwrap()));
    }
    let status = run.wait().unwrap();
    let mut stderr = Vec::new();
    run.stderr.take().unwrap().read_to_end(&mut stderr).unwrap();
    let stderr = text(&stderr);
    assert!(status.success(), "{stderr}");
    assert!(generator.wait().unwrap().success());
    (results, stderr)
}

/// A console result line's `name=value`.
fn field(line: &str, name: &str) -> String {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        .to_string()
}

fn live_pipeline(dir: &Path, window: &str) -> std::path::PathBuf {
    let pipeline = dir.join("p.toml");
    let head = weir_tests::sensor_pipeline_head("live", Path::new("-"), "timestamp")
        .replace("kind = \"file\"\npath = \"-\"", "kind = \"stdin\"");
    std::fs::write(
        &pipeline,
        format!(
            "{head}[[operators]]\ntype = \"window\"\n{window}\naggregates = {{ readings = \"count\" }}\n[sink]\nkind = \"console\"\n"
        ),
    )
    .unwrap();
    pipeline
}

/// Readings arriving at 1,000 per second for 3 s, counted per 1 s window of
/// the host's clock: windows fire as the clock passes them, while the input
/// still flows, and by arrival, so the readings' own (January) times and
/// their lateness play no part.
#[test]
fn processing_time_windows_count_rows_by_arrival_and_fire_on_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = live_pipeline(dir.path(), "time = \"processing\"\nsize = \"1s\"");
    let wall_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let started = wall_ms();
    let (results, stderr) = run_live(&pipeline, 3000, 0.05);
    let finished = wall_ms();

    let windows: Vec<(i64, i64, i64)> = results
        .iter()
        .map(|(_, line)| {
            (
                epoch_millis(&field(line, "window_start")),
                epoch_millis(&field(line, "window_end")),
                field(line, "readings").parse().unwrap(),
            )
        })
        .collect();
    assert!(windows.len() >= 3, "{results:?}");
    assert_eq!(
        windows.iter().map(|w| w.2).sum::<i64>(),
        3000,
        "{results:?}"
    );
    for pair in windows.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "consecutive 1 s windows: {windows:?}");
    }
    for &(start, end, _) in &windows {
        assert_eq!((start % 1000, end - start), (0, 1000), "{windows:?}");
        assert!(
            start >= started - 1000 && end <= finished + 1000,
            "window [{start}, {end}) is not within the run ({started}..{finished})"
        );
    }
    assert_eq!(
        weir_tests::summary_count(&stderr, "dead-lettered"),
        0,
        "{stderr}"
    );
    let (first, last) = (results[0].0, results[results.len() - 1].0);
    assert!(
        last - first >= Duration::from_millis(500),
        "results came while the input flowed, not all at its end: {results:?}"
    );
}

/// Event-time windows of 10 s with early firings every 300 ms, over 3 s of
/// live readings: while windows are open, partial results come with counts
/// that only grow, and each window ends with one final result holding all
/// its readings.
#[test]
fn early_firings_emit_growing_partial_results_before_the_final_one() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = live_pipeline(dir.path(), "size = \"10s\"\nearly_fire_every = \"300ms\"");
    let (results, stderr) = run_live(&pipeline, 3000, 0.0);
    let mut by_window: BTreeMap<String, Vec<(bool, i64)>> = BTreeMap::new();
    for (_, line) in &results {
        by_window
            .entry(field(line, "window_start"))
            .or_default()
            .push((
                field(line, "partial") == "true",
                field(line, "readings").parse().unwrap(),
            ));
    }
    let partials = by_window.values().flatten().filter(|r| r.0).count();
    assert!(partials >= 2, "{results:?}");
    assert_eq!(
        weir_tests::summary_count(&stderr, "partial results"),
        partials as u64,
        "{stderr}"
    );
    let mut total = 0;
    for (window, rows) in &by_window {
        let (last, before) = rows.split_last().unwrap();
        assert!(
            !last.0,
            "{window}: the last result is the final one: {rows:?}"
        );
        assert!(
            before.iter().all(|r| r.0),
            "{window}: one final result: {rows:?}"
        );
        assert!(
            rows.windows(2).all(|pair| pair[0].1 <= pair[1].1),
            "{window}: counts only grow: {rows:?}"
        );
        total += last.1;
    }
    assert_eq!(total, 3000, "{results:?}");
    assert_eq!(
        weir_tests::summary_count(&stderr, "dead-lettered"),
        0,
        "{stderr}"
    );
}
