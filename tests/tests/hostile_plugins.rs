//! Hostile plugins never take the host down, and every event is accounted
//! for: processed, or dead-lettered with the reason.

use std::fs;

use weir_tests::*;

const POISON: f64 = 666.0;

/// 3,000 readings, three of them (lines 500, 1_700 and 2_999) poisoned.
fn input() -> (String, Vec<u64>) {
    let poisoned = [500u64, 1_700, 2_999];
    let lines = (1..=3_000u64)
        .map(|line| {
            let temperature = if poisoned.contains(&line) {
                POISON
            } else {
                60.0 + (line % 50) as f64
            };
            Reading {
                sensor_id: format!("s{}", line % 7),
                temperature,
                event_time: line as i64,
            }
            .to_json()
                + "\n"
        })
        .collect();
    (lines, poisoned.to_vec())
}

struct Outcome {
    ok: bool,
    stderr: String,
    out: Vec<serde_json::Value>,
    dead: Vec<serde_json::Value>,
}

fn run_hostile(config: &str, extra: &str, input: &str) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let (data, output, dead) = (
        dir.path().join("in.ndjson"),
        dir.path().join("out.ndjson"),
        dir.path().join("dead.ndjson"),
    );
    fs::write(&data, input).unwrap();
    let pipeline = dir.path().join("p.toml");
    fs::write(
        &pipeline,
        format!(
            r#"
source = {{ kind = "file", path = "{data}" }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "i64" }}
event_time = {{ field = "event_time", max_out_of_orderness = "1s" }}
sink = {{ kind = "file", path = "{output}" }}
dead_letter = {{ path = "{dead}" }}

[[operators]]
type = "plugin"
path = "{plugin}"
config = {config}
{extra}
"#,
            data = data.display(),
            output = output.display(),
            dead = dead.display(),
            plugin = plugin("hostile.wasm"),
        ),
    )
    .unwrap();
    let run = weir(&["run", pipeline.to_str().unwrap()], b"");
    // A run stopped early may not have written a file at all.
    let lines = |path: &std::path::Path| json_lines(&fs::read_to_string(path).unwrap_or_default());
    Outcome {
        ok: run.status.success(),
        stderr: text(&run.stderr),
        out: lines(&output),
        dead: lines(&dead),
    }
}

fn dead_lines(dead: &[serde_json::Value]) -> Vec<u64> {
    dead.iter()
        .map(|d| {
            d["source"]
                .as_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

/// Exactly the poison rows are dead-lettered, with `reason_part` in the reason;
/// every other row reaches the sink, in order.
fn assert_contained(outcome: &Outcome, poisoned: &[u64], reason_part: &str) {
    assert!(outcome.ok, "the host must survive: {}", outcome.stderr);
    assert_eq!(
        dead_lines(&outcome.dead),
        poisoned,
        "exactly the poison rows are dead-lettered"
    );
    for letter in &outcome.dead {
        let reason = letter["reason"].as_str().unwrap();
        assert!(
            reason.contains(reason_part) && reason.contains("plugin `hostile`"),
            "{reason}"
        );
        assert_eq!(letter["kind"], "plugin");
        assert_eq!(letter["record"]["temperature"], POISON);
    }
    let times: Vec<i64> = outcome
        .out
        .iter()
        .map(|r| r["event_time"].as_i64().unwrap())
        .collect();
    let expected: Vec<i64> = (1..=3_000)
        .filter(|l| !poisoned.contains(&(*l as u64)))
        .collect();
    assert!(
        times == expected,
        "every good row reaches the sink, in input order ({} of {})",
        times.len(),
        expected.len()
    );
    assert!(
        outcome.stderr.contains("plugin failures 3"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_panic_fails_only_its_rows() {
    let (input, poisoned) = input();
    let outcome = run_hostile(r#"{ mode = "panic", trigger = 666.0 }"#, "", &input);
    assert_contained(&outcome, &poisoned, "trapped (panic)");
    let reason = outcome.dead[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("the plugin wrote: ")
            && reason.contains("hostile plugin: refusing temperature 666"),
        "{reason}"
    );
    assert!(
        outcome.stderr.contains("instances restarted after a trap"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn an_endless_loop_is_stopped_by_the_cpu_deadline() {
    let (input, poisoned) = input();
    let outcome = run_hostile(
        r#"{ mode = "loop", trigger = 666.0 }"#,
        r#"batch_deadline = "300ms""#,
        &input,
    );
    assert_contained(&outcome, &poisoned, "trapped (cpu deadline)");
}

#[test]
fn a_memory_bomb_is_stopped_by_the_memory_limit() {
    let (input, poisoned) = input();
    let outcome = run_hostile(
        r#"{ mode = "memory", trigger = 666.0 }"#,
        "memory_mib = 32",
        &input,
    );
    assert_contained(&outcome, &poisoned, "trapped (memory limit)");
}

#[test]
fn a_giant_output_is_refused() {
    let (input, poisoned) = input();
    let outcome = run_hostile(
        r#"{ mode = "giant", trigger = 666.0 }"#,
        "memory_mib = 256\nmax_output_mib = 4",
        &input,
    );
    assert_contained(&outcome, &poisoned, "over the limit");
}

#[test]
fn a_plugin_failing_everything_is_quarantined_and_every_row_accounted_for() {
    let (input, _) = input();
    let outcome = run_hostile(r#"{ mode = "panic" }"#, "quarantine_after = 2", &input);
    assert!(outcome.ok, "{}", outcome.stderr);
    assert!(outcome.out.is_empty());
    assert_eq!(outcome.dead.len(), 3_000, "in = out + dead-lettered");
    assert!(
        outcome.stderr.contains("QUARANTINED stage hostile"),
        "{}",
        outcome.stderr
    );
    let quarantined = outcome
        .dead
        .iter()
        .filter(|d| {
            d["reason"]
                .as_str()
                .unwrap()
                .contains("quarantined after 2")
        })
        .count();
    assert_eq!(
        quarantined,
        3_000 - 2 * 1024,
        "rows after the first two batches meet the quarantine"
    );
}

#[test]
fn skip_drops_and_counts_the_failing_rows() {
    let (input, _) = input();
    let outcome = run_hostile(
        r#"{ mode = "panic", trigger = 666.0 }"#,
        r#"on_failure = "skip""#,
        &input,
    );
    assert!(outcome.ok, "{}", outcome.stderr);
    assert!(outcome.dead.is_empty());
    assert_eq!(outcome.out.len(), 2_997);
    assert_eq!(summary_count(&outcome.stderr, "plugin rows skipped"), 3);
}

#[test]
fn stop_ends_the_run_naming_the_row() {
    let (input, _) = input();
    let outcome = run_hostile(
        r#"{ mode = "panic", trigger = 666.0 }"#,
        r#"on_failure = "stop""#,
        &input,
    );
    assert!(!outcome.ok);
    assert!(
        outcome
            .stderr
            .contains("stage `hostile` stopped the pipeline (on_failure = \"stop\") at "),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("in.ndjson:500: plugin `hostile` trapped (panic)"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn plugin_output_is_logged_under_its_name_and_rate_limited() {
    let (input, _) = input();
    let outcome = run_hostile(r#"{ mode = "chatty" }"#, "", &input);
    assert!(outcome.ok, "{}", outcome.stderr);
    assert_eq!(outcome.out.len(), 3_000, "printing never breaks the plugin");
    let logged = outcome
        .stderr
        .lines()
        .filter(|l| l.contains("chatty row at") && l.contains("plugin=\"hostile\""))
        .count();
    assert_eq!(
        logged,
        3 * 20,
        "20 lines per batch, three batches:\n{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("1004 more lines of plugin output in this batch were not logged"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_batch_that_fails_whole_but_succeeds_split_loses_nothing() {
    // 1,024 rows × ~5 KB exceed a 4 MiB output cap; 512 rows do not.
    let (input, _) = input();
    let outcome = run_hostile(
        r#"{ mode = "wide", width = 5000 }"#,
        "max_output_mib = 4",
        &input,
    );
    assert!(outcome.ok, "{}", outcome.stderr);
    assert!(
        outcome.dead.is_empty(),
        "no row is to blame: {:?}",
        outcome.dead.first()
    );
    assert_eq!(outcome.out.len(), 3_000);
    assert!(
        outcome
            .stderr
            .contains("batch failed whole but succeeded when split"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_very_slow_plugin_slows_the_run_but_loses_nothing_and_a_row_past_the_budget_is_cut_off() {
    let (input, poisoned) = input();
    // Every row costs 50,000 multiplications: slow, yet within the budget.
    let slow = run_hostile(r#"{ mode = "slow", spin = 50000 }"#, "", &input);
    assert!(slow.ok, "{}", slow.stderr);
    assert_eq!(slow.out.len(), 3_000, "every row through");
    assert!(slow.dead.is_empty());
    // The poison rows would take minutes each: each is stopped at the budget,
    // alone, and the rest go on.
    let stuck = run_hostile(
        &format!(r#"{{ mode = "slow", trigger = {POISON}, spin = 100000000000 }}"#),
        r#"batch_deadline = "200ms""#,
        &input,
    );
    assert_contained(&stuck, &poisoned, "cpu deadline");
}
