//! The seed's first project: clicks per page every 60 s, with the shipped
//! pipeline file, against counts computed here from the same clicks.

use std::collections::BTreeMap;

use weir_tests::{text, weir};

#[test]
fn clicks_per_page_every_minute_match_a_direct_count() {
    let dir = tempfile::tempdir().unwrap();
    let generated = weir(
        &[
            "generate", "clicks", "--events", "200000", "--pages", "50", "--seed", "3",
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
    let (output, dead) = (dir.path().join("out.jsonl"), dir.path().join("dead.jsonl"));
    let pipeline = shipped
        .replace(
            "[sink]\nkind = \"console\"",
            &format!("[sink]\nkind = \"file\"\npath = \"{}\"", output.display()),
        )
        .replace(
            "../out/page-clicks.dead-letter.ndjson",
            &dead.display().to_string(),
        );
    assert_ne!(pipeline, shipped, "the sink was replaced");
    let file = dir.path().join("page-clicks.toml");
    std::fs::write(&file, pipeline).unwrap();
    let run = weir(&["run", file.to_str().unwrap()], clicks.as_bytes());
    assert!(run.status.success(), "{}", text(&run.stderr));

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
