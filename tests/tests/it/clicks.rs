//! The seed's first project: clicks per page every 60 s, with the shipped
//! pipeline file, against counts computed here from the same clicks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use weir_tests::{text, weir};

/// Generated clicks (`events`, `pages`, `seed`) through the shipped
/// pipeline file, changed by `edit`, to a results file. Returns the clicks
/// and the results file; dead letters go to `dir/dead.jsonl`.
fn run_shipped(
    dir: &Path,
    (events, pages, seed): (u32, u32, u32),
    edit: impl Fn(String) -> String,
) -> (String, PathBuf) {
    let generated = weir(
        &[
            "generate",
            "clicks",
            "--events",
            &events.to_string(),
            "--pages",
            &pages.to_string(),
            "--seed",
            &seed.to_string(),
        ],
        b"",
    );
    assert!(generated.status.success());
    let clicks = text(&generated.stdout);
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pipelines/page-clicks.toml"
    ))
    .unwrap();
    let output = dir.join("out.jsonl");
    let pipeline = edit(shipped.clone())
        .replace(
            "[sink]\nkind = \"console\"",
            &format!("[sink]\nkind = \"file\"\npath = \"{}\"", output.display()),
        )
        .replace(
            "../out/page-clicks.dead-letter.ndjson",
            &dir.join("dead.jsonl").display().to_string(),
        );
    assert!(pipeline.contains("out.jsonl"), "the sink was replaced");
    let file = dir.join("page-clicks.toml");
    std::fs::write(&file, pipeline).unwrap();
    let run = weir(&["run", file.to_str().unwrap()], clicks.as_bytes());
    assert!(run.status.success(), "{}", text(&run.stderr));
    (clicks, output)
}

#[test]
fn clicks_per_page_every_minute_match_a_direct_count() {
    let dir = tempfile::tempdir().unwrap();
    let (clicks, output) = run_shipped(dir.path(), (200_000, 50, 3), |text| text);
    let dead = dir.path().join("dead.jsonl");

    let mut expected: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for line in clicks.lines() {
        let click: serde_json::Value = serde_json::from_str(line).unwrap();
        let t = click["event_time"].as_i64().unwrap();
        let start = t.div_euclid(60_000) * 60_000;
        *expected
            .entry((click["page"].as_str().unwrap().to_string(), start))
            .or_default() += 1;
    }
    let mut got: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for line in std::fs::read_to_string(&output).unwrap().lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let start = epoch_millis(row["window_start"].as_str().unwrap());
        let key = (row["page"].as_str().unwrap().to_string(), start);
        assert!(
            got.insert(key, row["clicks"].as_i64().unwrap()).is_none(),
            "one row per page and window"
        );
    }
    assert_eq!(got, expected);
    assert!(got.len() > 100, "{} (page, minute) pairs", got.len());
    assert_eq!(
        std::fs::read_to_string(&dead).unwrap(),
        "",
        "disorder stays within the watermark"
    );
}

/// Epoch millis of an RFC 3339 UTC timestamp as weir writes them.
fn epoch_millis(text: &str) -> i64 {
    weir::format::timestamp::parse(text).unwrap_or_else(|| panic!("not a timestamp: {text}"))
}

#[test]
fn sliding_windows_count_every_click_in_each_window_that_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let (clicks, output) = run_shipped(dir.path(), (120_000, 30, 9), |text| {
        let sliding = text.replace(
            "kind = \"tumbling\"\nsize = \"60s\"",
            "kind = \"sliding\"\nsize = \"60s\"\nslide = \"15s\"",
        );
        assert!(sliding.contains("slide = \"15s\""));
        sliding
    });

    // Each click counts in the four 60 s windows, starting every 15 s, that hold it.
    let mut expected: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for line in clicks.lines() {
        let click: serde_json::Value = serde_json::from_str(line).unwrap();
        let t = click["event_time"].as_i64().unwrap();
        let mut start = t.div_euclid(15_000) * 15_000;
        while start > t - 60_000 {
            *expected
                .entry((click["page"].as_str().unwrap().to_string(), start))
                .or_default() += 1;
            start -= 15_000;
        }
    }
    let mut got: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for line in std::fs::read_to_string(&output).unwrap().lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let start = epoch_millis(row["window_start"].as_str().unwrap());
        let end = epoch_millis(row["window_end"].as_str().unwrap());
        assert_eq!(end - start, 60_000);
        let key = (row["page"].as_str().unwrap().to_string(), start);
        assert!(
            got.insert(key, row["clicks"].as_i64().unwrap()).is_none(),
            "one row per page and window"
        );
    }
    assert_eq!(got, expected);
}
