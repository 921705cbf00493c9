//! SQL scripts end to end: the guide's query pasted as written, from a file
//! and from Kafka, against the plain reference model; and mistakes named
//! with their line and column.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use weir_tests::kafka::{terminate, Broker, Weir};
use weir_tests::*;

/// The guide's two statements, exactly as it prints them.
const GUIDE_CREATE: &str = "CREATE TEMPORARY TABLE sensor_data (
sensor_id STRING,
temperature DOUBLE,
event_time TIMESTAMP(3),
WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
) WITH (
'connector' = 'kafka',
'topic' = 'sensors',
'properties.bootstrap.servers' = 'localhost:9092',
'format' = 'json'
)";

const GUIDE_SELECT: &str =
    "SELECT sensor_id, COUNT(*), TUMBLE_END(event_time, INTERVAL '10' SECOND) AS window_end
FROM sensor_data
WHERE temperature > 100
GROUP BY sensor_id, TUMBLE(event_time, INTERVAL '10' SECOND)
HAVING COUNT(*) > 5";

/// The guide's WITH clause, for a test to put another in its place.
const GUIDE_WITH: &str = "'connector' = 'kafka',
'topic' = 'sensors',
'properties.bootstrap.servers' = 'localhost:9092',
'format' = 'json'";

/// Readings as the guide's source has them: `"2023-12-31 23:59:58.890"`.
fn guide_format(readings: &[Reading]) -> String {
    readings
        .iter()
        .map(|r| {
            let time = weir::format::timestamp::format(r.event_time)
                .replace('T', " ")
                .trim_end_matches('Z')
                .to_string();
            format!(
                "{{\"sensor_id\":\"{}\",\"temperature\":{},\"event_time\":\"{time}\"}}\n",
                r.sensor_id, r.temperature
            )
        })
        .collect()
}

/// `print`ed alerts (`sensor_id=…  EXPR$1=…  window_end=…`), sorted, the
/// count read from the column `count`.
fn printed_alerts_counted_by(stdout: &str, count: &str) -> Vec<Alert> {
    let mut alerts: Vec<Alert> = stdout
        .lines()
        .map(|line| {
            let field = |name: &str| {
                line.split("  ")
                    .find_map(|part| part.strip_prefix(&format!("{name}=")))
                    .unwrap_or_else(|| panic!("no {name} in `{line}`"))
                    .to_string()
            };
            (
                field("sensor_id"),
                weir::format::timestamp::parse(&field("window_end")).expect("a timestamp"),
                field(count).parse().expect("a count"),
            )
        })
        .collect();
    alerts.sort();
    alerts
}

fn printed_alerts(stdout: &str) -> Vec<Alert> {
    printed_alerts_counted_by(stdout, "EXPR$1")
}

fn sorted(mut alerts: Vec<Alert>) -> Vec<Alert> {
    alerts.sort();
    alerts
}

fn late_count(stderr: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.trim_start().starts_with("dead-lettered"))
        .unwrap_or_else(|| panic!("no summary in {stderr}"));
    line.split("late ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no late count in {line}"))
}

#[test]
fn the_guides_query_as_written_runs_on_a_file_as_the_reference_says() {
    let readings = parse_readings(&generated(60_000, 21, 0.01));
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    fs::write(&input, guide_format(&readings)).unwrap();
    let with = format!(
        "'connector' = 'filesystem',\n'path' = '{}',\n'format' = 'json'",
        input.display()
    );
    let script = dir.path().join("guide.sql");
    fs::write(
        &script,
        format!(
            "{};\n{GUIDE_SELECT}\n",
            GUIDE_CREATE.replace(GUIDE_WITH, &with)
        ),
    )
    .unwrap();
    let (expected, late) = reference_alerts(&readings, 5_000, 100.0, 5);
    assert!(
        expected.len() > 20 && late > 0,
        "a real test: {} alerts, {late} late",
        expected.len()
    );
    let expected = sorted(expected);
    // At parallelism 2 the native filter and projection run in each instance.
    for parallelism in ["1", "2"] {
        let args = [
            "run",
            script.to_str().unwrap(),
            "--parallelism",
            parallelism,
        ];
        let out = weir(&args, b"");
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(
            printed_alerts(&text(&out.stdout)),
            expected,
            "parallelism {parallelism}"
        );
        assert_eq!(late_count(&stderr), late as u64);
        let instances = format!("operator instances {parallelism:>12}");
        assert_eq!(stderr.contains(&instances), parallelism == "2", "{stderr}");
    }
}

/// The bundled script (the guide's query over the bundled sample) gives the
/// same alerts as the pipeline file with its two plugins.
#[test]
fn the_bundled_sql_script_matches_its_pipeline_file_twin() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sql = weir(
        &[
            "run",
            root.join("pipelines/sensor-alerts.sql").to_str().unwrap(),
        ],
        b"",
    );
    assert!(sql.status.success(), "{}", text(&sql.stderr));
    let toml = weir(
        &[
            "run",
            root.join("pipelines/sensor-alerts.toml").to_str().unwrap(),
        ],
        b"",
    );
    assert!(toml.status.success(), "{}", text(&toml.stderr));
    let from_toml = printed_alerts_counted_by(&text(&toml.stdout), "count");
    assert!(from_toml.len() > 100);
    assert_eq!(printed_alerts(&text(&sql.stdout)), from_toml);
}

/// A `datagen` table makes rows by its options: a sequence ends the input
/// at its end, random values stay within their bounds and cover them.
#[test]
fn a_datagen_table_makes_rows_by_its_options() {
    let dir = tempfile::tempdir().unwrap();
    let (script, out) = (dir.path().join("g.sql"), dir.path().join("g.jsonl"));
    let table = |options: &str| {
        format!(
            "CREATE TABLE g (id BIGINT, level BIGINT, temperature DOUBLE, tag STRING, ts TIMESTAMP(3),
               WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
             WITH ('connector' = 'datagen', 'rows-per-second' = '200000', {options});
             CREATE TABLE o (id BIGINT, level BIGINT, temperature DOUBLE, tag STRING)
             WITH ('connector' = 'filesystem', 'path' = '{}');
             INSERT INTO o SELECT id, level, temperature, tag FROM g",
            out.display()
        )
    };
    fs::write(
        &script,
        table(
            "'fields.id.kind' = 'sequence', 'fields.id.start' = '10', 'fields.id.end' = '5009',
               'fields.level.min' = '-3', 'fields.level.max' = '3',
               'fields.temperature.min' = '60', 'fields.temperature.max' = '61',
               'fields.tag.length' = '3'",
        ),
    )
    .unwrap();
    // Bounded, and paced: a source that missed its end would otherwise run
    // for ever, filling the disk with rows (5,000 take 25 ms at this pace).
    let bounded = |script: &Path| {
        weir_bounded(
            &["run", script.to_str().unwrap()],
            b"",
            Duration::from_secs(10),
            2_048,
        )
        .within_bounds()
    };
    let run = bounded(&script);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let rows = json_lines(&fs::read_to_string(&out).unwrap());
    assert_eq!(rows.len(), 5_000, "the sequence's end ends the input");
    let mut levels = std::collections::BTreeSet::new();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["id"].as_i64(), Some(10 + i as i64));
        levels.insert(row["level"].as_i64().unwrap());
        let t = row["temperature"].as_f64().unwrap();
        assert!((60.0..=61.0).contains(&t), "{row}");
        assert_eq!(row["tag"].as_str().unwrap().len(), 3);
    }
    assert_eq!(
        levels.into_iter().collect::<Vec<_>>(),
        (-3..=3).collect::<Vec<_>>()
    );

    fs::write(&script, table("'number-of-rows' = '300'")).unwrap();
    let run = bounded(&script);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(fs::read_to_string(&out).unwrap().lines().count(), 300);

    for (options, expected) in [
        (
            "'fields.id.lenght' = '3'",
            "datagen fields have no option 'lenght'",
        ),
        (
            "'fields.nope.min' = '1'",
            "datagen field `nope` is not in the schema",
        ),
        (
            "'fields.level.min' = '5', 'fields.level.max' = '1'",
            "datagen field `level`: min (5) and max (1)",
        ),
        (
            "'fields.tag.min' = '1'",
            "datagen field `tag`: `min, max` is not an option of a random string",
        ),
    ] {
        fs::write(&script, table(options)).unwrap();
        refused(&script, expected, options);
    }
    fs::write(
        &script,
        format!(
            "SET 'execution.checkpointing.interval' = '1s';\n{}",
            table("'number-of-rows' = '3'")
        ),
    )
    .unwrap();
    refused(&script, "not a datagen source", "checkpoints over datagen");
}

/// A `blackhole` table takes every result and shows none: as many results
/// are counted as the same query prints.
#[test]
fn a_blackhole_table_counts_the_results_and_keeps_none() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = fs::read_to_string(root.join("pipelines/sensor-alerts.sql"))
        .unwrap()
        .replace("'../data/", &format!("'{}/data/", root.display()));
    let query = script.find("SELECT sensor_id").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (printing, discarding) = (dir.path().join("print.sql"), dir.path().join("drop.sql"));
    fs::write(&printing, &script).unwrap();
    fs::write(
        &discarding,
        format!(
            "{}CREATE TABLE nowhere (id STRING, n BIGINT, w TIMESTAMP(3)) WITH ('connector' = 'blackhole');\nINSERT INTO nowhere {}",
            &script[..query],
            &script[query..]
        ),
    )
    .unwrap();
    let printed = weir(&["run", printing.to_str().unwrap()], b"");
    let discarded = weir(&["run", discarding.to_str().unwrap()], b"");
    assert!(discarded.status.success(), "{}", text(&discarded.stderr));
    let printed_count = text(&printed.stdout).lines().count() as u64;
    assert!(printed_count > 100, "{printed_count}");
    assert_eq!(text(&discarded.stdout), "");
    assert_eq!(
        summary_count(&text(&discarded.stderr), "results out"),
        printed_count
    );
}

/// The guide's statements verbatim but for the broker's address, against a
/// real broker. Kafka never ends, so the run is stopped once the windows the
/// watermark has passed are out; those are compared.
#[test]
fn the_guides_query_as_written_runs_on_kafka() {
    let broker = Broker::start();
    broker.create_topic("sensors", 1);
    let readings = parse_readings(&generated(20_000, 5, 0.01));
    let lines: Vec<String> = guide_format(&readings)
        .lines()
        .map(str::to_string)
        .collect();
    broker.produce("sensors", &lines, None);

    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("guide.sql");
    let create = GUIDE_CREATE.replace("localhost:9092", &broker.bootstrap());
    assert_ne!(create, GUIDE_CREATE);
    fs::write(&script, format!("{create};\n{GUIDE_SELECT}\n")).unwrap();

    let newest = readings.iter().map(|r| r.event_time).max().unwrap();
    let watermark = newest - 5_000 - 1;
    let (all, _) = reference_alerts(&readings, 5_000, 100.0, 5);
    let expected: Vec<Alert> = sorted(all.into_iter().filter(|a| a.1 - 1 <= watermark).collect());
    assert!(expected.len() > 10);

    let (stdout, stderr) = (dir.path().join("out.txt"), dir.path().join("err.txt"));
    let child = Command::new(weir_binary())
        .args(["run", script.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(fs::File::create(&stdout).unwrap())
        .stderr(fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let weir = Weir(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while fs::read_to_string(&stdout).unwrap().lines().count() < expected.len() {
        assert!(
            Instant::now() < deadline,
            "{} of {} alerts after 60 s: {}",
            fs::read_to_string(&stdout).unwrap().lines().count(),
            expected.len(),
            fs::read_to_string(&stderr).unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    terminate(weir, &stderr);
    assert_eq!(
        printed_alerts(&fs::read_to_string(&stdout).unwrap()),
        expected
    );
}

/// A script's mistakes: each names the problem and its place.
#[test]
fn mistakes_in_a_script_are_named_with_their_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let table = "CREATE TABLE t (\n  id STRING,\n  v DOUBLE,\n  ts TIMESTAMP(3),\n  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND\n) WITH ('connector' = 'stdin');\n";
    let cases = [
        (
            format!("{table}SELECT id FROM t WHERE vv > 1"),
            "t.sql:7:24: no field `vv`; the fields are: id, v, ts; did you mean `v`?",
        ),
        (
            format!("{table}SELECT id, v FROM t GROUP BY id, TUMBLE(ts, INTERVAL '1' SECOND)"),
            "t.sql:7:12: no field `v`: after GROUP BY",
        ),
        (
            format!("{table}SELECT id, COUNT(*) FROM t GROUP BY id"),
            "t.sql:7:1: a streaming GROUP BY needs a window",
        ),
        (
            format!("{table}SELECT id FROM t ORDER BY id"),
            "not supported on a stream yet",
        ),
        (
            format!("{table}SELECT id FROM u"),
            "t.sql:7:1: the query reads FROM no table or view this script created before it",
        ),
        (
            format!("{table}SELECT id FROM t WHERE v > 'x'"),
            "t.sql:7:24: cannot compare a f64 with a string",
        ),
        (
            format!("{table}SELECT id FROM t WHERE"),
            "t.sql:7:23: Expected: an expression, found: EOF",
        ),
        (
            format!("{table}DELETE FROM t"),
            "t.sql:7:1: `DELETE FROM …` is not supported",
        ),
        (
            table.replace("'stdin'", "'stdin', 'fromat' = 'json'") + "SELECT id FROM t",
            "the 'stdin' connector has no option 'fromat'",
        ),
        (
            table.replace("'stdin'", "'kafka'") + "SELECT id FROM t",
            "the 'kafka' connector needs the option 'topic'",
        ),
        (
            table
                .replace("  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND\n", "")
                .replace("ts TIMESTAMP(3),", "ts TIMESTAMP(3)")
                + "SELECT id FROM t",
            "has no WATERMARK FOR clause",
        ),
        (
            table.replace("ts - INTERVAL '1' SECOND", "ts + INTERVAL '1' SECOND")
                + "SELECT id FROM t",
            "t.sql:5:22: weir's watermark trails",
        ),
        (
            table.replace("v DOUBLE", "v DECIMAL(10, 2)") + "SELECT id FROM t",
            "t.sql:3:3: column `v`: the type DECIMAL(10,2) is not supported",
        ),
        (
            format!(
                "{table}SELECT id, SUM(v * 2) FROM t GROUP BY id, TUMBLE(ts, INTERVAL '1' SECOND)"
            ),
            "t.sql:7:12: SUM(v * 2): aggregates of expressions are not supported yet",
        ),
        (
            format!("{table}SELECT id FROM t;\nSELECT v FROM t"),
            "t.sql:8:1: a second SELECT: one query of a script prints its rows",
        ),
        (
            format!("{table}CREATE TABLE o (id STRING) WITH ('connector' = 'print');\nINSERT INTO o SELECT id FROM t;\nINSERT INTO o SELECT id FROM t"),
            "t.sql:9:1: a second INSERT INTO `o`",
        ),
        (
            format!("{table}CREATE TABLE u (id STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH ('connector' = 'stdin');\nSELECT id FROM t;\nCREATE TABLE o (id STRING) WITH ('connector' = 'print');\nINSERT INTO o SELECT id FROM u"),
            "t.sql:10:15: this query reads `u` and another reads `t`",
        ),
        (
            format!("{table}EXPLAIN SELECT id FROM t;\nSELECT v FROM t"),
            "t.sql:7:9: EXPLAIN of one query of several",
        ),
        (
            format!("{table}EXECUTE STATEMENT SET BEGIN\nSELECT id FROM t;"),
            "t.sql:7:1: this statement set has no END",
        ),
        (
            format!("{table}CREATE VIEW w AS SELECT id, COUNT(*) AS n FROM t GROUP BY id, TUMBLE(ts, INTERVAL '1' SECOND);\nSELECT id, COUNT(*) FROM w GROUP BY id, TUMBLE(ts, INTERVAL '5' SECOND)"),
            "t.sql:8:41: TUMBLE over `w`, a view of a window's results: a window of windows is not supported yet",
        ),
        (
            format!("{table}CREATE VIEW a AS SELECT * FROM b;\nCREATE VIEW b AS SELECT * FROM a;\nSELECT id FROM a"),
            "t.sql:9:1: the query reads FROM no table or view this script created before it",
        ),
        (
            format!("CREATE FUNCTION f AS 'f.wasm' LANGUAGE WASM WITH ('weir.memory' = '1');\n{table}SELECT id FROM t"),
            "t.sql:1:51: 'weir.memory' is not a host setting",
        ),
        (table.to_string(), "t.sql:7:1: the script has no query"),
        (
            format!("{table}SELECT id FROM t GROUP BY id, HOP(ts, INTERVAL '1' SECOND)"),
            "t.sql:7:31: HOP takes the event-time column and 2 INTERVAL(s), got 1",
        ),
        (
            format!("{table}SELECT id FROM t GROUP BY id, TUMBLE(v, INTERVAL '1' SECOND)"),
            "t.sql:7:38: windows are over the event-time column `ts`",
        ),
        (
            format!("{table}SELECT id FROM t GROUP BY id, TUMBLE(ts, INTERVAL '0' SECOND)"),
            "t.sql:7:51: a window interval must be above zero",
        ),
        (
            format!("{table}SELECT CASE WHEN v > 1 THEN 'a' END FROM t"),
            "t.sql:7:8: CASE needs an ELSE",
        ),
        (format!("{table}SELECT TUMBLE_END(ts, INTERVAL '2' SECOND) FROM t GROUP BY TUMBLE(ts, INTERVAL '1' SECOND)"), "t.sql:7:8: unknown function TUMBLE_END: a window's bound repeats the GROUP BY's window exactly"),
        (format!("SET 'parallelism' = '2';\n{table}SELECT id FROM t"), "t.sql:1:1: SET 'parallelism' is not a setting weir knows"),
        (format!("SET 'execution.checkpointing.interval' = 'often';\n{table}SELECT id FROM t"), "'execution.checkpointing.interval' = 'often' is not a duration"),
        (format!("CREATE FUNCTION f AS 'com.acme.F' LANGUAGE JAVA;\n{table}SELECT id FROM t"), "t.sql:1:44: LANGUAGE JAVA is not supported"),
        (format!("CREATE FUNCTION p95 AS 'missing.wasm' LANGUAGE WASM;\n{table}SELECT id, p95(v) FROM t GROUP BY id, TUMBLE(ts, INTERVAL '1' SECOND)"), "t.sql:8:12: p95: cannot read plugin"),
        (format!("CREATE FUNCTION p95 AS '{}' LANGUAGE WASM;\n{table}SELECT id, p95(v, v) FROM t GROUP BY id, TUMBLE(ts, INTERVAL '1' SECOND)", plugin("percentile.wasm")), "t.sql:8:12: p95 is an aggregate plugin: it takes one column"),
        (format!("{}{table}SELECT * FROM heat(TABLE t)", functions()), "t.sql:9:15: heat is a keyed function: it keeps state per key, so give its table a key: heat(TABLE t PARTITION BY key)"),
        (format!("{}{table}SELECT * FROM hot(TABLE t PARTITION BY id)", functions()), "t.sql:9:27: hot is a filter function: it takes each row on its own, so its table has no PARTITION BY"),
        (format!("{}{table}SELECT * FROM heat(TABLE t PARTITION BY (id, v))", functions()), "t.sql:9:28: heat is keyed by one column; PARTITION BY names 2"),
        (format!("{}{table}SELECT * FROM heat(TABLE t PARTITION BY nope)", functions()), "t.sql:9:15: heat: "),
        (format!("{}{table}SELECT * FROM hot(t)", functions()), "t.sql:9:19: write the table argument as TABLE t"),
        (format!("{}{table}SELECT * FROM hot(TABLE t, 100)", functions()), "t.sql:9:28: after the table come named options, e.g. threshold => 100"),
        (format!("{}{table}SELECT * FROM cold(TABLE t)", functions()), "t.sql:9:15: `cold` is not a function this script created"),
        (format!("{}{table}SELECT * FROM p95(TABLE t)", functions()), "t.sql:9:15: p95 is an aggregate function: call it in the select list"),
        (format!("{}{table}SELECT id, hot(v) FROM t", functions()), "t.sql:9:12: hot is a filter function: it gives a table, not a value; call it in FROM, as hot(TABLE t)"),
        (format!("CREATE FUNCTION c AS '{}' LANGUAGE WASM;\n{table}SELECT id, c(v, v) FROM t", plugin("fahrenheit_to_celsius.wasm")), "t.sql:8:12: c takes 1 column(s), its fields temperature; got 2"),
        (format!("CREATE FUNCTION c AS '{}' LANGUAGE WASM;\n{table}SELECT id, c(v + 1) FROM t", plugin("fahrenheit_to_celsius.wasm")), "t.sql:8:14: c's arguments are columns; compute `v + 1` in a view first"),
    ];
    for (script, expected) in cases {
        let file = dir.path().join("t.sql");
        fs::write(&file, &script).unwrap();
        refused(&file, expected, &script);
    }
}

/// Two lines declaring a filter, a keyed and an aggregate Wasm function.
fn functions() -> String {
    format!(
        "CREATE FUNCTION hot AS '{}' LANGUAGE WASM WITH ('threshold' = '1'); CREATE FUNCTION p95 AS '{}' LANGUAGE WASM;\nCREATE FUNCTION heat AS '{}' LANGUAGE WASM WITH ('threshold' = '1', 'duration_ms' = '5');\n",
        plugin("over_threshold.wasm"),
        plugin("percentile.wasm"),
        plugin("sustained_heat.wasm")
    )
}

/// `EXPLAIN` prints the plan the script compiles to and runs nothing; the
/// plan is the one `weir explain` prints for the script.
#[test]
fn explain_prints_the_plan_and_runs_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let script = fs::read_to_string(root.join("pipelines/sensor-alerts.sql"))
        .unwrap()
        .replace("'../data/", &format!("'{}/data/", root.display()))
        .replace("\nSELECT", "\nEXPLAIN SELECT");
    let file = dir.path().join("explained.sql");
    fs::write(&file, &script).unwrap();
    let out = weir(&["run", file.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(plan.contains("filter where temperature > 100"), "{plan}");
    assert!(plan.contains("window tumbling 10s by sensor_id"), "{plan}");
    assert!(!plan.contains("EXPR$1="), "nothing ran: {plan}");
    let explained = weir(&["explain", file.to_str().unwrap()], b"");
    assert_eq!(text(&explained.stdout), plan);
}

/// A row whose value cannot be computed goes to the dead letters with the
/// reason; the other rows go on.
#[test]
fn rows_an_expression_cannot_compute_are_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ratio.sql");
    fs::write(
        &file,
        "CREATE TABLE t (id STRING, n BIGINT, ts BIGINT, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH ('connector' = 'stdin');\n\
         SELECT id, 100 / n AS q FROM t WHERE id <> 'skip'",
    )
    .unwrap();
    let input = b"{\"id\":\"a\",\"n\":4,\"ts\":1}\n{\"id\":\"b\",\"n\":0,\"ts\":2}\n{\"id\":\"skip\",\"n\":0,\"ts\":3}\n{\"id\":\"c\",\"n\":-3,\"ts\":4}\n";
    let out = weir(&["run", file.to_str().unwrap()], input);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "id=a  q=25\nid=c  q=-33\n");
    let stderr = text(&out.stderr);
    let dead: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(dead.len(), 1, "{stderr}");
    assert_eq!(dead[0]["kind"], "expression");
    assert_eq!(dead[0]["reason"], "stage `select`: division by zero");
    assert_eq!(dead[0]["record"]["id"], "b");
    assert!(stderr.contains("expression failures 1"), "{stderr}");
    assert!(
        stderr.contains("filtered out                  1"),
        "{stderr}"
    );
}

/// The same expressions serve pipeline files: `where`, `having` and
/// computed fields, their mistakes placed inside the quoted text.
#[test]
fn a_pipeline_files_expressions_are_checked_where_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let head = "source = { kind = \"stdin\" }\nschema = { id = \"string\", v = \"f64\", ts = \"i64\" }\nevent_time = { field = \"ts\", max_out_of_orderness = \"1s\" }\nsink = { kind = \"console\" }\n";
    let cases = [
        ("[[operators]]\ntype = \"filter\"\nwhere = \"v > 1 AND idd = 'x'\"\n", "p.toml:7:20: `filter-1`: where: no field `idd`; the fields are: id, v, ts; did you mean `id`?"),
        ("[[operators]]\ntype = \"filter\"\nwhere = \"v + 1\"\n", "p.toml:7:9: `filter-1`: where = \"v + 1\" is a f64, not a condition"),
        ("[[operators]]\ntype = \"select\"\nfields = { id = \"id\", f = \"v * 9 / 5 + \" }\n", "p.toml:7:39: operator #1 (`select-1`), field `f`: Expected: an expression"),
        ("[[operators]]\ntype = \"window\"\nsize = \"1s\"\nkey_by = \"id\"\naggregates = { n = \"count\" }\nhaving = \"count > 1\"\n", "p.toml:10:11: `window-1`: having: no field `count`"),
    ];
    for (operators, expected) in cases {
        let file = dir.path().join("p.toml");
        fs::write(&file, format!("{head}{operators}")).unwrap();
        refused(&file, expected, operators);
    }
    let file = dir.path().join("p.toml");
    fs::write(
        &file,
        format!("{head}[[operators]]\ntype = \"filter\"\nwhere = \"v > 1\"\n[[operators]]\ntype = \"select\"\nfields = {{ id = \"UPPER(id)\", f = \"v * 9 / 5 + 32\" }}\n"),
    )
    .unwrap();
    let out = weir(
        &["run", file.to_str().unwrap()],
        b"{\"id\":\"a\",\"v\":100,\"ts\":1}\n{\"id\":\"b\",\"v\":0.5,\"ts\":2}\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "id=A  f=212\n");
}

/// `SET 'execution.checkpointing.interval'` turns checkpoints on, as a
/// `[checkpoint]` table does: a second run resumes from the first's.
#[test]
fn a_script_sets_checkpoints_and_resumes_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ndjson");
    fs::write(&input, generated(20_000, 3, 0.0)).unwrap();
    let script = dir.path().join("resumable.sql");
    fs::write(
        &script,
        format!(
            "SET 'execution.checkpointing.interval' = '1h';
             SET 'state.checkpoints.dir' = '{}';
             CREATE TABLE r (sensor_id STRING, temperature DOUBLE, event_time BIGINT,
               WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND)
             WITH ('connector' = 'filesystem', 'path' = '{}');
             SELECT sensor_id FROM r WHERE temperature > 119",
            dir.path().join("checkpoints").display(),
            input.display()
        ),
    )
    .unwrap();
    let first = weir(&["run", script.to_str().unwrap()], b"");
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(!text(&first.stdout).is_empty());
    assert!(
        fs::read_dir(dir.path().join("checkpoints"))
            .unwrap()
            .count()
            > 0
    );
    let second = weir(&["run", script.to_str().unwrap()], b"");
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        text(&second.stderr).contains("resumed from checkpoint"),
        "{}",
        text(&second.stderr)
    );
    assert_eq!(
        text(&second.stdout),
        "",
        "everything was read before the checkpoint"
    );
}

/// A window's `having` that cannot be computed for a result dead-letters
/// that result, with the reason, and lets the others out.
#[test]
fn a_having_that_cannot_be_computed_dead_letters_its_result() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("h.toml");
    fs::write(
        &file,
        "source = { kind = \"stdin\" }\nschema = { id = \"string\", ts = \"i64\" }\nevent_time = { field = \"ts\", max_out_of_orderness = \"1s\" }\nsink = { kind = \"console\" }\n[[operators]]\ntype = \"window\"\nsize = \"10s\"\nkey_by = \"id\"\naggregates = { n = \"count\" }\nhaving = \"100 / (n - 1) > 0\"\n",
    )
    .unwrap();
    let input = b"{\"id\":\"a\",\"ts\":1}\n{\"id\":\"b\",\"ts\":2}\n{\"id\":\"b\",\"ts\":3}\n";
    let out = weir(&["run", file.to_str().unwrap()], input);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        text(&out.stdout).starts_with("id=b "),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(text(&out.stdout).lines().count(), 1);
    let dead: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(dead.len(), 1, "{stderr}");
    assert_eq!(
        dead[0]["reason"],
        "stage `window-1`: having: division by zero"
    );
    assert_eq!(dead[0]["record"]["id"], "a");
}
