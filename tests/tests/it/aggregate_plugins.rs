//! Aggregate plugins in windows through `weir run`: the percentile plugin
//! against exact quantiles computed here, and the errors a misplaced or
//! mismatched plugin gets.

use std::collections::BTreeMap;
use std::path::Path;

use weir_tests::{json_lines, parse_readings, plugin, text, weir};

fn pipeline(input: &Path, output: &Path, window: &str) -> String {
    let percentile = plugin("percentile.wasm");
    weir_tests::sensor_window_pipeline(
        "percentiles",
        input,
        output,
        window,
        &format!(
            r#"n = "count"
p50 = {{ plugin = "{percentile}", field = "temperature", config = {{ quantile = 0.5 }} }}
p99 = {{ plugin = "{percentile}", field = "temperature", config = {{ quantile = 0.99, relative_accuracy = 0.005 }} }}"#
        ),
    )
}

/// The value of rank ⌊q·(n−1)⌋ of `values`, as the plugin defines its quantile.
fn exact(values: &mut [f64], quantile: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[(quantile * (values.len() - 1) as f64).floor() as usize]
}

#[test]
fn percentiles_from_the_plugin_are_within_their_accuracy_of_exact_ones() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    for (window, size, slide, sensors) in [
        (
            "kind = \"tumbling\"\nsize = \"10s\"",
            10_000i64,
            10_000i64,
            1000,
        ),
        // Five panes per window: the plugin's merge is what combines them.
        (
            "kind = \"sliding\"\nsize = \"10s\"\nslide = \"2s\"",
            10_000,
            2_000,
            1000,
        ),
        // One sensor: 5,000 rows per pane, so the host folds rows into the
        // plugin's state as they arrive and merges folded states.
        (
            "kind = \"sliding\"\nsize = \"10s\"\nslide = \"5s\"",
            10_000,
            5_000,
            1,
        ),
    ] {
        let generated = weir(
            &[
                "generate",
                "sensors",
                "--events",
                "200000",
                "--seed",
                "21",
                "--sensors",
                &sensors.to_string(),
            ],
            b"",
        );
        assert!(generated.status.success());
        let readings_text = text(&generated.stdout);
        std::fs::write(&input, &readings_text).unwrap();
        let readings = parse_readings(&readings_text);
        let output = dir.path().join("out.jsonl");
        let file = dir.path().join("p.toml");
        std::fs::write(&file, pipeline(&input, &output, window)).unwrap();
        let run = weir(&["run", file.to_str().unwrap()], b"");
        let stderr = text(&run.stderr);
        assert!(run.status.success(), "{stderr}");
        assert_eq!(
            weir_tests::summary_count(&stderr, "dead-lettered"),
            0,
            "no late readings at late_ratio 0: {stderr}"
        );

        let mut values: BTreeMap<(String, i64), Vec<f64>> = BTreeMap::new();
        for r in &readings {
            let last_start = r.event_time.div_euclid(slide) * slide;
            let mut start = last_start;
            while start > r.event_time - size {
                values
                    .entry((r.sensor_id.clone(), start))
                    .or_default()
                    .push(r.temperature);
                start -= slide;
            }
        }
        let results = json_lines(&std::fs::read_to_string(&output).unwrap());
        assert_eq!(
            results.len(),
            values.len(),
            "one result per sensor and window"
        );
        for row in &results {
            let start =
                weir::format::timestamp::parse(row["window_start"].as_str().unwrap()).unwrap();
            let key = (row["sensor_id"].as_str().unwrap().to_string(), start);
            let values = values.get_mut(&key).unwrap_or_else(|| panic!("{row}"));
            assert_eq!(row["n"].as_i64().unwrap() as usize, values.len(), "{row}");
            for (field, quantile, accuracy) in [("p50", 0.5, 0.01), ("p99", 0.99, 0.005)] {
                let want = exact(values, quantile);
                let got = row[field].as_f64().unwrap();
                assert!(
                    (got - want).abs() <= accuracy * want.abs() + 1e-9,
                    "{field} of {key:?}: {got}, exact {want} ({row})"
                );
            }
        }
    }
}

#[test]
fn a_misplaced_or_mismatched_plugin_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    std::fs::write(&input, weir_tests::generated(100, 1, 0.0)).unwrap();
    let good = pipeline(&input, &dir.path().join("out.jsonl"), "size = \"10s\"");
    let percentile = plugin("percentile.wasm");
    let filter = plugin("over_threshold.wasm");
    for (edit, expected) in [
        (
            good.replacen(&percentile, &filter, 1),
            "is a filter operator, not an aggregate",
        ),
        (
            good.replacen("field = \"temperature\"", "field = \"sensor_id\"", 1),
            "it reads a f64 (`value`), but `sensor_id` is a string",
        ),
        (
            good.replacen("field = \"temperature\"", "field = \"humidity\"", 1),
            "`field = \"humidity\"` is not in the window's input",
        ),
        (
            good.replacen("quantile = 0.5", "quantile = 50", 1),
            "quantile must be within [0, 1]",
        ),
        (
            good.replacen("n = \"count\"", "n = { plugins = \"x.wasm\" }", 1),
            "or a plugin table",
        ),
        (
            format!(
                "{}\n[[operators]]\ntype = \"plugin\"\npath = \"{percentile}\"\n",
                good.split("[sink]").next().unwrap()
            ) + "[sink]\nkind = \"console\"\n",
            "it is an aggregate: use it in a window's `aggregates`",
        ),
    ] {
        let file = dir.path().join("p.toml");
        std::fs::write(&file, &edit).unwrap();
        let run = weir(&["validate", file.to_str().unwrap()], b"");
        let stderr = text(&run.stderr);
        assert!(!run.status.success(), "accepted:\n{edit}");
        assert!(
            stderr.contains(expected),
            "wanted `{expected}` in: {stderr}"
        );
        assert!(stderr.contains("p.toml"), "names the file: {stderr}");
    }
}
