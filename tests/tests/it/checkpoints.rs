//! Checkpoints and exactly-once results across crashes: a run killed with
//! SIGKILL again and again, and resumed each time, ends with the output of a
//! run never interrupted, byte for byte.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use weir_tests::{sensor_pipeline, text, weir, weir_binary};

/// A small deterministic generator for kill delays; the seed is printed so a
/// failure can be replayed.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn run_to_end(pipeline: &Path, extra: &[&str]) -> String {
    let mut args = vec!["run", pipeline.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = weir(&args, b"");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    stderr
}

fn checkpointed(pipeline: &str, dir: &Path, interval: &str) -> String {
    checkpointed_at(pipeline, &CheckpointsAt::local(dir), interval)
}

fn checkpointed_at(pipeline: &str, at: &CheckpointsAt, interval: &str) -> String {
    format!(
        "{pipeline}\n[checkpoint]\n{}interval = \"{interval}\"\n",
        at.table
    )
}

/// Where the killed runs' checkpoints go: the `[checkpoint]` table's
/// location lines, and the directory their files appear in.
pub struct CheckpointsAt {
    pub table: String,
    pub files: PathBuf,
}

impl CheckpointsAt {
    fn local(dir: &Path) -> Self {
        Self {
            table: format!("dir = \"{}\"\n", dir.display()),
            files: dir.to_path_buf(),
        }
    }
}

fn newest_checkpoint(dir: &Path) -> Option<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    files.pop()
}

pub fn generate_readings(path: &Path, events: u64) {
    let generated = weir(
        &[
            "generate",
            "sensors",
            "--events",
            &events.to_string(),
            "--seed",
            "11",
            "--late-ratio",
            "0.001",
            "--output",
            path.to_str().unwrap(),
        ],
        b"",
    );
    assert!(generated.status.success(), "{}", text(&generated.stderr));
}

/// Runs `make(output, dead_letters)` once without checkpoints, then with
/// checkpoints every 25 ms, SIGKILLed at ten random moments and resumed each
/// time: the results file and the dead-letter file must always hold a prefix
/// of the uninterrupted run's, and end equal to them.
fn killed_and_resumed_equals_uninterrupted(dir: &Path, make: &dyn Fn(&Path, &Path) -> String) {
    killed_and_resumed_at(dir, make, &[1]);
}

/// As [`killed_and_resumed_equals_uninterrupted`], each run at the next of
/// `parallelisms` in turn. At parallelism 1 the files are compared byte for
/// byte. Above it, as multisets of lines — nothing lost, nothing twice —
/// because instances' results interleave by batch, and a resumed run cuts
/// its batches at other rows than the uninterrupted one.
fn killed_and_resumed_at(
    dir: &Path,
    make: &dyn Fn(&Path, &Path) -> String,
    parallelisms: &[usize],
) {
    let checkpoints = CheckpointsAt::local(&dir.join("checkpoints"));
    killed_and_resumed_into(dir, make, parallelisms, &checkpoints);
}

/// As [`killed_and_resumed_at`], with the checkpoints `at_place`.
pub fn killed_and_resumed_into(
    dir: &Path,
    make: &dyn Fn(&Path, &Path) -> String,
    parallelisms: &[usize],
    at_place: &CheckpointsAt,
) {
    let at = |run: usize| parallelisms[run % parallelisms.len()].to_string();
    let rescaled = parallelisms.iter().any(|&p| p > 1);
    let (expected_out, expected_dead) =
        (dir.join("expected.jsonl"), dir.join("expected.dead.jsonl"));
    let reference = dir.join("reference.toml");
    std::fs::write(&reference, make(&expected_out, &expected_dead)).unwrap();
    let started = Instant::now();
    run_to_end(&reference, &["--parallelism", &at(0)]);
    let uninterrupted = started.elapsed();
    let expected = std::fs::read_to_string(&expected_out).unwrap();
    assert!(expected.lines().count() > 1_000, "a real amount of results");
    let expected_dead = std::fs::read_to_string(&expected_dead).unwrap_or_default();

    let (output, dead) = (dir.join("out.jsonl"), dir.join("dead.jsonl"));
    let checkpoints = &at_place.files;
    let pipeline = dir.join("checkpointed.toml");
    std::fs::write(
        &pipeline,
        checkpointed_at(&make(&output, &dead), at_place, "25ms"),
    )
    .unwrap();

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill delays seeded with {seed}");
    let mut random = XorShift(seed);
    // Delays short enough that ten kills land well before the end of the input.
    let longest = (uninterrupted.as_millis() as u64 / 15).max(20);
    let (mut kills, mut resumed, mut corrupted) = (0, 0, false);
    while kills < 10 {
        let before = newest_checkpoint(checkpoints);
        let mut child = Command::new(weir_binary())
            .args([
                "run",
                pipeline.to_str().unwrap(),
                "--parallelism",
                &at(kills),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Each run makes progress (a checkpoint of its own) before its kill
        // at a random moment after that: on a loaded machine a fixed delay
        // could kill every run before it gets anywhere.
        let deadline = Instant::now() + Duration::from_secs(30);
        while newest_checkpoint(checkpoints) == before && child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "no checkpoint within 30 s");
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(random.below(longest)));
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run finished before kill {}: kill delays too long for this machine",
            kills + 1
        );
        child.kill().unwrap(); // SIGKILL
        let stderr = text(&child.wait_with_output().unwrap().stderr);
        kills += 1;
        resumed += stderr.contains("resuming from checkpoint") as u32;
        // Whatever the moment of the kill, the results file holds a prefix of
        // the uninterrupted run's results: nothing uncommitted, nothing twice.
        let so_far = std::fs::read_to_string(&output).unwrap_or_default();
        assert!(
            holds_part_of(&expected, &so_far, rescaled),
            "after kill {kills}, the output is not a part of the expected results ({} bytes)",
            so_far.len()
        );
        let dead_so_far = std::fs::read_to_string(&dead).unwrap_or_default();
        assert!(
            holds_part_of(&expected_dead, &dead_so_far, rescaled),
            "after kill {kills}, the dead letters are not a part of the expected ones ({} bytes)",
            dead_so_far.len()
        );
        // Once, damage the newest checkpoint: the next run must fall back to
        // the one before it, and still end exactly right.
        if kills == 5 {
            if let Some(newest) = newest_checkpoint(checkpoints) {
                let mut bytes = std::fs::read(&newest).unwrap();
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x55;
                std::fs::write(&newest, bytes).unwrap();
                corrupted = true;
            }
        }
    }
    let stderr = run_to_end(&pipeline, &["--parallelism", &at(kills)]);
    assert!(
        resumed >= 9,
        "only {resumed} of 10 killed runs had a checkpoint to resume from"
    );
    assert!(corrupted, "no checkpoint existed after five kills");
    assert!(stderr.contains("resumed from checkpoint"), "{stderr}");
    let got = std::fs::read_to_string(&output).unwrap();
    assert_eq!(got.lines().count(), expected.lines().count());
    assert!(
        same_lines(&got, &expected, rescaled),
        "the resumed output differs from the uninterrupted run's"
    );
    let got_dead = std::fs::read_to_string(&dead).unwrap_or_default();
    assert_eq!(
        got_dead.lines().count(),
        expected_dead.lines().count(),
        "dead letters lost or repeated across the kills"
    );
    assert!(
        same_lines(&got_dead, &expected_dead, rescaled),
        "the resumed dead letters differ from the uninterrupted run's"
    );
    assert!(
        !Path::new(&format!("{}.pending", output.display())).exists(),
        "the staging file is gone once everything is committed"
    );
}

/// Whether `part` is the start of `whole` (`any_order`: a sub-multiset of
/// its lines). A kill can land while a commit copies staged results into
/// the file, leaving its last line cut short (the resumed run completes it):
/// in any order, that line must begin one of the lines still unmatched.
fn holds_part_of(whole: &str, part: &str, any_order: bool) -> bool {
    if !any_order {
        return whole.starts_with(part);
    }
    let (complete, cut) = match part.rfind('\n') {
        Some(end) => part.split_at(end + 1),
        None => ("", part),
    };
    let mut left = line_counts(whole);
    let lines_match = complete.lines().all(|line| match left.get_mut(line) {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    });
    lines_match && (cut.is_empty() || left.iter().any(|(line, &n)| n > 0 && line.starts_with(cut)))
}

fn same_lines(a: &str, b: &str, any_order: bool) -> bool {
    if any_order {
        line_counts(a) == line_counts(b)
    } else {
        a == b
    }
}

fn line_counts(text: &str) -> std::collections::HashMap<&str, usize> {
    let mut counts = std::collections::HashMap::new();
    for line in text.lines() {
        *counts.entry(line).or_insert(0) += 1;
    }
    counts
}

#[test]
fn sigkill_at_ten_random_points_loses_and_duplicates_no_result() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    generate_readings(&input, 4_000_000);
    killed_and_resumed_equals_uninterrupted(dir.path(), &|output, dead| {
        sensor_pipeline(&input, output, dead)
    });
    // Late readings: the dead letters compared above are a real number.
    let dead = std::fs::read_to_string(dir.path().join("dead.jsonl")).unwrap();
    assert!(
        dead.lines().count() > 500,
        "{} dead letters",
        dead.lines().count()
    );
}

#[test]
fn keyed_plugin_state_and_timers_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    generate_readings(&input, 2_000_000);
    let heat = weir_tests::plugin("sustained_heat.wasm");
    let source = format!(r#"{{ kind = "file", path = "{}" }}"#, input.display());
    killed_and_resumed_equals_uninterrupted(dir.path(), &|output, dead| {
        let pipeline = weir_tests::heat_pipeline(&source, Path::new(&heat), output);
        format!("{pipeline}\n[dead_letter]\npath = \"{}\"\n", dead.display())
    });
}

/// Windows run as two instances: aligned checkpoints across them, and the
/// results of the resumed runs those of the uninterrupted run.
#[test]
fn sigkill_at_parallelism_two_loses_and_duplicates_no_result() {
    windows_killed_and_resumed_at(&[2]);
}

/// The sensor pipeline over 3 M readings, killed and resumed at `parallelisms`.
fn windows_killed_and_resumed_at(parallelisms: &[usize]) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    // Enough input that ten kills, each after a run's start-up and first
    // checkpoint, land before its end even at parallelism 3 on 2 cores.
    generate_readings(&input, 6_000_000);
    killed_and_resumed_at(
        dir.path(),
        &|output, dead| sensor_pipeline(&input, output, dead),
        parallelisms,
    );
}

/// Two sinks share the checkpoints: each file resumes at its own position,
/// and both end equal to an uninterrupted run's.
#[test]
fn two_sinks_survive_sigkill_each_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    generate_readings(&input, 3_000_000);
    let windows_of = |output: &Path| output.with_extension("windows");
    killed_and_resumed_equals_uninterrupted(dir.path(), &|output, dead| {
        crate::fan_out::fan_out_pipeline(&input, &windows_of(output), output, dead)
    });
    let expected = std::fs::read_to_string(windows_of(&dir.path().join("expected.jsonl"))).unwrap();
    let got = std::fs::read_to_string(windows_of(&dir.path().join("out.jsonl"))).unwrap();
    assert!(
        expected.lines().count() > 10_000,
        "{} windows",
        expected.lines().count()
    );
    assert!(
        got == expected,
        "the window sink's file differs from the uninterrupted run's"
    );
}

/// Rescaling: checkpoints taken at one parallelism resume at another
/// (2 → 1 → 3 → 2 …), keyed plugin state and timers split and merged by key
/// group, and the results are the uninterrupted run's.
#[test]
fn keyed_state_rescales_between_parallelisms_across_sigkills() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    generate_readings(&input, 2_000_000);
    let heat = weir_tests::plugin("sustained_heat.wasm");
    let source = format!(r#"{{ kind = "file", path = "{}" }}"#, input.display());
    killed_and_resumed_at(
        dir.path(),
        &|output, dead| {
            let pipeline = weir_tests::heat_pipeline(&source, Path::new(&heat), output);
            format!("{pipeline}\n[dead_letter]\npath = \"{}\"\n", dead.display())
        },
        &[2, 1, 3],
    );
}

/// Windows rescale too: open windows split by key group on resume.
#[test]
fn windows_rescale_between_parallelisms_across_sigkills() {
    windows_killed_and_resumed_at(&[3, 1, 2]);
}

/// Sliding windows with allowed lateness (so late updates too) and an
/// aggregate plugin, whose accumulators the checkpoint carries as bytes.
#[test]
fn plugin_aggregates_and_late_updates_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    generate_readings(&input, 1_500_000);
    let percentile = weir_tests::plugin("percentile.wasm");
    killed_and_resumed_equals_uninterrupted(dir.path(), &|output, dead| {
        let head = weir_tests::sensor_pipeline_head("p95-checkpointed", &input, "timestamp");
        format!(
            r#"{head}
[[operators]]
type = "window"
kind = "sliding"
size = "10s"
slide = "5s"
allowed_lateness = "20s"
key_by = "sensor_id"
[operators.aggregates]
n = "count"
p95 = {{ plugin = "{percentile}", field = "temperature", config = {{ quantile = 0.95 }} }}
[sink]
kind = "file"
path = "{output}"
[dead_letter]
path = "{dead}"
"#,
            output = output.display(),
            dead = dead.display(),
        )
    });
}

#[test]
fn a_damaged_newest_checkpoint_is_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    std::fs::write(&input, weir_tests::generated(20_000, 5, 0.0)).unwrap();
    let (output, dead) = (dir.path().join("out.jsonl"), dir.path().join("dead.jsonl"));
    let checkpoints = dir.path().join("checkpoints");
    let pipeline = dir.path().join("p.toml");
    std::fs::write(
        &pipeline,
        checkpointed(&sensor_pipeline(&input, &output, &dead), &checkpoints, "1h"),
    )
    .unwrap();
    run_to_end(&pipeline, &[]);
    run_to_end(&pipeline, &[]); // a second checkpoint, at the same place
    let expected = std::fs::read_to_string(&output).unwrap();
    let newest = newest_checkpoint(&checkpoints).unwrap();
    std::fs::write(&newest, b"WEIRCKPT garbage").unwrap();
    let stderr = run_to_end(&pipeline, &[]);
    assert!(
        stderr.contains("falling back to the previous checkpoint")
            && stderr.contains(&newest.file_name().unwrap().to_string_lossy().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("resumed from checkpoint 1"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&output).unwrap(), expected);
}

#[test]
fn a_changed_window_refuses_to_resume_until_told_to_start_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    std::fs::write(&input, weir_tests::generated(5_000, 9, 0.0)).unwrap();
    let (output, dead) = (dir.path().join("out.jsonl"), dir.path().join("dead.jsonl"));
    let checkpoints = dir.path().join("checkpoints");
    let pipeline = dir.path().join("p.toml");
    let text_10s = checkpointed(&sensor_pipeline(&input, &output, &dead), &checkpoints, "1s");
    std::fs::write(&pipeline, &text_10s).unwrap();
    run_to_end(&pipeline, &[]);

    std::fs::write(
        &pipeline,
        text_10s.replace("size = \"10s\"", "size = \"20s\""),
    )
    .unwrap();
    let refused = weir(&["run", pipeline.to_str().unwrap()], b"");
    let stderr = text(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("cannot resume from checkpoint 1")
            && stderr.contains("size=10000ms")
            && stderr.contains("size=20000ms")
            && stderr.contains("--fresh"),
        "{stderr}"
    );
    let stderr = run_to_end(&pipeline, &["--fresh"]);
    assert!(!stderr.contains("resumed from checkpoint"), "{stderr}");
    assert!(stderr.contains("checkpoints"), "{stderr}");
}

#[test]
fn stdin_cannot_be_checkpointed() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("p.toml");
    let filter = weir_tests::plugin("over_threshold.wasm");
    let text_ = checkpointed(
        &weir_tests::seed_query(
            r#"{ kind = "stdin" }"#,
            Path::new(&filter),
            &dir.path().join("out.jsonl"),
            None,
        ),
        &dir.path().join("checkpoints"),
        "1s",
    );
    std::fs::write(&pipeline, text_).unwrap();
    let out = weir(&["validate", pipeline.to_str().unwrap()], b"");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("checkpoints need a source that can be read again"),
        "{}",
        text(&out.stderr)
    );
}
