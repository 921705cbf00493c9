//! Kafka over TLS: the seed query from and to a broker that speaks only
//! TLS, its certificate signed by a CA made for the test and named by a
//! path relative to the pipeline file, the results zstd-compressed; a
//! broker whose certificate weir is not told to trust stops the run with
//! the reason (from the source, the sink and a changelog table) instead of
//! being retried for ever; and SCRAM over TLS, in TOML and in Flink SQL.
//!
//! The broker is tansu behind a TLS-terminating proxy (tansu 0.6.0 serves no
//! TLS itself; see `weir_tests::tls_proxy`), advertising the proxy's port,
//! so every connection weir makes is TLS, checked by librdkafka's OpenSSL.

use std::path::Path;
use std::time::Duration;

use weir_tests::certificates::Authority;
use weir_tests::kafka::{sensor_pipeline, start_weir_with_env, wait_done, wait_exit, Broker};
use weir_tests::{generated, parse_alerts, parse_readings, reference_alerts, Alert};

const READINGS: &str = "sensor-readings";
const ALERTS: &str = "sensor-alerts";

const TRUSTED: &str =
    r#"properties = { "security.protocol" = "ssl", "ssl.ca.location" = "ca.pem" }"#;
const UNTRUSTED: &str = r#"properties = { "security.protocol" = "ssl" }"#;

/// A TLS-only broker with the pipeline's topics and `events` readings in
/// them; the CA's PEM is `dir/ca.pem`.
fn broker_with_readings(dir: &Path, events: &str) -> Broker {
    let broker = Broker::start_behind_tls(&Authority::new("weir test CA"), &dir.join("ca.pem"));
    with_readings(broker, events)
}

fn with_readings(broker: Broker, events: &str) -> Broker {
    broker.create_topic(READINGS, 2);
    broker.create_topic(ALERTS, 1);
    let lines: Vec<String> = events.lines().map(String::from).collect();
    broker.produce(READINGS, &lines, Some("sensor_id"));
    broker
}

/// The Kafka sensor pipeline with `source` and `sink` TOML lines added to
/// its source and sink.
fn pipeline(broker: &Broker, dir: &Path, source: &str, sink: &str) -> std::path::PathBuf {
    let path = sensor_pipeline(
        broker,
        dir,
        "tls-test",
        &format!("bounded = true\n{source}"),
    );
    let text = std::fs::read_to_string(&path).expect("the pipeline");
    let sink_topic = format!("topic = \"{ALERTS}\"\n");
    assert_eq!(text.matches(&sink_topic).count(), 1);
    std::fs::write(
        &path,
        text.replace(&sink_topic, &format!("{sink_topic}{sink}\n")),
    )
    .expect("writing the pipeline");
    path
}

fn sorted(mut alerts: Vec<Alert>) -> Vec<Alert> {
    alerts.sort();
    alerts
}

/// Runs `pipeline` (with `env`) to its end over the 20,000 readings.
fn run_to_end(pipeline: &Path, log: &Path, env: &[(&str, &str)]) {
    let log = wait_done(
        start_weir_with_env(pipeline, log, &[], env),
        log,
        Duration::from_secs(120),
    );
    assert_eq!(
        weir_tests::summary_count(&log, "records read"),
        20_000,
        "{log}"
    );
    assert_eq!(weir_tests::summary_count(&log, "dead-lettered"), 0, "{log}");
}

/// The alerts on `topic`, sorted.
fn alerts_on(broker: &Broker, topic: &str, expected: usize) -> Vec<Alert> {
    let messages = broker.read_all(topic, expected + 1, Duration::from_secs(5));
    sorted(parse_alerts(&messages.join("\n")))
}

/// The `error:` line of a failed run's stderr, which must hold each of `expected`.
fn assert_error_names(stderr: &str, expected: &[&str]) {
    let error = stderr
        .lines()
        .find(|line| line.starts_with("error:"))
        .unwrap_or_else(|| panic!("an error line: {stderr}"));
    for expected in expected {
        assert!(error.contains(expected), "{expected} in {error}");
    }
}

#[test]
fn a_tls_only_broker_is_read_and_written_with_a_private_ca() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = generated(20_000, 11, 0.0);
    let broker = broker_with_readings(dir.path(), &events);
    let (expected, late) = reference_alerts(&parse_readings(&events), 5_000, 100.0, 5);
    assert_eq!(late, 0);
    assert!(expected.len() > 20, "enough alerts: {}", expected.len());

    // zstd: a librdkafka built without it refuses the setting.
    let sink = r#"properties = { "security.protocol" = "ssl", "ssl.ca.location" = "ca.pem", "compression.type" = "zstd" }"#;
    let pipeline = pipeline(&broker, dir.path(), TRUSTED, sink);
    let proxy = broker.tls.as_ref().expect("a TLS broker");
    let before = proxy.handshakes();
    run_to_end(&pipeline, &dir.path().join("weir.stderr"), &[]);
    assert!(
        proxy.handshakes() >= before + 2,
        "the consumer and the producer each connected over TLS"
    );
    assert_eq!(alerts_on(&broker, ALERTS, expected.len()), sorted(expected));
}

/// Runs `pipeline`, which must fail within a bound; returns its stderr.
fn failing_run(pipeline: &Path, dir: &Path) -> String {
    failing_run_with_env(pipeline, dir, &[])
}

fn failing_run_with_env(pipeline: &Path, dir: &Path, env: &[(&str, &str)]) -> String {
    let log = dir.join("weir.stderr");
    let child = start_weir_with_env(pipeline, &log, &[], env);
    let (status, stderr) = wait_exit(child, &log, Duration::from_secs(60));
    assert!(!status.success(), "{stderr}");
    stderr
}

#[test]
fn an_untrusted_broker_certificate_stops_the_run_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Enough readings for alerts, which the sink must then deliver.
    let events = generated(20_000, 12, 0.0);
    let broker = broker_with_readings(dir.path(), &events);

    // The source: OpenSSL's default roots do not hold the test's CA.
    let source_side = pipeline(&broker, dir.path(), UNTRUSTED, TRUSTED);
    let stderr = failing_run(&source_side, dir.path());
    let servers = format!("broker {}", broker.bootstrap());
    assert_error_names(
        &stderr,
        &[
            &servers,
            "certificate verify failed",
            "TLS with the broker failed",
        ],
    );

    // The sink: readings from a file, results to the untrusted broker.
    let input = dir.path().join("readings.ndjson");
    std::fs::write(&input, &events).expect("writing readings");
    let sink_side = dir.path().join("to-kafka.toml");
    let text = std::fs::read_to_string(pipeline(&broker, dir.path(), "", UNTRUSTED))
        .expect("the pipeline");
    let start = text.find("[source]").expect("a source table");
    let end = text.find("[schema]").expect("a schema table");
    let file_source = format!(
        "[source]\nkind = \"file\"\npath = \"{}\"\n\n",
        input.display()
    );
    std::fs::write(
        &sink_side,
        format!("{}{file_source}{}", &text[..start], &text[end..]),
    )
    .expect("writing the pipeline");
    let stderr = failing_run(&sink_side, dir.path());
    assert_error_names(
        &stderr,
        &[
            ALERTS,
            "certificate verify failed",
            "TLS with the broker failed",
        ],
    );

    // A changelog lookup table on the same broker.
    broker.create_topic("sites", 1);
    let with_table = dir.path().join("with-table.toml");
    let table = format!(
        "[[operators]]\ntype = \"lookup\"\nkafka = {{ bootstrap_servers = \"{}\", topic = \"sites\", {UNTRUSTED} }}\nkey = \"sensor_id\"\nfields = {{ building = \"string\" }}\n\n",
        broker.bootstrap()
    );
    // The sink trusts the CA now; only the table does not.
    let text = std::fs::read_to_string(&sink_side)
        .expect("the pipeline")
        .replace(UNTRUSTED, TRUSTED);
    let first = text.find("[[operators]]").expect("operators");
    std::fs::write(
        &with_table,
        format!("{}{table}{}", &text[..first], &text[first..]),
    )
    .expect("writing the pipeline");
    let stderr = failing_run(&with_table, dir.path());
    assert_error_names(
        &stderr,
        &["certificate verify failed", "TLS with the broker failed"],
    );
}

#[test]
fn scram_over_tls_logs_in_with_a_password_from_the_environment_and_a_wrong_one_stops_the_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let password = "correct horse battery staple";
    let broker = Broker::start_behind_tls_with_users(
        &Authority::new("weir test CA"),
        &dir.path().join("ca.pem"),
        &[
            ("test-client", "the test's own password"),
            ("weir", password),
        ],
    );
    let events = generated(20_000, 13, 0.0);
    let broker = with_readings(broker, &events);
    let (expected, late) = reference_alerts(&parse_readings(&events), 5_000, 100.0, 5);
    assert_eq!(late, 0);
    let expected = sorted(expected);

    let login = r#"properties = { "security.protocol" = "sasl_ssl", "ssl.ca.location" = "ca.pem", "sasl.mechanism" = "SCRAM-SHA-512", "sasl.username" = "weir", "sasl.password" = "${KAFKA_PASSWORD}" }"#;
    let pipeline = pipeline(&broker, dir.path(), login, login);
    let env = [("KAFKA_PASSWORD", password)];
    run_to_end(&pipeline, &dir.path().join("weir.stderr"), &env);
    assert_eq!(alerts_on(&broker, ALERTS, expected.len()), expected);

    let wrong = "not the password at all";
    let stderr = failing_run_with_env(&pipeline, dir.path(), &[("KAFKA_PASSWORD", wrong)]);
    assert_error_names(
        &stderr,
        &["SCRAM", "refused weir's credentials", "sasl.password"],
    );
    assert!(
        !stderr.contains(wrong),
        "the password is not printed: {stderr}"
    );

    // The SQL twin as a Flink user writes it: Java's protocol name and
    // JAAS login, carried over unchanged.
    broker.create_topic(SQL_ALERTS, 1);
    let script = flink_style_sql(&broker, dir.path());
    run_to_end(&script, &dir.path().join("sql.stderr"), &env);
    assert_eq!(alerts_on(&broker, SQL_ALERTS, expected.len()), expected);
}

const SQL_ALERTS: &str = "sensor-alerts-sql";

/// `pipelines/sensor-alerts-kafka.sql` against `broker`, bounded, logging
/// in with Flink's `properties.*` options for SASL over TLS.
fn flink_style_sql(broker: &Broker, dir: &Path) -> std::path::PathBuf {
    let original =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/sensor-alerts-kafka.sql");
    let login = format!(
        "'properties.bootstrap.servers' = '{}',\n  \
         'properties.security.protocol' = 'SASL_SSL',\n  \
         'properties.ssl.ca.location' = 'ca.pem',\n  \
         'properties.sasl.mechanism' = 'SCRAM-SHA-512',\n  \
         'properties.sasl.jaas.config' = 'org.apache.kafka.common.security.scram.ScramLoginModule required username=\"weir\" password=\"${{KAFKA_PASSWORD}}\";',",
        broker.bootstrap()
    );
    let text = std::fs::read_to_string(original)
        .expect("the Kafka SQL script")
        .replace(
            "'properties.bootstrap.servers' = '127.0.0.1:19092',",
            &login,
        )
        .replace(
            "'scan.startup.mode' = 'group-offsets',",
            "'scan.startup.mode' = 'earliest-offset',\n  'scan.bounded.mode' = 'latest-offset',",
        )
        .replace(
            "'topic' = 'sensor-alerts',",
            &format!("'topic' = '{SQL_ALERTS}',"),
        )
        .replace(
            "'../plugins/dist/",
            &format!("'{}/", weir_tests::plugin_dir().display()),
        )
        .replace(
            "'../out/sensor-alerts-kafka.dead-letter.ndjson'",
            &format!("'{}'", dir.join("sql-dead.ndjson").display()),
        );
    assert_eq!(text.matches("SASL_SSL").count(), 2, "{text}");
    assert!(text.contains(SQL_ALERTS) && text.contains("latest-offset"));
    let path = dir.join("sensor-alerts-kafka.sql");
    std::fs::write(&path, text).expect("writing the script");
    path
}
