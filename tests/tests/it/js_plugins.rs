//! Plugins written in JavaScript (plugin-sdk/js, built with componentize-js
//! by scripts/js-plugins): the seed query with its two plugins in
//! JavaScript gives the reference alerts, byte for byte what the Rust
//! plugins give, and a configuration the plugin refuses is named at load.

use std::fs;

use weir_tests::{keyed_swap, languages, repo_file};

/// The component scripts/js-plugins builds from plugins/js/<name>.
fn js_plugin(name: &str) -> String {
    languages::component(name, "js", "scripts/js-plugins build")
}

#[test]
fn the_seed_query_with_javascript_plugins_gives_the_reference_alerts() {
    languages::seed_query_matches_rust_and_the_reference(
        &js_plugin("over_threshold"),
        &js_plugin("spike_alert"),
    );
}

/// pipelines/sensor-alerts-js.toml and its SQL twin give what
/// pipelines/sensor-alerts.toml gives with the Rust plugins, byte for byte.
#[test]
fn the_javascript_pipeline_and_its_twin_give_the_rust_pipelines_alerts() {
    js_plugin("over_threshold");
    js_plugin("spike_alert");
    languages::pipeline_and_twin_match_the_rust_one("sensor-alerts-js");
}

#[test]
fn a_config_a_javascript_plugin_refuses_is_named_at_load() {
    languages::bad_threshold_is_named_at_load(
        &js_plugin("over_threshold"),
        "over-threshold-js",
        "\"hot\"",
    );
}

#[test]
fn weir_plugin_build_builds_a_javascript_plugin() {
    languages::weir_plugin_build_works_and_names_a_missing_tool(
        "js/spike_alert",
        "plugin spike-alert-js 0.1.0 (flat-map)",
        "componentize-js is not installed; run scripts/js-plugins install",
    );
}

/// A JavaScript exception fails only the rows it was thrown on, each
/// dead-lettered with its message.
#[test]
fn rows_a_javascript_plugin_throws_on_are_dead_lettered_with_its_message() {
    languages::raised_rows_are_dead_lettered(&js_plugin("hostile"));
}

/// The sandbox holds for JavaScript as for Rust: an endless loop meets the
/// CPU deadline, endless allocation the memory limit, and `fetch` has no
/// network to reach (the component traps).
#[test]
fn a_javascript_plugin_cannot_loop_hoard_or_reach_out() {
    languages::every_row_fails_with(
        &js_plugin("hostile"),
        &[
            ("{ loop = true }", "trapped (cpu deadline)"),
            ("{ allocate = true }", "trapped (memory limit)"),
            (r#"{ fetch = "http://127.0.0.1:1/" }"#, "trapped (panic)"),
        ],
    );
}

/// `weir plugin new --lang js` for each kind the JavaScript SDK has, outside
/// a checkout: each plugin's test passes in Node.js (and fails once its
/// logic is broken); the flat-map and the keyed one build into components
/// with the SDK this weir carries and alert on the hot reading only.
#[test]
fn weir_plugin_new_js_scaffolds_plugins_that_test_build_and_run() {
    let dir = languages::scaffolded_plugins_pass_their_tests(
        "js",
        &["filter", "map", "flat-map", "keyed", "aggregate"],
        &["node", "--test"],
        "app.test.mjs",
        ("> this.threshold", ">= 0 * this.threshold"),
    );
    let tried = languages::build_and_try_scaffolded(
        dir.path(),
        "hot_flat_map",
        r#"{"threshold": 100.0}"#,
        None,
    );
    assert!(tried.contains("line 1: dropped"), "{tried}");
    assert!(tried.contains("\"alert\":\"b is at 101.5\""), "{tried}");
    languages::scaffolded_keyed_plugin_alerts_on_the_hot_reading(dir.path());
}

/// The fraud detector in JavaScript — keyed: each user's state held by the
/// host as JSON, timers — flags exactly what the Rust one flags on
/// generated payments, at parallelism 1 and 2.
#[test]
fn the_javascript_fraud_detector_flags_what_the_rust_one_flags() {
    languages::fraud_detector_flags_what_the_rust_one_flags(&js_plugin("fraud_detector"));
}

/// An aggregate plugin in JavaScript: the temperature's spread per sensor
/// and window equals the host's own max minus min of the same window.
#[test]
fn a_javascript_aggregate_gives_the_hosts_max_minus_min() {
    languages::spread_equals_the_hosts_max_minus_min(&js_plugin("temperature_range"));
}

#[test]
fn the_javascript_sustained_heat_gives_the_rust_alerts() {
    keyed_swap::heat_gives_the_rust_alerts(&js_plugin("sustained_heat"));
}

/// A second version of the JavaScript sustained heat, built here from the
/// shipped one's spec: it also counts each streak's readings, a new state
/// shape (version 2) that it migrates version 1's states to.
#[test]
fn a_javascript_keyed_plugins_state_is_migrated_on_a_swap() {
    let shipped = fs::read_to_string(repo_file("plugins/js/sustained_heat/app.js")).unwrap();
    let (spec, _exports) = shipped
        .split_once("export const {")
        .expect("the shipped app ends with its exports");
    let app = format!(
        "{spec}{}",
        r#"
const counting = weir.keyed({
  ...plugin.spec,
  version: "0.2.0",
  stateVersion: 2,
  migratesFrom: [1],
  process(row, ctx) {
    if (ctx.state !== null && ctx.state.readings === undefined) {
      throw new Error(`a version 1 state reached version 2: ${JSON.stringify(ctx.state)}`);
    }
    plugin.spec.process.call(this, row, ctx);
    if (ctx.state !== null) ctx.state.readings = (ctx.state.readings ?? 0) + 1;
  },
  migrate: (from, state) => ({ ...state, readings: 0 }),
});

export const {
  describe, init, process, processKeyed, migrateState, aggregateAdd, aggregateMerge, aggregateResult,
} = counting;
"#
    );
    keyed_swap::heat_state_survives_a_migrating_swap(
        &js_plugin("sustained_heat"),
        &[("app.js", &app)],
    );
}
