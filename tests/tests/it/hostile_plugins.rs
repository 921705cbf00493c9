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
    run_plugin("hostile.wasm", config, extra, input)
}

/// Runs `wasm` (from plugins/dist) with `config` and `extra` operator keys
/// over `input`, bounded in time and memory: a hostile plugin that gets
/// past the sandbox fails the test instead of hanging or exhausting the machine.
fn run_plugin(wasm: &str, config: &str, extra: &str, input: &str) -> Outcome {
    run_plugin_at(1, wasm, config, extra, input)
}

/// [`run_plugin`] with the operators as `parallelism` instances.
fn run_plugin_at(
    parallelism: usize,
    wasm: &str,
    config: &str,
    extra: &str,
    input: &str,
) -> Outcome {
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
parallelism = {parallelism}
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
            plugin = plugin(wasm),
        ),
    )
    .unwrap();
    let run = weir_bounded(
        &["run", pipeline.to_str().unwrap()],
        b"",
        std::time::Duration::from_secs(150),
        2048,
    )
    .within_bounds();
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

/// Run as two instances, a failing plugin's rows are still each accounted
/// for once, and `stop` still ends the run naming the row.
#[test]
fn failures_at_parallelism_two_are_contained_and_stop_names_the_row() {
    let (input, _) = input();
    let skipped = run_plugin_at(
        2,
        "hostile.wasm",
        r#"{ mode = "panic", trigger = 666.0 }"#,
        r#"on_failure = "skip""#,
        &input,
    );
    assert!(skipped.ok, "{}", skipped.stderr);
    assert_eq!(summary_count(&skipped.stderr, "operator instances"), 2);
    assert_eq!(skipped.out.len(), 2_997);
    assert_eq!(summary_count(&skipped.stderr, "plugin rows skipped"), 3);
    let dead_lettered = run_plugin_at(
        2,
        "hostile.wasm",
        r#"{ mode = "panic", trigger = 666.0 }"#,
        "",
        &input,
    );
    assert!(dead_lettered.ok, "{}", dead_lettered.stderr);
    assert_eq!(
        (dead_lettered.out.len(), dead_lettered.dead.len()),
        (2_997, 3)
    );
    let stopped = run_plugin_at(
        2,
        "hostile.wasm",
        r#"{ mode = "panic", trigger = 666.0 }"#,
        r#"on_failure = "stop""#,
        &input,
    );
    assert!(!stopped.ok);
    assert!(
        stopped
            .stderr
            .contains("stage `hostile` stopped the pipeline (on_failure = \"stop\") at ")
            && stopped
                .stderr
                .contains("in.ndjson:500: plugin `hostile` trapped (panic)"),
        "{}",
        stopped.stderr
    );
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

/// Every row of the run is accounted for: out or dead-lettered, and each
/// dead letter's reason holds `reason_part`.
fn assert_refused_everywhere(outcome: &Outcome, reason_part: &str) {
    assert!(outcome.ok, "the host must survive: {}", outcome.stderr);
    assert_eq!(
        outcome.out.len() + outcome.dead.len(),
        3_000,
        "in = out + dead-lettered"
    );
    assert!(!outcome.dead.is_empty());
    for letter in &outcome.dead {
        let reason = letter["reason"].as_str().unwrap();
        assert!(reason.contains(reason_part), "{reason}");
    }
}

#[test]
fn a_plugin_sleeping_in_a_wasi_call_does_not_hold_the_pipeline() {
    // Each poison row asks to sleep a minute: a host call that the CPU
    // deadline cannot interrupt. Inside a plugin, time stands still.
    let (input, _) = input();
    let outcome = run_hostile(
        r#"{ mode = "sleep", trigger = 666.0, spin = 60000 }"#,
        "",
        &input,
    );
    assert!(outcome.ok, "{}", outcome.stderr);
    assert_eq!(outcome.out.len(), 3_000);
    assert!(outcome.dead.is_empty());
}

#[test]
fn a_filter_returning_a_row_twice_fails_its_batch_instead_of_forging_rows() {
    let (input, _) = input();
    for (config, reason) in [
        (r#"{ mode = "duplicate" }"#, "twice"),
        (r#"{ mode = "repeat-first", count = 4000000 }"#, "twice"),
    ] {
        let outcome = run_plugin("rogue.wasm", config, "", &input);
        assert_refused_everywhere(&outcome, reason);
        assert!(outcome.out.is_empty(), "{config}: no row passes");
        assert!(
            !outcome
                .stderr
                .contains("filtered out              18446744"),
            "{}",
            outcome.stderr
        );
    }
    // Rows out of order fail the batch, which is split to find the rows to
    // blame (single rows have no order to get wrong) until the split budget
    // runs out: every row is accounted for, and what passes is in order.
    let backwards = run_plugin("rogue.wasm", r#"{ mode = "descending" }"#, "", &input);
    assert_refused_everywhere(&backwards, "out of order");
    let times: Vec<i64> = backwards
        .out
        .iter()
        .map(|r| r["event_time"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "rows in input order");
    let honest = run_plugin("rogue.wasm", r#"{ mode = "pass" }"#, "", &input);
    assert_eq!(honest.out.len(), 3_000, "{}", honest.stderr);
}

#[test]
fn a_flat_map_amplifying_past_max_fan_out_fails_and_the_limit_is_configurable() {
    let (input, _) = input();
    let amplify = r#"{ mode = "amplify", width = 3 }"#;
    let refused = run_hostile(amplify, "max_fan_out = 2", &input);
    assert_refused_everywhere(&refused, "max_fan_out");
    assert!(refused.out.is_empty());
    let allowed = run_hostile(amplify, "max_fan_out = 3", &input);
    assert!(allowed.dead.is_empty(), "{:?}", allowed.dead.first());
    assert_eq!(allowed.out.len(), 9_000);
}

#[test]
fn a_plugin_flooding_the_host_log_is_capped_and_cannot_forge_lines() {
    let (input, _) = input();
    let outcome = run_hostile(
        r#"{ mode = "log", trigger = 666.0, width = 100 }"#,
        "",
        &input,
    );
    assert!(outcome.ok, "{}", outcome.stderr.len());
    assert_eq!(outcome.out.len(), 3_000);
    // 300 messages of 1 MiB: at most 20 lines per batch of 4 KiB each are logged.
    assert!(
        outcome.stderr.len() < 1 << 20,
        "{} bytes of log",
        outcome.stderr.len()
    );
    assert!(
        !outcome
            .stderr
            .lines()
            .any(|l| l.starts_with("2026-01-01T00:00:00Z")),
        "a plugin forged a log line"
    );
    assert!(
        outcome
            .stderr
            .contains("more lines of plugin output in this batch were not logged"),
        "{}",
        &outcome.stderr[..outcome.stderr.len().min(4000)]
    );
}

#[test]
fn keyed_timers_are_capped_and_impossible_times_refused() {
    let (input, _) = input();
    // 2,000 new timers a row: 6 M over the run, past the default cap of 2 M.
    let flood = run_plugin(
        "hostile_keyed.wasm",
        r#"{ mode = "flood", count = 2000 }"#,
        r#"key_by = "sensor_id""#,
        &input,
    );
    assert!(flood.ok, "{}", flood.stderr);
    assert!(!flood.dead.is_empty());
    assert!(
        flood
            .dead
            .iter()
            .all(|d| d["reason"].as_str().unwrap().contains("max_timers")),
        "{:?}",
        flood.dead.first()
    );
    for at in [i64::MIN, i64::MAX, -62_135_596_800_001] {
        let outcome = run_plugin(
            "hostile_keyed.wasm",
            &format!(r#"{{ mode = "at", at = {at} }}"#),
            r#"key_by = "sensor_id""#,
            &input,
        );
        assert_refused_everywhere(&outcome, "impossible time");
    }
}

/// `weir validate` on a pipeline of one plugin at `path`, bounded in time.
fn validate_plugin(path: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("p.toml");
    fs::write(
        &pipeline,
        stdin_pipeline(
            r#"{ sensor_id = "string", temperature = "f64", event_time = "i64" }"#,
            &format!("type = \"plugin\"\npath = \"{path}\"\nconfig = {{ mode = \"pass\" }}"),
        ),
    )
    .unwrap();
    weir_bounded(
        &["validate", pipeline.to_str().unwrap()],
        b"",
        std::time::Duration::from_secs(60),
        2048,
    )
    .within_bounds()
}

#[test]
fn a_plugin_lying_in_its_description_is_refused_at_load_quickly() {
    let huge = validate_plugin(&plugin("rogue_huge_name.wasm"));
    let stderr = text(&huge.stderr);
    assert!(!huge.status.success());
    assert!(
        stderr.contains("bytes long, over the limit of 128"),
        "{}",
        &stderr[..stderr.len().min(2000)]
    );
    assert!(
        stderr.len() < 10_000,
        "the 10 MB name is not echoed: {} bytes",
        stderr.len()
    );

    let wide = validate_plugin(&plugin("rogue_many_fields.wasm"));
    let stderr = text(&wide.stderr);
    assert!(!wide.status.success());
    assert!(
        stderr.contains("declares 200001 fields, over the limit of 1024"),
        "{stderr}"
    );

    // `describe` asks to sleep five minutes; the bound is one.
    let sleepy = validate_plugin(&plugin("rogue_sleepy_describe.wasm"));
    assert!(sleepy.status.success(), "{}", text(&sleepy.stderr));
}

#[test]
fn a_fifo_in_place_of_a_component_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("plugin.wasm");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let out = validate_plugin(fifo.to_str().unwrap());
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("not a regular file"), "{stderr}");
}

/// The limits a pipeline sets are the ones enforced, in both directions: a
/// plugin within the defaults passes them, and fails under tighter ones.
#[test]
fn configured_limits_are_honoured_where_the_defaults_let_the_same_plugin_pass() {
    let (input, poisoned) = input();
    // 40 MiB for each poison row: within the default 64 MiB, not within 32.
    let hoard = r#"{ mode = "hoard", trigger = 666.0, width = 40 }"#;
    let roomy = run_hostile(hoard, "", &input);
    assert!(roomy.ok, "{}", roomy.stderr);
    assert!(roomy.dead.is_empty(), "{:?}", roomy.dead.first());
    assert_eq!(roomy.out.len(), 3_000);
    assert_contained(
        &run_hostile(hoard, "memory_mib = 32", &input),
        &poisoned,
        "memory limit",
    );

    // About 0.3 s of work for each poison row (measured on the 2-core VM):
    // within the default 1 s budget, past a 50 ms one.
    let work = r#"{ mode = "slow", trigger = 666.0, spin = 250000000 }"#;
    let patient = run_hostile(work, "", &input);
    assert!(patient.ok, "{}", patient.stderr);
    assert!(patient.dead.is_empty(), "{:?}", patient.dead.first());
    assert_eq!(patient.out.len(), 3_000);
    assert_contained(
        &run_hostile(work, r#"batch_deadline = "50ms""#, &input),
        &poisoned,
        "cpu deadline",
    );
}
