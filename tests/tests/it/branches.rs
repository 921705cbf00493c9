//! Several queries over one read of the source: a SQL statement set of
//! INSERTs, and a pipeline file whose operators start branches with
//! `from`. Each branch's results are checked against the plain reference
//! model, at parallelism 1 and 2, so one branch's filter or window cannot
//! leak into another's.

use std::fs;
use std::path::Path;

use weir_tests::*;

/// Two alert queries with different thresholds and a plain filter, each
/// written to its own file, with the readings they were computed from.
struct Expected {
    readings: Vec<Reading>,
    hot: Vec<Alert>,
    warm: Vec<Alert>,
}

impl Expected {
    fn new(input: &str) -> Self {
        let readings = parse_readings(input);
        let hot = reference_alerts(&readings, 5_000, 100.0, 5).0;
        let warm = reference_alerts(&readings, 5_000, 90.0, 7).0;
        assert!(hot.len() > 20 && warm.len() > 20 && hot != warm);
        Self {
            readings,
            hot,
            warm,
        }
    }

    /// The readings below `limit`, in input order, as the `cold` branch
    /// writes them.
    fn cold(&self, limit: f64) -> Vec<(String, f64)> {
        self.readings
            .iter()
            .filter(|r| r.temperature < limit)
            .map(|r| (r.sensor_id.clone(), r.temperature))
            .collect()
    }

    fn check(&self, dir: &Path, context: &str) {
        let alerts = |name: &str| {
            let mut alerts = parse_alerts(&fs::read_to_string(dir.join(name)).unwrap());
            alerts.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
            alerts
        };
        assert_eq!(alerts("hot.ndjson"), self.hot, "{context}: hot");
        assert_eq!(alerts("warm.ndjson"), self.warm, "{context}: warm");
        let mut cold: Vec<(String, f64)> =
            json_lines(&fs::read_to_string(dir.join("cold.ndjson")).unwrap())
                .iter()
                .map(|v| {
                    (
                        v["sensor_id"].as_str().unwrap().to_string(),
                        v["temperature"].as_f64().unwrap(),
                    )
                })
                .collect();
        let mut expected = self.cold(62.0);
        assert!(expected.len() > 50, "{} cold readings", expected.len());
        // At parallelism 2 the instances' results interleave by batch.
        cold.sort_by(|a, b| a.partial_cmp(b).unwrap());
        expected.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(cold, expected, "{context}: cold");
    }
}

fn alert_query(table: &str, threshold: u32, min_count: u32) -> String {
    format!(
        "INSERT INTO {table}
SELECT sensor_id, TUMBLE_END(event_time, INTERVAL '10' SECOND), COUNT(*)
FROM readings WHERE temperature > {threshold}
GROUP BY sensor_id, TUMBLE(event_time, INTERVAL '10' SECOND)
HAVING COUNT(*) > {min_count};"
    )
}

fn sink_table(name: &str, columns: &str, dir: &Path) -> String {
    format!(
        "CREATE TABLE {name} ({columns}) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');\n",
        dir.join(format!("{name}.ndjson")).display()
    )
}

/// A statement set of three INSERTs reads the readings once (the summary
/// counts each reading once) and fills each table as its query alone would.
#[test]
fn a_statement_sets_inserts_share_one_read_and_each_gives_its_own_rows() {
    let input = generated(40_000, 11, 0.02);
    let expected = Expected::new(&input);
    for parallelism in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let alert_columns = "sensor_id STRING, window_end TIMESTAMP(3), `count` BIGINT";
        let script = format!(
            "SET 'parallelism.default' = '{parallelism}';
CREATE TABLE readings (sensor_id STRING, temperature DOUBLE, event_time TIMESTAMP(3),
  WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND) WITH ('connector' = 'stdin');
{}{}{}
EXECUTE STATEMENT SET
BEGIN
{}
{}
INSERT INTO cold SELECT sensor_id, temperature FROM readings WHERE temperature < 62;
END;
",
            sink_table("hot", alert_columns, dir.path()),
            sink_table("warm", alert_columns, dir.path()),
            sink_table("cold", "sensor_id STRING, temperature DOUBLE", dir.path()),
            alert_query("hot", 100, 5),
            alert_query("warm", 90, 7),
        );
        let file = dir.path().join("branches.sql");
        fs::write(&file, &script).unwrap();
        let run = weir(&["run", file.to_str().unwrap()], input.as_bytes());
        let stderr = text(&run.stderr);
        assert!(run.status.success(), "{stderr}");
        assert_eq!(summary_count(&stderr, "events in"), 40_000, "{stderr}");
        if parallelism == 2 {
            assert!(
                stderr.contains("operator instances            2"),
                "{stderr}"
            );
        }
        expected.check(dir.path(), &format!("SQL at parallelism {parallelism}"));
    }
}

/// The same three branches as a pipeline file: `from = "source"` starts a
/// branch, each sink takes the results of the stage it names.
#[test]
fn a_pipeline_files_branches_each_give_their_own_rows() {
    let input = generated(40_000, 11, 0.02);
    let expected = Expected::new(&input);
    let window = |name: &str, from: &str, min_count: u32| {
        format!(
            r#"[[operators]]
type = "window"
name = "{name}"
from = "{from}"
size = "10s"
key_by = "sensor_id"
aggregates = {{ count = "count" }}
having = "count > {min_count}"
"#
        )
    };
    for parallelism in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let sink = |name: &str, from: &str| {
            format!(
                "[[sinks]]\nkind = \"file\"\npath = \"{}\"\nfrom = \"{from}\"\n",
                dir.path().join(format!("{name}.ndjson")).display()
            )
        };
        let pipeline = format!(
            r#"name = "branches"
parallelism = {parallelism}
[source]
kind = "stdin"
[schema]
sensor_id = "string"
temperature = "f64"
event_time = "timestamp"
[event_time]
field = "event_time"
max_out_of_orderness = "5s"
[[operators]]
type = "filter"
name = "over-100"
where = "temperature > 100"
{}[[operators]]
type = "filter"
name = "over-90"
from = "source"
where = "temperature > 90"
{}[[operators]]
type = "filter"
name = "cold"
from = "source"
where = "temperature < 62"
{}{}{}"#,
            window("hot", "over-100", 5),
            window("warm", "over-90", 7),
            sink("hot", "hot"),
            sink("warm", "warm"),
            sink("cold", "cold"),
        );
        let file = dir.path().join("branches.toml");
        fs::write(&file, &pipeline).unwrap();
        let run = weir(&["run", file.to_str().unwrap()], input.as_bytes());
        assert!(run.status.success(), "{}", text(&run.stderr));
        expected.check(dir.path(), &format!("TOML at parallelism {parallelism}"));

        let explain = weir(&["explain", file.to_str().unwrap()], b"");
        let plan = text(&explain.stdout);
        let watermarks = plan.split("[time] watermarks").nth(1).unwrap();
        let fed: Vec<&str> = watermarks
            .split("[operator]")
            .next()
            .unwrap()
            .lines()
            .filter(|l| l.trim_start().starts_with('→'))
            .collect();
        assert_eq!(fed.len(), 3, "three branches from the source:\n{plan}");
    }
}

/// `from` must name a stage above it (or the source), and no stage may be
/// called `source`.
#[test]
fn a_from_that_names_no_stage_above_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let schema = r#"{ sensor_id = "string", temperature = "f64", event_time = "timestamp" }"#;
    for (operators, expected) in [
        (
            "type = \"filter\"\nname = \"a\"\nfrom = \"b\"\nwhere = \"temperature > 1\"\n[[operators]]\ntype = \"filter\"\nname = \"b\"\nwhere = \"temperature > 2\"\n",
            "operator #1: from = \"b\" names no stage above this one; it can read: source",
        ),
        (
            "type = \"filter\"\nname = \"source\"\nwhere = \"temperature > 1\"\n",
            "a stage named `source` already exists",
        ),
    ] {
        let file = dir.path().join("p.toml");
        fs::write(&file, stdin_pipeline(schema, operators)).unwrap();
        refused(&file, expected, operators);
    }
}
