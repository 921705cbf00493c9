//! Every shipped pipeline file has a SQL twin in `pipelines/` (checked by
//! `cli::every_example_pipeline_and_its_sql_twin_validate`), and the twins
//! give the same results: run side by side on the same input (files,
//! standard input, a real Kafka broker) and compared.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use weir_tests::kafka::Broker;
use weir_tests::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// Each bundled script gives exactly what its pipeline-file twin gives.
#[test]
fn the_bundled_sql_twins_give_their_pipeline_files_results() {
    let root = root();
    let dir = tempfile::tempdir().unwrap();
    let clicks = weir(
        &["generate", "clicks", "--events", "40000", "--pages", "20"],
        b"",
    )
    .stdout;
    let local = |name: &str| {
        let text = fs::read_to_string(root.join("pipelines").join(name))
            .unwrap()
            .replace("../data/", &format!("{}/data/", root.display()))
            .replace("../plugins/", &format!("{}/plugins/", root.display()))
            .replace("../out/", &format!("{}/", dir.path().display()));
        let (stem, ext) = name.split_once('.').unwrap();
        let file = dir.path().join(format!("{stem}-{ext}.{ext}"));
        fs::write(&file, text).unwrap();
        file
    };
    let payments = weir(&["generate", "payments", "--events", "100000"], b"").stdout;
    let readings = fs::read(root.join("data/sensors-sample.ndjson")).unwrap();
    for (name, input) in [
        ("page-clicks", clicks.as_slice()),
        ("user-sessions", clicks.as_slice()),
        ("sensor-percentiles", b"".as_slice()),
        ("fraud-detection", payments.as_slice()),
        ("sustained-heat", b"".as_slice()),
        ("sensor-alerts-csv", b"".as_slice()),
        ("sensor-alerts-avro", b"".as_slice()),
        ("sensor-alerts-live", readings.as_slice()),
        ("sensor-alerts-located", b"".as_slice()),
    ] {
        let mut outputs = Vec::new();
        for ext in ["toml", "sql"] {
            // Each run starts afresh, not from the other's checkpoint.
            let _ = fs::remove_dir_all(dir.path().join("checkpoints"));
            let out = weir(
                &["run", local(&format!("{name}.{ext}")).to_str().unwrap()],
                input,
            );
            assert!(out.status.success(), "{name}.{ext}: {}", text(&out.stderr));
            let results = match name {
                "sensor-percentiles" => {
                    fs::read_to_string(dir.path().join("sensor-percentiles.ndjson")).unwrap()
                }
                "sensor-alerts-avro" => {
                    let file = dir.path().join("sensor-alerts.avro");
                    let results = avro_rows(&file);
                    fs::remove_file(file).unwrap();
                    results
                }
                _ => text(&out.stdout),
            };
            let least = match name {
                "fraud-detection" => 5,
                "sensor-alerts-csv" => 2,
                _ => 20,
            };
            assert!(results.lines().count() > least, "{name}.{ext}: {results}");
            outputs.push(results);
        }
        assert!(
            outputs[0] == outputs[1],
            "{name}: the script and the pipeline file differ"
        );
    }
}

/// The records of an Avro container file, one debug line each, read by an
/// independent implementation.
fn avro_rows(path: &Path) -> String {
    let file = fs::File::open(path).unwrap();
    apache_avro::Reader::new(file)
        .expect("an Avro container file")
        .map(|record| format!("{:?}\n", record.expect("a record")))
        .collect()
}

/// `sensors-to-kafka` loads the sample into a topic and
/// `sensor-alerts-kafka` turns it into alerts on another, once as pipeline
/// files and once as their SQL twins, each pair on its own topics of a real
/// broker; the alerts (keys, values and result ids) are the same.
#[test]
fn the_kafka_twins_load_and_alert_as_their_pipeline_files_do() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    // Readings without late ones: the watermark of a partitioned topic is the
    // slowest partition's, which depends on how reads interleave, so a late
    // reading could be late in one run and not the other.
    let input = dir.path().join("readings.ndjson");
    fs::write(&input, generated(30_000, 7, 0.0)).unwrap();
    let mut alerts = Vec::new();
    for ext in ["toml", "sql"] {
        let (readings, out) = (format!("readings-{ext}"), format!("alerts-{ext}"));
        broker.create_topic(&readings, 4);
        broker.create_topic(&out, 1);
        let here = dir.path().join(ext);
        fs::create_dir_all(&here).unwrap();
        let quote = if ext == "toml" { '"' } else { '\'' };
        let bounded = match ext {
            "toml" => (
                "start_from = \"committed\"",
                "start_from = \"committed\"\nbounded = true",
            ),
            _ => (
                "'scan.startup.mode' = 'group-offsets',",
                "'scan.startup.mode' = 'group-offsets',\n  'scan.bounded.mode' = 'latest-offset',",
            ),
        };
        let local = |name: &str, extra: (&str, &str)| {
            let original = fs::read_to_string(root().join("pipelines").join(name)).unwrap();
            let text = original
                .replace("127.0.0.1:19092", &broker.bootstrap())
                .replace("../plugins/", &format!("{}/plugins/", root().display()))
                .replace(
                    "../data/sensors-sample.ndjson",
                    &input.display().to_string(),
                )
                .replace("../out/", &format!("{}/", here.display()))
                .replace(
                    &format!("{quote}sensor-readings{quote}"),
                    &format!("{quote}{readings}{quote}"),
                )
                .replace(
                    &format!("{quote}sensor-alerts{quote}"),
                    &format!("{quote}{out}{quote}"),
                )
                .replace(extra.0, extra.1);
            assert!(text.contains(&readings), "{name}: {text}");
            let file = here.join(name);
            fs::write(&file, text).unwrap();
            file
        };
        for (name, extra) in [
            ("sensors-to-kafka", ("", "")),
            ("sensor-alerts-kafka", bounded),
        ] {
            let file = local(&format!("{name}.{ext}"), extra);
            if name == "sensors-to-kafka" {
                assert!(fs::read_to_string(&file)
                    .unwrap()
                    .contains(&input.display().to_string()));
            }
            if name == "sensor-alerts-kafka" {
                assert!(fs::read_to_string(&file).unwrap().contains(&out));
            }
            let run = weir(&["run", file.to_str().unwrap()], b"");
            assert!(run.status.success(), "{name}.{ext}: {}", text(&run.stderr));
        }
        let mut got = broker.read_to_end(&out, Duration::from_secs(60));
        got.sort();
        assert!(got.len() > 50, "{ext}: {} alerts", got.len());
        alerts.push(got);
    }
    assert!(
        alerts[0] == alerts[1],
        "the scripts' alerts differ from the pipeline files'"
    );
}
