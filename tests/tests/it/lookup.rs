//! Lookup joins (enrichment) through `weir run`: every row against a
//! reference join written here, at batch sizes 1 and 2048 and parallelism 1
//! and 2, with unmatched rows kept or dead-lettered; and a table replaced
//! while the stream runs.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use weir_tests::append;
use weir_tests::kafka::{start_weir_with, terminate};
use weir_tests::receiver::Receiver;

/// Building and floor per sensor, for four sensors in five (a sensor whose
/// number is a multiple of 5 has no row), from a fixed generator.
fn table(dir: &Path) -> (std::path::PathBuf, HashMap<String, (String, i64)>) {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut rows = HashMap::new();
    let mut csv = String::from("floor,sensor_id,building,unused\n");
    for n in 1..=1000 {
        if n % 5 == 0 {
            continue;
        }
        let sensor = format!("sensor-{n:04}");
        let building = format!("b\"{}\", west", next() % 40);
        let floor = (next() % 30) as i64 - 2;
        csv.push_str(&format!(
            "{floor},{sensor},\"{}\",x\n",
            building.replace('"', "\"\"")
        ));
        rows.insert(sensor, (building, floor));
    }
    let path = dir.join("sensors.csv");
    std::fs::write(&path, csv).unwrap();
    (path, rows)
}

fn pipeline(
    dir: &Path,
    input: &Path,
    table: &Path,
    unmatched: &str,
    batch: usize,
    parallelism: usize,
) -> std::path::PathBuf {
    let path = dir.join(format!("lookup-{unmatched}-{batch}-{parallelism}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"batch_size = {batch}
parallelism = {parallelism}
{head}[[operators]]
type = "lookup"
table = "{table}"
key = "sensor_id"
fields = {{ building = "string", floor = "i64" }}
unmatched = "{unmatched}"
defaults = {{ building = "nowhere" }}
[sink]
kind = "file"
path = "{out}"
[dead_letter]
path = "{dead}"
"#,
            head = weir_tests::sensor_pipeline_head("lookup", input, "timestamp"),
            table = table.display(),
            out = dir.join("out.jsonl").display(),
            dead = dir.join("dead.jsonl").display(),
        ),
    )
    .unwrap();
    path
}

/// A row as the sink writes it, for comparing as sets.
fn row_key(row: &Value) -> String {
    row.to_string()
}

#[test]
fn rows_are_enriched_as_a_reference_join_says_with_unmatched_rows_kept_or_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let (table_path, table) = table(dir.path());
    let input = dir.path().join("readings.ndjson");
    let readings = weir_tests::generated(20_000, 11, 0.0);
    std::fs::write(&input, &readings).unwrap();
    let readings = weir_tests::json_lines(&readings);

    for unmatched in ["keep", "dead-letter"] {
        let mut expected = Vec::new();
        let mut expected_dead = 0;
        for reading in &readings {
            let sensor = reading["sensor_id"].as_str().unwrap();
            let (building, floor) = match table.get(sensor) {
                Some((building, floor)) => (building.clone(), *floor),
                None if unmatched == "keep" => ("nowhere".to_string(), 0),
                None => {
                    expected_dead += 1;
                    continue;
                }
            };
            let mut row = reading.clone();
            row["building"] = json!(building);
            row["floor"] = json!(floor);
            expected.push(row);
        }
        assert!(
            expected_dead > 0 || unmatched == "keep",
            "the input has unmatched sensors"
        );
        for (batch, parallelism) in [(1, 1), (2048, 1), (7, 2), (2048, 2)] {
            let file = pipeline(
                dir.path(),
                &input,
                &table_path,
                unmatched,
                batch,
                parallelism,
            );
            let out = weir_tests::weir(&["run", file.to_str().unwrap()], b"");
            let log = weir_tests::text(&out.stderr);
            assert!(out.status.success(), "{log}");
            let got = weir_tests::json_lines(
                &std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap(),
            );
            // The sink writes event times as text; compare through the reference's own rows re-read.
            let mut got: Vec<String> = got.iter().map(normalized).collect();
            let mut want: Vec<String> = expected.iter().map(normalized).collect();
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(
                got.len(),
                want.len(),
                "{unmatched}, batch {batch}, parallelism {parallelism}"
            );
            assert!(
                got == want,
                "{unmatched}, batch {batch}, parallelism {parallelism}: rows differ"
            );
            let dead = std::fs::read_to_string(dir.path().join("dead.jsonl")).unwrap_or_default();
            let dead = weir_tests::json_lines(&dead);
            assert_eq!(dead.len(), expected_dead, "{unmatched}: dead letters");
            if let Some(letter) = dead.first() {
                assert_eq!(letter["kind"], "unmatched");
                let sensor = letter["record"]["sensor_id"].as_str().unwrap();
                let reason = letter["reason"].as_str().unwrap();
                assert!(
                    reason.contains(&format!("sensor_id = \"{sensor}\""))
                        && reason.contains("sensors.csv"),
                    "{reason}"
                );
            }
            let unmatched_rows = readings
                .iter()
                .filter(|r| !table.contains_key(r["sensor_id"].as_str().unwrap()))
                .count() as u64;
            assert_eq!(
                weir_tests::summary_count(&log, "lookups unmatched"),
                unmatched_rows,
                "{log}"
            );
        }
        // The SQL form: LEFT JOIN keeps, JOIN dead-letters.
        let script = sql_join(dir.path(), &input, &table_path, unmatched == "keep");
        let out = weir_tests::weir(&["run", script.to_str().unwrap()], b"");
        assert!(out.status.success(), "{}", weir_tests::text(&out.stderr));
        let mut got: Vec<String> = weir_tests::json_lines(
            &std::fs::read_to_string(dir.path().join("sql-out.jsonl")).unwrap(),
        )
        .iter()
        .map(normalized)
        .collect();
        let mut want: Vec<String> = expected.iter().map(normalized).collect();
        got.sort_unstable();
        want.sort_unstable();
        assert!(
            got == want,
            "SQL {unmatched}: rows differ ({} against {})",
            got.len(),
            want.len()
        );
    }
}

/// `CREATE TABLE readings` over the file `input`, with the processing-time
/// column lookup joins name.
fn readings_table(input: &Path) -> String {
    format!(
        r#"CREATE TABLE readings (
  sensor_id STRING,
  temperature DOUBLE,
  event_time TIMESTAMP(3),
  proc_time AS PROCTIME(),
  WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');"#,
        input.display()
    )
}

/// Runs `script` (written to `dir`) and returns what it printed, checking
/// it ran well and named no secret.
fn run_script(dir: &Path, script: &str) -> String {
    let path = dir.join("script.sql");
    std::fs::write(&path, script).unwrap();
    let out = weir_tests::weir(&["run", path.to_str().unwrap()], b"");
    let stderr = weir_tests::text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    weir_tests::text(&out.stdout)
}

/// The same join as a script: readings JOIN (or LEFT JOIN) the table.
fn sql_join(dir: &Path, input: &Path, table: &Path, left: bool) -> std::path::PathBuf {
    let path = dir.join("join.sql");
    std::fs::write(
        &path,
        format!(
            r#"
{readings}
CREATE TABLE sites (
  floor BIGINT,
  sensor_id STRING,
  building STRING
) WITH ('connector' = 'filesystem', 'path' = '{table}', 'format' = 'csv', 'default.building' = 'nowhere');
CREATE TABLE out (
  sensor_id STRING, temperature DOUBLE, event_time TIMESTAMP(3), building STRING, floor BIGINT
) WITH ('connector' = 'filesystem', 'path' = '{out}');
SET 'weir.dead-letter.path' = '{dead}';
INSERT INTO out
SELECT r.sensor_id, r.temperature, r.event_time, s.building, s.floor
FROM readings AS r
{join} sites FOR SYSTEM_TIME AS OF r.proc_time AS s ON s.sensor_id = r.sensor_id
"#,
            readings = readings_table(input),
            table = table.display(),
            out = dir.join("sql-out.jsonl").display(),
            dead = dir.join("sql-dead.jsonl").display(),
            join = if left { "LEFT JOIN" } else { "JOIN" },
        ),
    )
    .unwrap();
    path
}

#[test]
fn a_lookup_join_written_wrong_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (table_path, _) = table(dir.path());
    let input = dir.path().join("readings.ndjson");
    std::fs::write(&input, weir_tests::generated(10, 1, 0.0)).unwrap();
    let script = sql_join(dir.path(), &input, &table_path, false);
    let base = std::fs::read_to_string(&script).unwrap();
    let cases = [
        (
            "FOR SYSTEM_TIME AS OF r.proc_time ",
            "",
            "write JOIN sites FOR SYSTEM_TIME AS OF r.proc_time",
        ),
        (
            "AS OF r.proc_time",
            "AS OF r.event_time",
            "`event_time` is the event time",
        ),
        (
            "ON s.sensor_id = r.sensor_id",
            "ON s.sensor_id > r.sensor_id",
            "matches one column of each",
        ),
        (
            "  floor BIGINT,",
            "  temperature DOUBLE, floor BIGINT,",
            "column `temperature` is in both",
        ),
        (
            "'default.building'",
            "'lookup.wrong'",
            "has no option 'lookup.wrong'",
        ),
    ];
    for (from, to, expected) in cases {
        assert!(base.contains(from), "{from}");
        let file = dir.path().join("wrong.sql");
        std::fs::write(&file, base.replace(from, to)).unwrap();
        weir_tests::refused(&file, expected, from);
    }
    // And in a pipeline file: a key the rows do not have, a missing table.
    let file = pipeline(dir.path(), &input, &table_path, "keep", 10, 1);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("key = \"sensor_id\"", "key = \"sensor\""),
    )
    .unwrap();
    weir_tests::refused(&file, "`key = \"sensor\"` is not a field of the rows (they have sensor_id, temperature, event_time)", "key");
    std::fs::write(&file, text.replace("sensors.csv", "nowhere.csv")).unwrap();
    weir_tests::refused(&file, "cannot read the table", "table");
}

/// Sensor, temperature, building and floor, with the event time as epoch
/// millis whatever form the sink wrote it in.
fn normalized(row: &Value) -> String {
    let time = match &row["event_time"] {
        Value::Number(n) => n.as_i64().unwrap(),
        Value::String(s) => weir::format::timestamp::parse(s).unwrap(),
        other => panic!("event_time {other}"),
    };
    row_key(&json!([
        row["sensor_id"],
        row["temperature"],
        time,
        row["building"],
        row["floor"]
    ]))
}

fn line(i: i64) -> String {
    json!({ "sensor_id": format!("s{}", i % 3), "temperature": 1.0, "event_time": 1_700_000_000_000i64 + i })
        .to_string()
        + "\n"
}

/// Replaces `path` whole, as a table should be replaced: written beside it, then renamed.
fn replace(path: &Path, text: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, text).unwrap();
    std::fs::rename(&next, path).unwrap();
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Each row the receiver got, with its event time as ms after the first
/// line's, in time order.
fn received_rows(receiver: &Receiver) -> Vec<(i64, Value)> {
    let mut rows: Vec<(i64, Value)> = receiver
        .received()
        .iter()
        .map(|r| {
            let row: Value = serde_json::from_str(&r.body).unwrap();
            let time = weir::format::timestamp::parse(row["event_time"].as_str().unwrap()).unwrap();
            (time - 1_700_000_000_000, row)
        })
        .collect();
    rows.sort_by_key(|(time, _)| *time);
    rows
}

fn buildings(receiver: &Receiver) -> Vec<(i64, String)> {
    received_rows(receiver)
        .into_iter()
        .map(|(time, row)| (time, row["building"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn a_table_replaced_mid_stream_is_read_again_and_a_broken_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    let table = dir.path().join("sites.csv");
    replace(&table, "sensor_id,building\ns0,A\ns1,A\ns2,A\n");
    let receiver = Receiver::start(|_, _| (200, None));
    let pipeline = dir.path().join("reload.toml");
    let head = weir_tests::sensor_pipeline_head("reload", &input, "timestamp")
        .replace("kind = \"file\"\n", "kind = \"file\"\nfollow = true\n");
    std::fs::write(
        &pipeline,
        format!(
            "{head}[[operators]]\ntype = \"lookup\"\ntable = \"{}\"\nkey = \"sensor_id\"\nfields = {{ building = \"string\" }}\nreload_every = \"50ms\"\n[sink]\nkind = \"webhook\"\nurl = \"{}\"\n",
            table.display(),
            receiver.url,
        ),
    )
    .unwrap();
    append(&input, &(0..50).map(line).collect::<String>());
    let stderr = dir.path().join("weir.log");
    let weir = start_weir_with(&pipeline, &stderr, &[]);
    wait_until("the first 50 rows", || receiver.received().len() >= 50);

    replace(&table, "sensor_id,building\ns0,B\ns1,B\ns2,B\n");
    wait_until("the table read again", || {
        std::fs::read_to_string(&stderr)
            .unwrap_or_default()
            .contains("lookup table read again")
    });
    append(&input, &(50..100).map(line).collect::<String>());
    wait_until("rows 50–99", || receiver.received().len() >= 100);

    // A key on two lines: refused, and the rows go on with the table before.
    replace(&table, "sensor_id,building\ns0,C\ns0,D\n");
    wait_until("the broken table refused", || {
        std::fs::read_to_string(&stderr)
            .unwrap_or_default()
            .contains("cannot be read")
    });
    append(&input, &(100..150).map(line).collect::<String>());
    wait_until("rows 100–149", || receiver.received().len() >= 150);
    let log = terminate(weir, &stderr);

    let mut seen = buildings(&receiver);
    seen.sort();
    let expected: Vec<(i64, String)> = (0..150)
        .map(|i| (i, if i < 50 { "A" } else { "B" }.to_string()))
        .collect();
    assert_eq!(seen, expected, "{log}");
    assert!(log.contains("already on line 2"), "{log}");
}

/// Building, floor, since and note of each row the receiver got, by time.
fn enriched(receiver: &Receiver) -> Vec<(i64, String, i64, String, String)> {
    let text = |row: &Value, field: &str| row[field].as_str().unwrap().to_string();
    received_rows(receiver)
        .into_iter()
        .map(|(time, row)| {
            let floor = row["floor"].as_i64().unwrap();
            (
                time,
                text(&row, "building"),
                floor,
                text(&row, "since"),
                text(&row, "note"),
            )
        })
        .collect()
}

#[test]
fn a_postgres_table_is_joined_and_read_again_when_its_rows_change() {
    let server = weir_tests::postgres::Postgres::start();
    let mut client = server.client();
    client
        .batch_execute(
            "CREATE TABLE sites (sensor_id text PRIMARY KEY, building text, floor integer, since timestamptz, note text);
             INSERT INTO sites VALUES ('s0', 'A', 3, '2024-01-02 03:04:05.678+00', 'door'), ('s1', 'A', -1, '2024-06-01 00:00:00+02', NULL);",
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    let receiver = Receiver::start(|_, _| (200, None));
    let pipeline = dir.path().join("pg.toml");
    let url = format!("{} password=hunter2-secret", server.url());
    let head = weir_tests::sensor_pipeline_head("pg-lookup", &input, "timestamp")
        .replace("kind = \"file\"\n", "kind = \"file\"\nfollow = true\n");
    std::fs::write(
        &pipeline,
        format!(
            "{head}[[operators]]\ntype = \"lookup\"\npostgres = {{ url = \"{url}\", query = \"SELECT * FROM sites WHERE floor < 100\" }}\nkey = \"sensor_id\"\nfields = {{ building = \"string\", floor = \"i64\", since = \"timestamp\", note = \"string\" }}\ndefaults = {{ note = \"none\" }}\nreload_every = \"100ms\"\n[sink]\nkind = \"webhook\"\nurl = \"{}\"\n",
            receiver.url,
        ),
    )
    .unwrap();
    let explained = weir_tests::weir(&["explain", pipeline.to_str().unwrap()], b"");
    let explained = weir_tests::text(&explained.stdout) + &weir_tests::text(&explained.stderr);
    assert!(
        explained.contains("lookup join on sensor_id = PostgreSQL (")
            && !explained.contains("hunter2"),
        "{explained}"
    );

    append(&input, &(0..30).map(line).collect::<String>());
    let stderr = dir.path().join("weir.log");
    let weir = start_weir_with(&pipeline, &stderr, &[]);
    wait_until("the first 30 rows", || receiver.received().len() >= 30);
    client
        .batch_execute("UPDATE sites SET building = 'B' WHERE sensor_id = 's0'")
        .unwrap();
    wait_until("the table read again", || {
        std::fs::read_to_string(&stderr)
            .unwrap_or_default()
            .contains("lookup table read again")
    });
    append(&input, &(30..60).map(line).collect::<String>());
    wait_until("rows 30–59", || receiver.received().len() >= 60);
    let log = terminate(weir, &stderr);
    assert!(!log.contains("hunter2"), "{log}");

    let rows = enriched(&receiver);
    assert_eq!(rows.len(), 60);
    for (i, building, floor, since, note) in rows {
        let expected = match (i % 3, i < 30) {
            (0, true) => ("A", 3, "2024-01-02T03:04:05.678Z", "door"),
            (0, false) => ("B", 3, "2024-01-02T03:04:05.678Z", "door"),
            // NULL takes the default; the offset is read as written.
            (1, _) => ("A", -1, "2024-05-31T22:00:00.000Z", "none"),
            // No row: kept with the defaults.
            _ => ("", 0, "1970-01-01T00:00:00.000Z", "none"),
        };
        assert_eq!(
            (building.as_str(), floor, since.as_str(), note.as_str()),
            expected,
            "row {i}"
        );
    }

    // Flink's JDBC table in SQL, read whole; JOIN dead-letters s2's rows.
    let script = |select: &str| {
        format!(
            "{}\nCREATE TABLE sites (sensor_id STRING, building STRING, floor BIGINT)\nWITH ('connector' = 'jdbc', 'url' = 'jdbc:postgresql://127.0.0.1:{}/postgres', 'table-name' = 'sites', 'username' = 'postgres', 'password' = 'hunter2-secret');\nSELECT {select}\nFROM readings AS r JOIN sites FOR SYSTEM_TIME AS OF r.proc_time AS s ON r.sensor_id = s.sensor_id",
            readings_table(&input),
            server.port
        )
    };
    let stdout = run_script(dir.path(), &script("r.sensor_id, s.building, s.floor"));
    for (sensor, building, floor) in [("s0", "B", 3), ("s1", "A", -1)] {
        let expected = format!("sensor_id={sensor}  building={building}  floor={floor}");
        assert_eq!(
            stdout.matches(&expected).count(),
            20,
            "{expected} in {stdout}"
        );
    }
    assert!(!stdout.contains("sensor_id=s2"), "{stdout}");
    // `s.*` stands for the table's columns, `r.*` for the stream's.
    assert_eq!(run_script(dir.path(), &script("r.sensor_id, s.*")), stdout);
    let stream_only = run_script(dir.path(), &script("r.*"));
    assert!(
        stream_only.contains("sensor_id=s0  temperature=1") && !stream_only.contains("building"),
        "{stream_only}"
    );
}

#[test]
fn a_kafka_changelog_table_keeps_the_latest_value_per_key_and_follows_the_topic() {
    let broker = weir_tests::kafka::Broker::start();
    broker.create_topic("sites", 2);
    let site =
        |building: &str, floor: i64| json!({ "building": building, "floor": floor }).to_string();
    let keyed = |pairs: &[(Option<&str>, String)]| {
        let lines: Vec<String> = pairs.iter().map(|(_, v)| v.clone()).collect();
        let keys: HashMap<String, Option<String>> = pairs
            .iter()
            .map(|(k, v)| (v.clone(), k.map(str::to_string)))
            .collect();
        broker.produce_with("sites", &lines, |line| (keys[line].clone(), None, None));
    };
    keyed(&[
        (Some("s0"), site("A", 3)),
        (Some("s1"), site("A", 1)),
        (Some("s1"), site("C", 2)),
        (Some("s2"), "not json".into()),
        (None, site("Z", 9)),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    let receiver = Receiver::start(|_, _| (200, None));
    let pipeline = dir.path().join("changelog.toml");
    let head = weir_tests::sensor_pipeline_head("changelog", &input, "timestamp")
        .replace("kind = \"file\"\n", "kind = \"file\"\nfollow = true\n");
    std::fs::write(
        &pipeline,
        format!(
            "{head}[[operators]]\ntype = \"lookup\"\nkafka = {{ bootstrap_servers = \"{}\", topic = \"sites\" }}\nkey = \"sensor_id\"\nfields = {{ building = \"string\", floor = \"i64\" }}\ndefaults = {{ building = \"none\" }}\nreload_every = \"100ms\"\n[sink]\nkind = \"webhook\"\nurl = \"{}\"\n",
            broker.bootstrap(),
            receiver.url,
        ),
    )
    .unwrap();
    append(&input, &(0..30).map(line).collect::<String>());
    let stderr = dir.path().join("weir.log");
    let weir = start_weir_with(&pipeline, &stderr, &[]);
    wait_until("the first 30 rows", || receiver.received().len() >= 30);
    keyed(&[(Some("s0"), site("B", 4))]);
    broker.produce_tombstone("sites", "s1");
    // Both changes in: one row left (s0).
    wait_until("the table's changes taken up", || {
        std::fs::read_to_string(&stderr)
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains("lookup table read again") && l.contains("rows=1"))
    });
    append(&input, &(30..60).map(line).collect::<String>());
    wait_until("rows 30–59", || receiver.received().len() >= 60);
    let log = terminate(weir, &stderr);
    assert_eq!(
        log.matches("lookup table message skipped").count(),
        2,
        "{log}"
    );

    let rows = received_rows(&receiver);
    assert_eq!(rows.len(), 60);
    for (i, row) in rows {
        let expected = match (i % 3, i < 30) {
            (0, true) => ("A", 3),
            (0, false) => ("B", 4),
            (1, true) => ("C", 2),
            _ => ("none", 0),
        };
        let got = (
            row["building"].as_str().unwrap(),
            row["floor"].as_i64().unwrap(),
        );
        assert_eq!(got, expected, "row {i}: {log}");
    }

    // Flink's upsert-kafka table in SQL, LEFT JOIN keeping s1 and s2.
    let stdout = run_script(
        dir.path(),
        &format!(
            "{}\nCREATE TABLE sites (sensor_id STRING, building STRING, floor BIGINT)\nWITH ('connector' = 'upsert-kafka', 'topic' = 'sites', 'properties.bootstrap.servers' = '{}', 'key.format' = 'raw', 'value.format' = 'json', 'default.building' = 'none');\nSELECT r.sensor_id, s.building, s.floor\nFROM readings AS r LEFT JOIN sites FOR SYSTEM_TIME AS OF r.proc_time AS s ON r.sensor_id = s.sensor_id",
            readings_table(&input),
            broker.bootstrap()
        ),
    );
    for (sensor, building, floor) in [("s0", "B", 4), ("s1", "none", 0), ("s2", "none", 0)] {
        let expected = format!("sensor_id={sensor}  building={building}  floor={floor}");
        assert_eq!(
            stdout.matches(&expected).count(),
            20,
            "{expected} in {stdout}"
        );
    }
}
