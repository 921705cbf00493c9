//! The live page, looked at in a real headless Chromium (Debian's, driven by
//! playwright-core; `scripts/browser install` sets both up): a host running
//! the seed query on a paced live stream, the page opened while it runs, and
//! what the page showed checked against what the host wrote.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use weir_tests::live::LiveHost;
use weir_tests::{json_lines, seed_query, text, weir_binary};

fn browser_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        dir.join("node_modules/playwright-core").exists()
            && Path::new("/usr/bin/chromium").exists(),
        "Chromium or playwright-core missing: run scripts/browser install (scripts/test does)"
    );
    dir
}

/// Where test artefacts are kept after the run: beside the `weir` binary.
fn artefact(name: &str) -> PathBuf {
    let dir = weir_binary()
        .parent()
        .expect("target/<profile>")
        .join("artefacts");
    std::fs::create_dir_all(&dir).expect("artefact directory");
    dir.join(name)
}

/// `key=value` pairs of a result as the page lists it.
fn fields(line: &str) -> HashMap<String, String> {
    line.split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_live_page_shows_counters_rising_results_arriving_and_the_plugins() {
    let browser = browser_dir();
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("alerts.ndjson");
    let pipeline = dir.path().join("live.toml");
    let filter = weir_tests::plugin("over_threshold.wasm");
    let source = r#"{ kind = "stdin", format = "json" }"#;
    let text_of_pipeline = seed_query(
        source,
        Path::new(&filter),
        &output,
        Some(&dir.path().join("dead.ndjson")),
    );
    std::fs::write(&pipeline, text_of_pipeline).unwrap();
    let mut host = LiveHost::start(&pipeline, dir.path(), &[]);
    // Readings stamped with the wall clock at 3,000/s: windows close as time
    // passes, as on a real stream, with a few late readings.
    let mut generator = Command::new(weir_binary())
        .args([
            "generate",
            "sensors",
            "--events",
            "1000000000",
            "--rate",
            "3000",
        ])
        .args(["--now", "--late-ratio", "0.001", "--seed", "5"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the generator");
    let feeder = host.feed_from(generator.stdout.take().unwrap());

    let screenshot = artefact("live-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let url = format!("http://{}/", host.addr);
    let looked = Command::new("node")
        .arg(browser.join("live-page.mjs"))
        .arg(&url)
        .arg(&screenshot)
        .current_dir(&browser)
        .output()
        .expect("running node (scripts/browser install puts it there)");
    let (_, status) = host.get("/v1/status");
    let metrics = host.metrics();
    let _ = generator.kill();
    let _ = generator.wait();
    feeder.join().unwrap();
    let finished = host.finish();
    assert!(finished.success, "{}", finished.stderr);

    let report = text(&looked.stdout);
    assert!(
        looked.status.success(),
        "the browser check failed:\n{report}\n{}\n{}",
        text(&looked.stderr),
        finished.stderr
    );
    let seen: serde_json::Value = serde_json::from_str(report.trim()).expect("the check's JSON");
    eprintln!("the page showed: {seen:#}");
    eprintln!("screenshot: {}", screenshot.display());
    assert_eq!(
        seen["errors"],
        serde_json::json!([]),
        "script errors on the page"
    );
    assert_eq!(seen["state"], "running");
    let events = |key: &str| {
        seen[key]
            .as_u64()
            .unwrap_or_else(|| panic!("the page showed no `{key}`: {seen:#}"))
    };
    assert!(events("events_later") > events("events_first"));

    // Every alert on the page is one the sink wrote, with the same count.
    let written: Vec<_> = json_lines(&std::fs::read_to_string(&output).unwrap());
    let alerts = seen["results"].as_array().unwrap();
    assert!(!alerts.is_empty());
    for alert in alerts {
        let shown = fields(alert.as_str().unwrap());
        let matching = written.iter().find(|row| {
            row["sensor_id"] == shown["sensor_id"].as_str()
                && row["window_start"] == shown["window_start"].as_str()
        });
        let row = matching.unwrap_or_else(|| panic!("{alert} is not among the results written"));
        assert_eq!(row["count"].to_string(), shown["count"], "{alert}");
        assert!(row["count"].as_i64().unwrap() > 5);
    }
    // Window results are listed under their stage, alerts or not.
    let window_results = seen["window_results"].as_array().unwrap();
    assert!(!window_results.is_empty());
    assert!(window_results
        .iter()
        .all(|r| r.as_str().unwrap().starts_with("window-2")
            && fields(r.as_str().unwrap()).contains_key("count")));

    // The stages as the admin API lists them, plugin versions included.
    let stages = seen["stages"].as_array().unwrap();
    let listed = status["stages"].as_array().unwrap();
    assert_eq!(stages.len(), listed.len());
    for (shown, stage) in stages.iter().zip(listed) {
        assert_eq!(shown["stage"], stage["name"]);
        if let Some(plugin) = stage.get("plugin") {
            let cell = shown["cells"][2].as_str().unwrap();
            let expected = format!(
                "{} {}",
                plugin["name"].as_str().unwrap(),
                plugin["version"].as_str().unwrap()
            );
            assert!(cell.starts_with(&expected), "{cell} vs {expected}");
        }
    }
    // The page and /metrics name the same kind of bottleneck verdict.
    let part = seen["bottleneck"].as_str().unwrap();
    let names: Vec<&str> = listed.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(
        ["none", "sink", "decoders"].contains(&part) || names.contains(&part),
        "{part}"
    );
    assert!(metrics.contains("weir_bottleneck_info{"), "{metrics}");
    let png = std::fs::read(&screenshot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}
