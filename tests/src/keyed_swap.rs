//! Keyed plugins in other languages: the sustained-heat port gives the Rust
//! plugin's alerts byte for byte, and its state lives through a swap to a
//! version that stores another state shape (migrated by the plugin), while
//! a swap back, which cannot read that shape, is refused.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::live::LiveHost;
use crate::{generated, heat_pipeline, json_lines, plugin, text, weir};

/// Each (sensor, hot since) alerted, with how many times: a multiset, so
/// an alert raised twice is caught.
pub fn streaks(jsonl: &str) -> BTreeMap<(String, String), usize> {
    let mut counted = BTreeMap::new();
    for a in json_lines(jsonl) {
        let streak = (
            a["sensor_id"].as_str().expect("sensor_id").to_string(),
            a["hot_since"].as_str().expect("hot_since").to_string(),
        );
        *counted.entry(streak).or_insert(0) += 1;
    }
    counted
}

/// What the heat pipeline with `component` writes for `input` read from a file.
fn heat_alerts(dir: &Path, input: &Path, component: &Path, name: &str) -> String {
    let output = dir.join(format!("{name}.jsonl"));
    let pipeline = dir.join(format!("{name}.toml"));
    let source = format!(r#"{{ kind = "file", path = "{}" }}"#, input.display());
    fs::write(&pipeline, heat_pipeline(&source, component, &output)).expect("pipeline");
    let run = weir(&["run", pipeline.to_str().expect("utf-8 path")], b"");
    assert!(run.status.success(), "{name}: {}", text(&run.stderr));
    fs::read_to_string(&output).expect("alerts")
}

/// The sustained-heat `component` alerts byte for byte as the Rust plugin
/// does on generated readings.
pub fn heat_gives_the_rust_alerts(component: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let readings = generated(100_000, 21, 0.0);
    let input = dir.path().join("in.ndjson");
    fs::write(&input, &readings).expect("input");
    let rust = heat_alerts(
        dir.path(),
        &input,
        Path::new(&plugin("sustained_heat.wasm")),
        "rust",
    );
    let other = heat_alerts(dir.path(), &input, Path::new(component), "other");
    assert!(rust.lines().count() > 100, "the workload has hot streaks");
    assert!(other == rust, "the alerts differ from the Rust plugin's");
}

/// A live pipeline running `v1` (sustained heat, state version 1) swaps to
/// version 2 (state version 2, migrating from 1), built from `v2_files`
/// (name, text) with `weir plugin build` outside the checkout, mid-stream:
/// every streak of a run of the Rust plugin alerts once; the swap back to
/// `v1` is refused.
pub fn heat_state_survives_a_migrating_swap(v1_built: &str, v2_files: &[(&str, &str)]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = dir.path().join("heat_v2");
    fs::create_dir(&source).expect("the plugin's folder");
    for (name, text) in v2_files {
        fs::write(source.join(name), text).expect("the plugin's source");
    }
    let v2_built = crate::languages::build_outside_a_checkout(dir.path(), "heat_v2");
    let input = generated(100_000, 21, 0.0);
    let reference_out = dir.path().join("reference.jsonl");
    let reference = dir.path().join("reference.toml");
    let rust = plugin("sustained_heat.wasm");
    fs::write(
        &reference,
        heat_pipeline(r#"{ kind = "stdin" }"#, Path::new(&rust), &reference_out),
    )
    .expect("pipeline");
    let run = weir(
        &["run", reference.to_str().expect("utf-8")],
        input.as_bytes(),
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    let expected = streaks(&fs::read_to_string(&reference_out).expect("reference"));

    // Swaps load only from the running version's plugin directory.
    let (v1, v2) = (
        dir.path().join("heat-v1.wasm"),
        dir.path().join("heat-v2.wasm"),
    );
    fs::copy(v1_built, &v1).expect("copying v1");
    fs::copy(&v2_built, &v2).expect("copying v2");
    let output = dir.path().join("swapped.jsonl");
    let pipeline = dir.path().join("swapped.toml");
    fs::write(
        &pipeline,
        heat_pipeline(r#"{ kind = "stdin" }"#, &v1, &output),
    )
    .expect("pipeline");
    let mut host = LiveHost::start(&pipeline, dir.path(), &[]);
    let busy = Arc::new(AtomicBool::new(true));
    let feeder = host.feed(input.into_bytes(), busy.clone());
    wait_for_rows(&host, 5_000);
    let (status, body) = host.swap("heat", &v2, None);
    assert_eq!(
        (status, body["outcome"].as_str()),
        (200, Some("swapped")),
        "{body}\n{}",
        host.stderr()
    );
    let (status, body) = host.swap("heat", &v1, None);
    assert_eq!(
        (status, body["outcome"].as_str()),
        (409, Some("refused")),
        "{body}"
    );
    let error = body["error"].as_str().expect("the reason");
    assert!(
        error.contains("cannot migrate the stage's state version 2"),
        "{error}"
    );
    busy.store(false, Ordering::SeqCst);
    feeder.join().expect("feeder");
    let finished = host.finish();
    assert!(finished.success, "{}", finished.stderr);
    let migrated = finished
        .stderr
        .lines()
        .find(|l| l.contains("state migrated from version 1 to 2"))
        .unwrap_or_else(|| panic!("no migration logged:\n{}", finished.stderr));
    let keys: usize = migrated
        .split_once("keys=")
        .and_then(|(_, n)| n.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no key count: {migrated}"));
    assert!(keys > 0, "nothing was migrated: {migrated}");
    let got = streaks(&fs::read_to_string(&output).expect("alerts"));
    let differ: Vec<_> = expected
        .iter()
        .filter(|(streak, n)| got.get(*streak) != Some(n))
        .map(|(streak, n)| (streak, *n, got.get(streak).copied().unwrap_or(0)))
        .chain(
            got.iter()
                .filter(|(streak, _)| !expected.contains_key(*streak))
                .map(|(streak, n)| (streak, 0, *n)),
        )
        .collect();
    assert!(
        differ.is_empty(),
        "the swap lost or invented {} hot streaks ((sensor, since), expected, got), first: {:?}\n{}",
        differ.len(),
        &differ[..differ.len().min(10)],
        finished.stderr.lines().take(40).collect::<Vec<_>>().join("\n")
    );
}

/// Waits (at most 60 s) until the stage `heat` has taken `rows` rows in.
fn wait_for_rows(host: &LiveHost, rows: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let metrics = host.metrics();
        let seen = metrics
            .lines()
            .find(|l| l.starts_with("weir_stage_rows_in_total{") && l.contains(r#"stage="heat""#))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok());
        if seen.is_some_and(|n| n >= rows) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the stage took no rows:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
