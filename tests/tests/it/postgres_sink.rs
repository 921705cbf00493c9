//! The PostgreSQL upsert sink against a real server: the seed query's alerts
//! land once each in a table the sink creates, across SIGKILLs and resumes,
//! and late updates leave one row per window holding its final value.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use weir_tests::postgres::Postgres;
use weir_tests::{
    parse_readings, plugin, reference_alerts, seed_query, text, weir, weir_binary, Alert,
};

fn alerts_in(server: &Postgres, table: &str) -> Vec<Alert> {
    let mut rows: Vec<Alert> = server
        .client()
        .query(
            &format!(
                "SELECT sensor_id, (extract(epoch from window_end) * 1000)::bigint, count FROM {table}"
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    rows.sort();
    rows
}

#[test]
fn alerts_are_upserted_once_each_across_sigkill_and_resume() {
    let server = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let readings = weir_tests::generated(600_000, 17, 0.001);
    let input = dir.path().join("readings.ndjson");
    std::fs::write(&input, &readings).unwrap();
    let (mut expected, _) = reference_alerts(&parse_readings(&readings), 5_000, 100.0, 5);
    expected.sort();

    let source = format!(r#"{{ kind = "file", path = "{}" }}"#, input.display());
    let unused = dir.path().join("unused.jsonl");
    let dead = dir.path().join("dead.jsonl");
    let pipeline = seed_query(
        &source,
        Path::new(&plugin("over_threshold.wasm")),
        &unused,
        Some(&dead),
    )
    .replace(
        &format!(
            r#"sink = {{ kind = "file", path = "{}" }}"#,
            unused.display()
        ),
        &format!(
            r#"sink = {{ kind = "postgres", url = "{}", table = "alerts" }}"#,
            server.url()
        ),
    );
    let file = dir.path().join("pg.toml");
    std::fs::write(
        &file,
        format!(
            "{pipeline}\n[checkpoint]\ndir = \"{}\"\ninterval = \"20ms\"\n",
            dir.path().join("checkpoints").display()
        ),
    )
    .unwrap();

    // Killed three times once it has written something, then run to its end.
    for kill in 0..3 {
        let mut child = Command::new(weir_binary())
            .args(["run", file.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Killed once it has written rows and taken a checkpoint of its own.
        let deadline = Instant::now() + Duration::from_secs(30);
        let (rows, checkpoints) = (
            alerts_in_count(&server),
            checkpoints_in(&dir.path().join("checkpoints")),
        );
        while (alerts_in_count(&server) <= rows
            || checkpoints_in(&dir.path().join("checkpoints")) <= checkpoints)
            && Instant::now() < deadline
        {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "run {kill} ended before its kill"
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let run = weir(&["run", file.to_str().unwrap()], b"");
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("resumed from checkpoint"), "{stderr}");
    assert_eq!(alerts_in(&server, "alerts"), expected);
}

/// Checkpoints written into `dir` so far (their ids grow; old ones are pruned).
fn checkpoints_in(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(".bin")?
                        .rsplit('-')
                        .next()?
                        .parse::<u64>()
                        .ok()
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// Rows in `alerts`; 0 until the sink has created the table.
fn alerts_in_count(server: &Postgres) -> i64 {
    server
        .client()
        .query_one("SELECT count(*) FROM alerts", &[])
        .map_or(0, |row| row.get(0))
}

#[test]
fn late_updates_leave_one_row_per_window_with_its_final_count() {
    let server = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let sink = format!(
        "[sink]\nkind = \"postgres\"\nurl = \"{}\"\ntable = \"public.window_counts\"",
        server.url()
    );
    let pipeline = weir_tests::late_updates_pipeline(dir.path(), &sink);
    let run = weir(&["run", pipeline.to_str().unwrap()], b"");
    assert!(run.status.success(), "{}", text(&run.stderr));
    let s = |x: &str| x.to_string();
    let base = 1_700_000_000_000;
    let mut rows: Vec<(String, i64, i64, bool)> = server
        .client()
        .query(
            "SELECT sensor_id, (extract(epoch from window_start) * 1000)::bigint, count, \"update\" FROM window_counts",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), (row.get::<_, i64>(1) - base) / 1000, row.get(2), row.get(3)))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            (s("a"), 0, 3, true),
            (s("a"), 10, 1, false),
            (s("a"), 40, 1, false),
            (s("b"), 0, 1, false),
            (s("b"), 40, 1, false),
            (s("c"), 0, 1, false),
        ],
        "the update replaced the first result of (a, 0)"
    );
}

/// A connection that fails names the server, never the password in its URL
/// or in a key-value connection string.
#[test]
fn a_failed_connection_never_prints_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, "").unwrap();
    // Port 1 on loopback: nothing listens there.
    for url in [
        "postgres://weir:hunter2SECRET@127.0.0.1:1/db",
        "host=127.0.0.1 port=1 user=weir password=hunter2SECRET dbname=db",
    ] {
        let pipeline = dir.path().join("p.toml");
        std::fs::write(
            &pipeline,
            weir_tests::postgres::readings_into(&input, url, "alerts"),
        )
        .unwrap();
        let out = weir(&["run", pipeline.to_str().unwrap()], b"");
        let stderr = text(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains("cannot connect to PostgreSQL"), "{stderr}");
        assert!(stderr.contains("127.0.0.1"), "{stderr}");
        assert!(!stderr.contains("hunter2SECRET"), "{stderr}");
    }
}

/// A table locked elsewhere (a migration, a forgotten transaction) does not
/// hold the pipeline: the waiting statement is cancelled after
/// `statement_timeout` and the run stops with PostgreSQL's error.
#[test]
fn a_table_locked_elsewhere_stops_the_run_after_the_statement_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Postgres::start();
    let mut holder = server.client();
    holder
        .batch_execute(
            "CREATE TABLE held (id text PRIMARY KEY, sensor_id text, temperature double precision, event_time bigint)",
        )
        .unwrap();
    let mut lock = holder.transaction().unwrap();
    lock.batch_execute("LOCK TABLE held IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let input = dir.path().join("in.ndjson");
    std::fs::write(
        &input,
        "{\"sensor_id\":\"s1\",\"temperature\":101.5,\"event_time\":1}\n",
    )
    .unwrap();
    let pipeline = dir.path().join("p.toml");
    let written = weir_tests::postgres::readings_into(&input, &server.url(), "held").replace(
        "table = \"held\" }",
        "table = \"held\", statement_timeout = \"1s\" }",
    );
    assert!(written.contains("statement_timeout"), "{written}");
    std::fs::write(&pipeline, written).unwrap();
    let out = weir_tests::weir_bounded(
        &["run", pipeline.to_str().unwrap()],
        b"",
        Duration::from_secs(60),
        1024,
    )
    .within_bounds();
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("statement timeout (57014)"), "{stderr}");
    lock.rollback().unwrap();
}
