//! `weir plugin test`: a plugin over sample records, without a pipeline.

use std::path::Path;
use std::process::Output;

use weir_tests::{generated, parse_readings, plugin, text, weir, weir_binary};

/// `weir plugin test` of over-threshold on `input`.
fn over_threshold_on(input: &Path, config: Option<&str>) -> Output {
    let (component, input) = (plugin("over_threshold.wasm"), input.to_str().unwrap());
    let mut args = vec!["plugin", "test", &component, "--input", input];
    if let Some(config) = config {
        args.extend(["--config", config]);
    }
    weir(&args, b"")
}

#[test]
fn plugin_test_shows_what_a_filter_does_with_each_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("sample.ndjson");
    let mut sample = generated(200, 4, 0.0);
    sample.push_str("{\"sensor_id\":\"x\",\"temperature\":\"warm\",\"event_time\":1}\n");
    std::fs::write(&input, &sample).unwrap();
    let out = over_threshold_on(&input, Some(r#"{"threshold": 100.0}"#));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let readings = parse_readings(&generated(200, 4, 0.0));
    for (i, reading) in readings.iter().enumerate() {
        let line = format!("line {}: ", i + 1);
        let shown = stdout
            .lines()
            .find(|l| l.starts_with(&line))
            .unwrap_or_else(|| panic!("no {line}in:\n{stdout}"));
        if reading.temperature > 100.0 {
            assert!(shown.contains("\"temperature\""), "{shown}");
        } else {
            assert!(shown.ends_with("dropped"), "{shown}");
        }
    }
    let kept = readings.iter().filter(|r| r.temperature > 100.0).count();
    assert!(
        stdout.contains("line 201: not decoded: field `temperature`"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "201 lines: {kept} rows out, {} dropped, 0 failed, 1 not decoded",
            200 - kept
        )),
        "{stdout}"
    );
}

#[test]
fn plugin_test_reports_a_rejected_config() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("sample.ndjson");
    std::fs::write(&input, generated(5, 1, 0.0)).unwrap();
    let out = over_threshold_on(&input, None);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("rejected its config"),
        "{}",
        text(&out.stderr)
    );
}

/// `cargo` with its own target directory, kept between runs (beside the
/// shared one when there is one), so the outer `cargo test` is not blocked.
fn cargo(args: &[&str], dir: &Path) -> Output {
    std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", scaffold_target())
        .output()
        .expect("running cargo")
}

fn scaffold_target() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("scaffold-test")
}

/// `weir plugin new` outside a checkout, with no `--sdk`: the SDK comes from
/// the binary, written under `data`.
fn new_plugin_outside_a_checkout(name: &str, kind: &str, dir: &Path, data: &Path) -> Output {
    std::process::Command::new(weir_binary())
        .args(["plugin", "new", name, "--kind", kind])
        .current_dir(dir)
        .env("XDG_DATA_HOME", data)
        .output()
        .unwrap()
}

#[test]
fn new_plugins_of_every_kind_pass_their_tests_and_one_runs_as_a_component() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk");
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    for (name, kind) in [
        ("my-filter", "filter"),
        ("my-map", "map"),
        // The issue's names for flat-map and keyed, which clap takes as aliases.
        ("my-alert", "alert"),
        ("my-detector", "stateful"),
        ("my-aggregate", "aggregate"),
    ] {
        let out = new_plugin_outside_a_checkout(name, kind, dir.path(), data.path());
        assert!(out.status.success(), "{}", text(&out.stderr));
        let crate_dir = dir.path().join(name);
        // The workspace's versions, so the build reuses what is compiled.
        std::fs::copy(&lock, crate_dir.join("Cargo.lock")).unwrap();
        let test = cargo(&["test", "--release", "--offline"], &crate_dir);
        assert!(test.status.success(), "{name}: {}", text(&test.stderr));
        assert!(
            text(&test.stdout).contains("1 passed"),
            "{name}: {}",
            text(&test.stdout)
        );
    }
    // One copy of the SDK, shared by every plugin; none of the checkout's.
    let written: Vec<_> = std::fs::read_dir(data.path().join("weir"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    let manifest = std::fs::read_to_string(dir.path().join("my-map/Cargo.toml")).unwrap();
    assert!(
        manifest.contains(written[0].to_str().unwrap()),
        "{manifest}"
    );
    assert!(!manifest.contains(sdk.to_str().unwrap()), "{manifest}");
    let again = weir(
        &[
            "plugin",
            "new",
            "my-map",
            "--dir",
            dir.path().to_str().unwrap(),
            "--sdk",
            sdk.to_str().unwrap(),
        ],
        b"",
    );
    assert!(text(&again.stderr).contains("already exists"));
    let elsewhere = tempfile::tempdir().unwrap();
    let with_sdk = weir(
        &[
            "plugin",
            "new",
            "my-other",
            "--dir",
            elsewhere.path().to_str().unwrap(),
            "--sdk",
            sdk.to_str().unwrap(),
        ],
        b"",
    );
    assert!(with_sdk.status.success(), "{}", text(&with_sdk.stderr));
    let manifest = std::fs::read_to_string(elsewhere.path().join("my-other/Cargo.toml")).unwrap();
    assert!(
        manifest.contains(sdk.canonicalize().unwrap().to_str().unwrap()),
        "{manifest}"
    );

    let alert = dir.path().join("my-alert");
    let out = dir.path().join("dist");
    let build = std::process::Command::new(weir_binary())
        .args([
            "plugin",
            "build",
            alert.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .env("CARGO_TARGET_DIR", scaffold_target())
        .env("CARGO_NET_OFFLINE", "true")
        .output()
        .unwrap();
    assert!(build.status.success(), "{}", text(&build.stderr));
    let report = text(&build.stdout);
    assert!(
        report.contains("plugin my-alert 0.1.0 (flat-map)"),
        "{report}"
    );
    assert!(
        report.contains("reads: sensor_id (string), temperature (f64)"),
        "{report}"
    );
    assert!(report.contains("emits: alert (string)"), "{report}");
    let component = out.join("my_alert.wasm");
    let input = dir.path().join("sample.ndjson");
    std::fs::write(&input, generated(300, 2, 0.0)).unwrap();
    let out = weir(
        &[
            "plugin",
            "test",
            component.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--config",
            r#"{"limit": 118.0}"#,
        ],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let hot = parse_readings(&generated(300, 2, 0.0))
        .iter()
        .filter(|r| r.temperature > 118.0)
        .count();
    assert!(hot > 0);
    assert!(
        text(&out.stdout).contains(&format!("300 lines: {hot} rows out")),
        "{}",
        text(&out.stdout)
    );
}
