//! Checks shared by the plugin languages' tests: a plugin written in another
//! language must give, byte for byte, what the Rust one gives.

use std::fs;
use std::path::Path;

use crate::{
    generated, json_lines, parse_alerts, parse_readings, plugin, reference_alerts, refused,
    seed_query, stdin_pipeline, text, weir,
};

/// The component `build` (a script) makes from a plugin in another
/// language: plugins/dist/<name>_<suffix>.wasm.
pub fn component(name: &str, suffix: &str, build: &str) -> String {
    let path = plugin(&format!("{name}_{suffix}.wasm"));
    assert!(
        Path::new(&path).exists(),
        "{path} missing: run {build} (scripts/test does)"
    );
    path
}

/// The over-threshold `component` given `threshold = "hot"` is refused at
/// load with the plugin's message (`got`: how it prints "hot").
pub fn bad_threshold_is_named_at_load(component: &str, plugin_name: &str, got: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("p.toml");
    fs::write(
        &file,
        stdin_pipeline(
            r#"{ temperature = "f64", event_time = "timestamp" }"#,
            &format!(
                "type = \"plugin\"\npath = \"{component}\"\nconfig = {{ threshold = \"hot\" }}"
            ),
        ),
    )
    .expect("writing the pipeline");
    refused(
        &file,
        &format!("p.toml:7:1: operator #1: plugin `{plugin_name}` rejected its config: threshold must be a finite number, got {got}"),
        "a string threshold",
    );
}

/// The seed query on 100 k generated readings with `filter` and `alert`
/// (components) in place of the Rust plugins: the reference model's alerts,
/// and the Rust plugins' output exactly.
pub fn seed_query_matches_rust_and_the_reference(filter: &str, alert: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("in.ndjson");
    let readings = generated(100_000, 23, 0.02);
    fs::write(&input, &readings).expect("writing the input");
    let source = format!(r#"{{ kind = "file", path = "{}" }}"#, input.display());
    let mut outputs = Vec::new();
    for (filter, alert) in [
        (plugin("over_threshold.wasm"), plugin("spike_alert.wasm")),
        (filter.to_string(), alert.to_string()),
    ] {
        let output = dir.path().join("alerts.ndjson");
        let pipeline = seed_query(&source, Path::new(&filter), &output, None)
            .replace(&plugin("spike_alert.wasm"), &alert);
        assert!(pipeline.contains(&alert));
        let file = dir.path().join("seed.toml");
        fs::write(&file, pipeline).expect("writing the pipeline");
        let run = weir(&["run", file.to_str().expect("utf-8 path")], b"");
        assert!(run.status.success(), "{}", text(&run.stderr));
        outputs.push(fs::read_to_string(&output).expect("the alerts"));
    }
    let (expected, late) = reference_alerts(&parse_readings(&readings), 5_000, 100.0, 5);
    assert!(expected.len() > 50 && late > 0);
    let mut got = parse_alerts(&outputs[1]);
    got.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    assert_eq!(got, expected);
    assert!(
        outputs[0] == outputs[1],
        "{filter}, {alert}: the alerts differ from the Rust plugins'"
    );
    let first = json_lines(&outputs[1]);
    assert!(
        first[0]["alert"]
            .as_str()
            .is_some_and(|a| a.contains("readings in one window, more than 5")),
        "{first:?}"
    );
}

/// pipelines/`name`.toml and its SQL twin give what
/// pipelines/sensor-alerts.toml gives with the Rust plugins, byte for byte.
pub fn pipeline_and_twin_match_the_rust_one(name: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines");
    let outputs: Vec<String> = [
        "sensor-alerts.toml".to_string(),
        format!("{name}.toml"),
        format!("{name}.sql"),
    ]
    .iter()
    .map(|file| {
        let run = weir(&["run", root.join(file).to_str().expect("utf-8 path")], b"");
        assert!(run.status.success(), "{file}: {}", text(&run.stderr));
        text(&run.stdout)
    })
    .collect();
    assert!(outputs[0].lines().count() > 100);
    assert!(outputs[1] == outputs[0], "{name}.toml: the alerts differ");
    assert!(outputs[2] == outputs[0], "{name}.sql: the alerts differ");
}

/// `weir plugin build plugins/<dir>/<name>` makes the component and shows
/// what it declares (`declares`); with no tool installed it names the
/// command that installs it (`install`).
pub fn weir_plugin_build_works_and_names_a_missing_tool(dir: &str, declares: &str, install: &str) {
    let out = tempfile::tempdir().expect("temp dir");
    let plugin_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins")
        .join(dir);
    let built = weir(
        &[
            "plugin",
            "build",
            plugin_dir.to_str().expect("utf-8 path"),
            "--out",
            out.path().to_str().expect("utf-8 path"),
        ],
        b"",
    );
    let stdout = text(&built.stdout);
    assert!(built.status.success(), "{stdout}{}", text(&built.stderr));
    assert!(stdout.contains(declares), "{stdout}");
    assert_eq!(fs::read_dir(out.path()).expect("the output").count(), 1);

    let no_tools = tempfile::tempdir().expect("temp dir");
    let missing = std::process::Command::new(crate::weir_binary())
        .args(["plugin", "build", plugin_dir.to_str().expect("utf-8 path")])
        .env("WEIR_TOOLS", no_tools.path())
        .env("PATH", no_tools.path())
        .output()
        .expect("running weir");
    let stderr = text(&missing.stderr);
    assert_eq!(missing.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(install), "{stderr}");
}
