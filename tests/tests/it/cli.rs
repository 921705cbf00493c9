//! The command line's own surface: JSON logs, completions, exit codes.

use weir_tests::{text, weir};

#[test]
fn json_logs_are_one_object_per_line() {
    let pipeline = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pipelines/sensor-alerts.toml"
    );
    let out = weir(
        &[
            "--log-format",
            "json",
            "run",
            pipeline,
            "--quiet",
            "--admin",
            "127.0.0.1:0",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "INFO"
            && l["fields"]["message"]
                .as_str()
                .unwrap()
                .starts_with("admin API on")),
        "{stderr}"
    );
}

#[test]
fn completions_name_every_command_and_usage_errors_exit_2() {
    let out = weir(&["completions", "bash"], b"");
    assert!(out.status.success());
    let script = text(&out.stdout);
    for command in [
        "run", "validate", "generate", "plugin", "bench", "swap", "unload",
    ] {
        assert!(script.contains(command), "{command} missing");
    }
    let usage = weir(&["run"], b"");
    assert_eq!(usage.status.code(), Some(2), "{}", text(&usage.stderr));
    let missing = weir(&["run", "/nonexistent/p.toml"], b"");
    assert_eq!(missing.status.code(), Some(1));
}

/// The subcommands `weir <path> --help` lists.
fn subcommands(path: &[String]) -> Vec<String> {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let help = text(&weir(&args, b"").stdout);
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(String::from)
        .collect()
}

#[test]
fn every_command_has_help_with_an_example() {
    let mut queue = vec![Vec::<String>::new()];
    let mut seen = 0;
    while let Some(path) = queue.pop() {
        for name in subcommands(&path) {
            let mut command = path.clone();
            command.push(name);
            let mut args: Vec<&str> = command.iter().map(String::as_str).collect();
            args.push("--help");
            let out = weir(&args, b"");
            assert!(out.status.success(), "{args:?}");
            let help = text(&out.stdout);
            assert!(
                help.contains("Example"),
                "`weir {}` has no example:\n{help}",
                command.join(" ")
            );
            seen += 1;
            queue.push(command);
        }
    }
    assert!(seen >= 20, "{seen} commands");
    let top = text(&weir(&["--help"], b"").stdout);
    assert!(
        top.contains("Exit codes: 0") && top.contains("2 a usage error"),
        "{top}"
    );
}

/// Every shipped pipeline file and its SQL twin (each `.toml` has a `.sql`
/// beside it) validate.
#[test]
fn every_example_pipeline_and_its_sql_twin_validate() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../pipelines");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("pipelines/") {
        let toml = entry.expect("dir entry").path();
        if toml.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        // Their Python and JavaScript plugins are built with those
        // services' tests, which run these pipelines and their twins
        // (python_plugins::…, js_plugins::…_and_its_twin_give_the_rust_pipelines_alerts).
        if toml
            .file_stem()
            .is_some_and(|s| s == "sensor-alerts-python" || s == "sensor-alerts-js")
        {
            continue;
        }
        let sql = toml.with_extension("sql");
        assert!(sql.exists(), "{} has no SQL twin", toml.display());
        for path in [toml, sql] {
            // sensor-alerts-http reads its secret from the environment;
            // set for the child only (the tests share one process).
            let out = std::process::Command::new(weir_tests::weir_binary())
                .args(["validate", path.to_str().expect("utf-8 path")])
                .env("WEIR_INGEST_SECRET", "example")
                .output()
                .expect("running weir validate");
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                text(&out.stderr)
            );
        }
        checked += 1;
    }
    assert!(checked >= 16, "found {checked} pipelines");
}

/// On a terminal, `weir run` over a file draws a progress bar (bytes, rate,
/// time left, records); when standard error is not a terminal it does not.
#[test]
fn a_progress_bar_shows_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    std::fs::write(&input, weir_tests::generated(500_000, 3, 0.0)).unwrap();
    let pipeline = dir.path().join("p.toml");
    let filter = weir_tests::plugin("over_threshold.wasm");
    let source = format!(r#"{{ kind = "file", path = "{}" }}"#, input.display());
    std::fs::write(
        &pipeline,
        weir_tests::seed_query(
            &source,
            filter.as_ref(),
            &dir.path().join("out.jsonl"),
            None,
        ),
    )
    .unwrap();
    let command = format!(
        "{} run {}",
        weir_tests::weir_binary().display(),
        pipeline.display()
    );
    // `script` runs the command on a pseudo-terminal and copies what it draws.
    let on_terminal = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("script(1), from util-linux");
    assert!(
        on_terminal.status.success(),
        "{}",
        text(&on_terminal.stderr)
    );
    let drawn = String::from_utf8_lossy(&on_terminal.stdout);
    assert!(
        drawn.contains("ETA") && drawn.contains("MiB") && drawn.contains("records"),
        "{drawn}"
    );
    let plain = weir(&["run", pipeline.to_str().unwrap()], b"");
    assert!(plain.status.success());
    assert!(
        !text(&plain.stderr).contains("ETA"),
        "{}",
        text(&plain.stderr)
    );
}

#[test]
fn progress_is_logged_in_plain_lines_when_not_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    std::fs::write(&input, weir_tests::generated(10_000, 3, 0.0)).unwrap();
    let pipeline = dir.path().join("p.toml");
    // ~100 k multiplications per row: about a second for the file, so a
    // line every 100 ms is due several times over.
    std::fs::write(
        &pipeline,
        format!(
            r#"
{head}
[sink]
kind = "file"
path = "{output}"
[[operators]]
type = "plugin"
path = "{plugin}"
config = {{ mode = "slow", spin = 100000 }}
batch_deadline = "60s"
"#,
            head = weir_tests::sensor_pipeline_head("slow", &input, "timestamp"),
            output = dir.path().join("out.jsonl").display(),
            plugin = weir_tests::plugin("hostile.wasm"),
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let plain = weir(
        &[
            "run",
            pipeline.to_str().unwrap(),
            "--progress-every",
            "100ms",
        ],
        b"",
    );
    let took = started.elapsed();
    let stderr = text(&plain.stderr);
    assert!(plain.status.success(), "{stderr}");
    assert!(!stderr.contains("ETA"), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("INFO") && l.contains(" read "))
        .collect();
    eprintln!("{} progress lines in {took:?}", lines.len());
    assert!(took.as_millis() < 300 || !lines.is_empty(), "{stderr}");
    assert!(
        !lines.is_empty(),
        "a run of {took:?} gave no line: {stderr}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.contains("% (") && l.contains(" records, ") && l.contains("left")),
        "{stderr}"
    );
    let quiet = weir(
        &[
            "run",
            pipeline.to_str().unwrap(),
            "--quiet",
            "--progress-every",
            "100ms",
        ],
        b"",
    );
    assert!(
        !text(&quiet.stderr).contains("% ("),
        "{}",
        text(&quiet.stderr)
    );
}

/// The repository root, from this crate's manifest.
fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// Every path the code map names exists, and every relative link of the
/// README and the book leads to a file: neither can go stale unnoticed.
#[test]
fn the_code_map_and_the_book_links_point_at_what_exists() {
    let root = repo_root();
    let map = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let mut named = 0;
    for line in map.lines().filter(|l| l.starts_with("| `")) {
        let path = line.split('`').nth(1).unwrap();
        assert!(
            root.join(path).exists(),
            "docs/architecture.md names {path}, which does not exist"
        );
        named += 1;
    }
    assert!(named > 30, "the code map names {named} paths");
    let mut pages = vec![root.join("README.md"), root.join("CHANGELOG.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    let mut links = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for (_, rest) in text.match_indices("](").map(|(i, _)| ((), &text[i + 2..])) {
            let target = rest.split(')').next().unwrap();
            if target.starts_with("http") || target.starts_with('#') || target.contains(' ') {
                continue;
            }
            let file = target.split('#').next().unwrap();
            let resolved = page.parent().unwrap().join(file);
            assert!(
                resolved.exists(),
                "{} links to {target}, which does not exist",
                page.display()
            );
            links += 1;
        }
    }
    assert!(links > 20, "{links} links checked");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.lines().count() <= 200, "the README is one page");
}

/// `weir schema` prints the JSON Schema derived from the parser's own types;
/// the copy in docs/ must be what it prints, so editors never get a stale
/// one. Regenerate with `weir schema > docs/pipeline.schema.json`.
#[test]
fn the_checked_in_pipeline_schema_is_the_one_weir_prints() {
    let out = weir(&["schema"], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    let checked_in =
        std::fs::read_to_string(repo_root().join("docs/pipeline.schema.json")).unwrap();
    assert!(
        printed == checked_in,
        "docs/pipeline.schema.json is stale: run `weir schema > docs/pipeline.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&printed).unwrap();
    for key in [
        "source",
        "schema",
        "event_time",
        "operators",
        "sink",
        "shutdown_timeout",
    ] {
        assert!(
            schema["properties"].get(key).is_some(),
            "{key} is in the schema"
        );
    }
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown keys are refused"
    );
}

/// The book's reference page is rendered from the same schema; a stale copy
/// fails here. Regenerate with
/// `weir schema --format markdown > docs/pipeline-reference.md`.
#[test]
fn the_checked_in_pipeline_reference_is_the_one_weir_prints() {
    let out = weir(&["schema", "--format", "markdown"], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    let checked_in =
        std::fs::read_to_string(repo_root().join("docs/pipeline-reference.md")).unwrap();
    assert!(
        printed == checked_in,
        "docs/pipeline-reference.md is stale: run `weir schema --format markdown > docs/pipeline-reference.md`"
    );
    for heading in [
        "## The top level",
        "## SourceConfig",
        "### `kind = \"kafka\"`",
        "## SinkConfig",
    ] {
        assert!(printed.contains(heading), "{heading} is in the reference");
    }
    assert!(printed.contains("| `max_out_of_orderness` | [Duration](#duration) | yes |"));
}

#[test]
fn version_names_the_command() {
    let out = weir(&["--version"], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("weir "),
        "{}",
        text(&out.stdout)
    );
}

/// `weir explain` prints the graph the run would execute, in each format.
#[test]
fn explain_prints_the_dataflow_graph_in_text_dot_and_mermaid() {
    let pipeline = repo_root().join("pipelines/sensor-alerts.toml");
    let pipeline = pipeline.to_str().unwrap();
    let out = weir(&["explain", pipeline], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    let order = [
        "[source] source — file",
        "[time] watermarks — event time `event_time`, watermark = newest − 5s",
        "[operator] hot-readings — plugin over-threshold",
        "[operator] hot-per-sensor — window tumbling 10s by sensor_id: count, max_temperature = max(temperature)",
        "[operator] spike-alert — plugin spike-alert",
        "[sink] sink — console",
    ];
    let places: Vec<usize> = order
        .iter()
        .map(|line| {
            plan.find(line)
                .unwrap_or_else(|| panic!("{line} in {plan}"))
        })
        .collect();
    assert!(places.windows(2).all(|w| w[0] < w[1]), "{plan}");
    assert!(plan.contains("→ hot-per-sensor (forward)"), "{plan}");
    assert!(
        plan.contains("emits sensor_id (string), window_start (timestamp)"),
        "{plan}"
    );

    let dot = text(&weir(&["explain", pipeline, "--format", "dot"], b"").stdout);
    assert!(dot.starts_with("digraph \"sensor-alerts\" {"), "{dot}");
    assert_eq!(dot.matches(" -> ").count(), 5, "{dot}");
    let mermaid = text(&weir(&["explain", pipeline, "--format", "mermaid"], b"").stdout);
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    assert_eq!(mermaid.matches("-->|forward|").count(), 5, "{mermaid}");

    let missing = weir(&["explain", "no-such-pipeline.toml"], b"");
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("no-such-pipeline.toml"),
        "{}",
        text(&missing.stderr)
    );
}
