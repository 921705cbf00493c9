//! Plugins written in Python (plugin-sdk/python, built with componentize-py
//! by scripts/python-plugins): the seed query with its two plugins in
//! Python gives the reference alerts, byte for byte what the Rust plugins
//! give, and a Python plugin that raises, loops, hoards memory or reaches
//! for a file or a socket is contained exactly as a Rust one is.

use std::fs;

use weir_tests::*;
use weir_tests::{keyed_swap, languages};

/// The component scripts/python-plugins builds from plugins/python/<name>.
fn python_plugin(name: &str) -> String {
    languages::component(name, "py", "scripts/python-plugins build")
}

#[test]
fn the_seed_query_with_python_plugins_gives_the_reference_alerts() {
    languages::seed_query_matches_rust_and_the_reference(
        &python_plugin("over_threshold"),
        &python_plugin("spike_alert"),
    );
}

/// A Python exception fails only the rows it was raised on: bisection
/// finds them, each goes to the dead letters with the exception's message,
/// and every other row goes on.
#[test]
fn rows_a_python_plugin_raises_on_are_dead_lettered_with_its_message() {
    languages::raised_rows_are_dead_lettered(&python_plugin("hostile"));
}

/// The sandbox holds for Python as for Rust: an endless loop meets the CPU
/// deadline, endless allocation the memory limit, and the interpreter finds
/// no file and no socket. Every row is dead-lettered with the reason.
#[test]
fn a_python_plugin_cannot_loop_hoard_or_reach_out() {
    languages::every_row_fails_with(
        &python_plugin("hostile"),
        &[
            ("{ loop = true }", "trapped (cpu deadline)"),
            ("{ allocate = true }", "trapped (memory limit)"),
            (
                r#"{ open = "/etc/hostname" }"#,
                "No such file or directory: '/etc/hostname'",
            ),
            (
                r#"{ connect = "127.0.0.1:22" }"#,
                "No module named 'socket'",
            ),
            (r#"{ list = "/" }"#, "FileNotFoundError"),
        ],
    );
}

/// A configuration the plugin refuses stops the pipeline at load, with the
/// plugin's own message and where the operator is.
#[test]
fn a_config_a_python_plugin_refuses_is_named_at_load() {
    languages::bad_threshold_is_named_at_load(
        &python_plugin("over_threshold"),
        "over-threshold-py",
        "'hot'",
    );
}

/// pipelines/sensor-alerts-python.toml and its SQL twin give what
/// pipelines/sensor-alerts.toml gives with the Rust plugins, byte for byte.
#[test]
fn the_python_pipeline_and_its_twin_give_the_rust_pipelines_alerts() {
    python_plugin("over_threshold");
    python_plugin("spike_alert");
    languages::pipeline_and_twin_match_the_rust_one("sensor-alerts-python");
}

/// The fraud detector in Python — keyed: each user's state held by the
/// host, timers — flags exactly what the Rust one flags on generated
/// payments, at parallelism 1 and 2.
#[test]
fn the_python_fraud_detector_flags_what_the_rust_one_flags() {
    languages::fraud_detector_flags_what_the_rust_one_flags(&python_plugin("fraud_detector"));
}

/// A running pipeline swaps its filter from the Rust component to the
/// Python one and back, six times, under a steady stream: every alert of
/// the reference model, none twice, none lost.
#[test]
fn a_running_pipeline_swaps_between_the_rust_and_the_python_filter() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use weir_tests::live::LiveHost;

    let dir = tempfile::tempdir().unwrap();
    let (rust, python) = (
        dir.path().join("filter-rust.wasm"),
        dir.path().join("filter-python.wasm"),
    );
    fs::copy(plugin("over_threshold.wasm"), &rust).unwrap();
    fs::copy(python_plugin("over_threshold"), &python).unwrap();
    let input = generated(300_000, 17, 0.0);
    let expected = reference_alerts(&parse_readings(&input), 5_000, 100.0, 5).0;
    assert!(expected.len() > 100);

    let output = dir.path().join("alerts.jsonl");
    let pipeline = dir.path().join("swapped.toml");
    fs::write(
        &pipeline,
        seed_query(r#"{ kind = "stdin" }"#, &rust, &output, None),
    )
    .unwrap();
    let mut host = LiveHost::start(&pipeline, dir.path(), &[]);
    let busy = Arc::new(AtomicBool::new(true));
    let feeder = host.feed(input.into_bytes(), busy.clone());
    for i in 0..6 {
        let next = if i % 2 == 0 { &python } else { &rust };
        let (status, body) = host.swap("hot", next, None);
        assert_eq!(
            (status, body["outcome"].as_str()),
            (200, Some("swapped")),
            "swap {i}: {body}\n{}",
            host.stderr()
        );
    }
    busy.store(false, Ordering::SeqCst);
    feeder.join().unwrap();
    let finished = host.finish();
    assert!(finished.success, "{}", finished.stderr);
    assert_eq!(summary_count(&finished.stderr, "events in"), 300_000);
    assert!(
        finished.stderr.contains("swap kept 6"),
        "{}",
        finished.stderr
    );
    assert_eq!(
        parse_alerts(&fs::read_to_string(&output).unwrap()),
        expected
    );
}

#[test]
fn weir_plugin_build_builds_a_python_plugin() {
    languages::weir_plugin_build_works_and_names_a_missing_tool(
        "python/over_threshold",
        "plugin over-threshold-py 0.1.0 (filter)",
        "componentize-py is not installed; run scripts/python-plugins install",
    );
}

/// `weir plugin new --lang python` for each kind the Python SDK has, outside
/// a checkout: each plugin's test passes in CPython (and fails once its
/// logic is broken); the filter and the keyed one build into components
/// with the SDK this weir carries, and the filter keeps the hot reading.
#[test]
fn weir_plugin_new_python_scaffolds_plugins_that_test_build_and_run() {
    let dir = languages::scaffolded_plugins_pass_their_tests(
        "python",
        &["filter", "map", "flat-map", "keyed", "aggregate"],
        &["python3", "-m", "unittest", "discover", "-s"],
        "",
        ("> self.threshold", ">= 0.0 * self.threshold"),
    );
    let tried = languages::build_and_try_scaffolded(
        dir.path(),
        "hot_filter",
        r#"{"threshold": 100.0}"#,
        None,
    );
    assert!(tried.contains("line 1: dropped"), "{tried}");
    assert!(tried.contains("line 2: {\"temperature\":101.5}"), "{tried}");
    languages::scaffolded_keyed_plugin_alerts_on_the_hot_reading(dir.path());
}

/// An aggregate plugin in Python: the temperature's spread per sensor and
/// window equals the host's own max minus min of the same window, exactly.
#[test]
fn a_python_aggregate_gives_the_hosts_max_minus_min() {
    languages::spread_equals_the_hosts_max_minus_min(&python_plugin("temperature_range"));
}

#[test]
fn the_python_sustained_heat_gives_the_rust_alerts() {
    keyed_swap::heat_gives_the_rust_alerts(&python_plugin("sustained_heat"));
}

/// A second version of the Python sustained heat, built here: it also
/// counts each streak's readings, a new state shape (version 2) that it
/// migrates version 1's states to.
#[test]
fn a_python_keyed_plugins_state_is_migrated_on_a_swap() {
    let shipped = fs::read_to_string(repo_file("plugins/python/sustained_heat/app.py")).unwrap();
    let app = r#"
from heat import SustainedHeat
from weir_plugin import export


class CountingHeat(SustainedHeat):
    state_version = 2
    migrates_from = (1,)

    def process(self, row, ctx):
        if ctx.state is not None and "readings" not in ctx.state:
            raise ValueError(f"a version 1 state reached version 2: {ctx.state}")
        super().process(row, ctx)
        if ctx.state is not None:
            ctx.state["readings"] = ctx.state.get("readings", 0) + 1

    def migrate(self, from_version, state):
        return {**state, "readings": 0}


WitWorld = export(CountingHeat, name="sustained-heat-py", version="0.2.0")
"#;
    keyed_swap::heat_state_survives_a_migrating_swap(
        &python_plugin("sustained_heat"),
        &[("heat.py", &shipped), ("app.py", app)],
    );
}
