//! The webhook sink against a real local HTTP endpoint: templated bodies,
//! retries through 5xx and 429 answers, dead letters for what cannot be
//! delivered, batches, and the ids a receiver deduplicates on.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use weir_tests::receiver::Receiver;
use weir_tests::{
    json_lines, parse_readings, plugin, reference_alerts, seed_query, summary_count, text, weir,
    Alert,
};

/// Generated readings, the seed query over them with `sink` (a TOML inline
/// table) instead of its file sink, and the alerts it must raise.
fn alerts_pipeline(dir: &Path, sink: &str) -> (std::path::PathBuf, Vec<Alert>) {
    let readings = weir_tests::generated(30_000, 3, 0.0);
    let input = dir.join("readings.ndjson");
    std::fs::write(&input, &readings).unwrap();
    let (alerts, _) = reference_alerts(&parse_readings(&readings), 5_000, 100.0, 5);
    assert!(alerts.len() >= 10, "a real number of alerts: {alerts:?}");
    let source = format!(r#"{{ kind = "file", path = "{}" }}"#, input.display());
    let filter = plugin("over_threshold.wasm");
    let unused = dir.join("unused.jsonl");
    let text = seed_query(
        &source,
        Path::new(&filter),
        &unused,
        Some(&dir.join("dead.jsonl")),
    )
    .replace(
        &format!(
            r#"sink = {{ kind = "file", path = "{}" }}"#,
            unused.display()
        ),
        &format!("sink = {sink}"),
    );
    assert!(text.contains("kind = \"webhook\""), "the sink was replaced");
    let pipeline = dir.join("webhook.toml");
    std::fs::write(&pipeline, text).unwrap();
    (pipeline, alerts)
}

fn alert_of(result: &Value) -> Alert {
    let end = result["window_end"].as_str().unwrap();
    (
        result["sensor_id"].as_str().unwrap().to_string(),
        weir::format::timestamp::parse(end).unwrap(),
        result["count"].as_i64().unwrap(),
    )
}

#[test]
fn alerts_reach_a_slack_style_endpoint_once_each_through_5xx_and_429_answers() {
    let dir = tempfile::tempdir().unwrap();
    // Two 503s, then a 429 asking for a second's pause, then success.
    let receiver = Receiver::start(|n, _| match n {
        0 | 1 => (503, None),
        2 => (429, Some(1)),
        _ => (200, None),
    });
    let template =
        r#"{"text": "sensor {sensor_id}: {count} hot readings in the 10 s to {window_end}"}"#;
    let sink = format!(
        r#"{{ kind = "webhook", url = "{}", template = '{template}', retry_backoff = "10ms", headers = {{ Authorization = "Bearer s3cret" }} }}"#,
        receiver.url
    );
    let (pipeline, mut expected) = alerts_pipeline(dir.path(), &sink);
    let run = weir(&["run", pipeline.to_str().unwrap()], b"");
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{stderr}");

    let received = receiver.received();
    assert_eq!(received.len(), expected.len() + 3, "three retries");
    let first_key = &received[0].idempotency_key;
    assert!(first_key.is_some());
    for retry in &received[1..4] {
        assert_eq!(
            &retry.idempotency_key, first_key,
            "a retry is the same result"
        );
    }
    let delivered: Vec<_> = received.iter().filter(|r| r.status == 200).collect();
    let keys: BTreeSet<_> = delivered
        .iter()
        .map(|r| r.idempotency_key.clone())
        .collect();
    assert_eq!(keys.len(), delivered.len(), "one id per result");
    let mut got: Vec<Alert> = delivered
        .iter()
        .map(|r| {
            assert_eq!(r.authorization.as_deref(), Some("Bearer s3cret"));
            let body: Value = serde_json::from_str(&r.body).unwrap();
            let text = body["text"].as_str().unwrap();
            let (sensor, rest) = text
                .strip_prefix("sensor ")
                .and_then(|t| t.split_once(": "))
                .unwrap_or_else(|| panic!("{text}"));
            let (count, end) = rest.split_once(" hot readings in the 10 s to ").unwrap();
            (
                sensor.to_string(),
                weir::format::timestamp::parse(end).unwrap(),
                count.parse().unwrap(),
            )
        })
        .collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(summary_count(&stderr, "dead-lettered"), 0, "{stderr}");
}

#[test]
fn results_the_endpoint_keeps_failing_or_refuses_are_dead_lettered_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (_, alerts) = alerts_pipeline(dir.path(), "{ kind = \"webhook\", url = \"http://x\" }");
    let failing = alerts[0].0.clone();
    let refused = alerts
        .iter()
        .map(|a| a.0.clone())
        .find(|s| *s != failing)
        .unwrap();
    let (f, r) = (failing.clone(), refused.clone());
    let receiver = Receiver::start(move |_, body| {
        let result: Value = serde_json::from_str(body).unwrap();
        match result["sensor_id"].as_str().unwrap() {
            s if s == f => (500, None),
            s if s == r => (400, None),
            _ => (200, None),
        }
    });
    let sink = format!(
        r#"{{ kind = "webhook", url = "{}", max_retries = 2, retry_backoff = "1ms" }}"#,
        receiver.url
    );
    let (pipeline, _) = alerts_pipeline(dir.path(), &sink);
    let run = weir(&["run", pipeline.to_str().unwrap()], b"");
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{stderr}");

    let of = |sensor: &str| alerts.iter().filter(|a| a.0 == sensor).count();
    let dead = json_lines(&std::fs::read_to_string(dir.path().join("dead.jsonl")).unwrap());
    assert_eq!(dead.len(), of(&failing) + of(&refused), "{dead:?}");
    for letter in &dead {
        assert_eq!(letter["kind"], "sink");
        let reason = letter["reason"].as_str().unwrap();
        let sensor = letter["record"]["sensor_id"].as_str().unwrap();
        let expected = if sensor == failing {
            "500 Internal Server Error: scripted answer (3 attempts)"
        } else {
            assert_eq!(sensor, refused);
            "400 Bad Request: scripted answer (not retried)"
        };
        assert!(reason.contains(expected), "{reason}");
        // The endpoint is named without its path, which may be a secret.
        let endpoint = receiver.url.trim_end_matches("/hook");
        assert!(reason.contains(&format!("{endpoint}/…")), "{reason}");
        assert!(!reason.contains("/hook"), "{reason}");
    }
    let received = receiver.received();
    assert_eq!(
        received.len(),
        alerts.len() + 2 * of(&failing),
        "500s are retried twice, 400s not at all"
    );
    let mut delivered: Vec<Alert> = received
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| alert_of(&serde_json::from_str(&r.body).unwrap()))
        .collect();
    delivered.sort();
    let mut rest: Vec<Alert> = alerts
        .iter()
        .filter(|a| a.0 != failing && a.0 != refused)
        .cloned()
        .collect();
    rest.sort();
    assert_eq!(delivered, rest);
    assert_eq!(
        summary_count(&stderr, "dead-lettered"),
        dead.len() as u64,
        "{stderr}"
    );
}

#[test]
fn batches_are_json_arrays_with_an_id_per_result() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(|_, _| (200, None));
    let sink = format!(
        r#"{{ kind = "webhook", url = "{}", batch_size = 4 }}"#,
        receiver.url
    );
    let (pipeline, mut expected) = alerts_pipeline(dir.path(), &sink);
    let run = weir(&["run", pipeline.to_str().unwrap()], b"");
    assert!(run.status.success(), "{}", text(&run.stderr));
    let mut got = Vec::new();
    let mut ids = BTreeSet::new();
    for request in receiver.received() {
        let body: Value = serde_json::from_str(&request.body).unwrap();
        let results = body.as_array().unwrap();
        assert!((1..=4).contains(&results.len()));
        let request_ids: Vec<String> = match &request.weir_ids {
            Some(list) => list.split(',').map(str::to_string).collect(),
            None => vec![request.idempotency_key.clone().unwrap()],
        };
        assert_eq!(request_ids.len(), results.len());
        ids.extend(request_ids);
        got.extend(results.iter().map(alert_of));
    }
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(ids.len(), expected.len(), "distinct ids");
}

#[test]
fn a_bad_webhook_sink_is_refused_when_the_pipeline_loads() {
    let dir = tempfile::tempdir().unwrap();
    for (sink, expected) in [
        (
            r#"{ kind = "webhook", url = "ftp://example.com" }"#,
            "must start with http:// or https://",
        ),
        (
            r#"{ kind = "webhook", url = "http://127.0.0.1:1/", template = '{"text": "{sensor} is hot"}' }"#,
            "the template names `{sensor}`, which the results do not have",
        ),
        (
            r#"{ kind = "webhook", url = "http://127.0.0.1:1/", template = '{"text": {count}' }"#,
            "the template does not give JSON",
        ),
        (
            r#"{ kind = "webhook", url = "http://127.0.0.1:1/", template = '{"n": {count}}', batch_size = 10 }"#,
            "a template makes one request per result",
        ),
    ] {
        let (pipeline, _) = alerts_pipeline(dir.path(), sink);
        let run = weir(&["validate", pipeline.to_str().unwrap()], b"");
        let stderr = text(&run.stderr);
        assert!(!run.status.success(), "accepted {sink}");
        assert!(stderr.contains(expected), "wanted `{expected}`: {stderr}");
        assert!(stderr.contains("webhook.toml"), "names the file: {stderr}");
    }
}

/// An endpoint that never accepts (a Slack URL whose path is its token):
/// while the sink retries, its progress and its being the bottleneck show;
/// SIGTERM ends the run within `shutdown_timeout`, every result is
/// dead-lettered and the summary says so; and the secret in the URL is
/// never printed — not in the log, the dead letters, the admin API, the
/// metrics or the live feed.
#[test]
fn a_dead_endpoint_cannot_hold_a_stop_and_its_secret_url_is_never_printed() {
    const SECRET: &str = "T0SECRET/B0SECRET/xoxsecrettoken";
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start_at(&format!("/services/{SECRET}"), |n, _| {
        // The first two results get through; then the endpoint fails for good.
        if n < 2 {
            (200, None)
        } else {
            (500, None)
        }
    });
    assert!(receiver.url.contains(SECRET));
    let dead = dir.path().join("dead.jsonl");
    let pipeline = dir.path().join("p.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"
name = "secret-sink"
source = {{ kind = "stdin" }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "i64" }}
event_time = {{ field = "event_time", max_out_of_orderness = "1s" }}
sink = {{ kind = "webhook", url = "{}", max_retries = 1000000, retry_backoff = "20ms" }}
dead_letter = {{ path = "{}" }}
shutdown_timeout = "2s"
"#,
            receiver.url,
            dead.display()
        ),
    )
    .unwrap();
    let mut host = weir_tests::live::LiveHost::start(&pipeline, dir.path(), &[]);
    let readings: String = (0..40)
        .map(|i| format!("{{\"sensor_id\":\"s{i}\",\"temperature\":1.5,\"event_time\":{i}}}\n"))
        .collect();
    host.send(readings.as_bytes());

    // Two results delivered, the third retried without end: the sink's
    // progress is counted as it goes, and the sink is named the bottleneck.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut metrics = String::new();
    while std::time::Instant::now() < deadline {
        metrics = host.metrics();
        let delivered = metrics
            .lines()
            .any(|l| l.starts_with("weir_sink_results_total{") && l.ends_with(" 2"));
        let named = metrics.lines().any(|l| {
            l.starts_with("weir_bottleneck_info{")
                && l.contains("part=\"sink\"")
                && l.ends_with(" 1")
        });
        if delivered && named && receiver.received().len() > 5 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("weir_sink_results_total{") && l.ends_with(" 2")),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("weir_bottleneck_info{")
                && l.contains("part=\"sink\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );
    let mut answers = metrics.clone();
    for path in ["/v1/status", "/v1/plugins", "/"] {
        answers += &host.get_text(path).1;
    }
    let finished = host
        .terminate(std::time::Duration::from_secs(30))
        .expect("weir still running 30 s after SIGTERM with shutdown_timeout = 2s");
    assert!(finished.success, "{}", finished.stderr);
    let stderr = &finished.stderr;
    let letters = json_lines(&std::fs::read_to_string(&dead).unwrap());
    assert_eq!(
        letters.len(),
        38,
        "every result not delivered is dead-lettered: {stderr}"
    );
    assert!(letters.iter().all(|l| l["kind"] == "sink"));
    assert_eq!(summary_count(stderr, "results out"), 40, "{stderr}");
    assert!(stderr.contains("undelivered 38"), "{stderr}");
    let everything = format!(
        "{stderr}{answers}{}",
        std::fs::read_to_string(&dead).unwrap()
    );
    assert!(
        everything.contains("127.0.0.1"),
        "the endpoint is still named"
    );
    for part in SECRET.split('/') {
        assert!(
            !everything.contains(part),
            "the secret `{part}` was printed"
        );
    }
}

/// An `https://` endpoint is verified: one whose certificate is signed by
/// a private CA is refused (its results dead-lettered, naming the
/// reason), and reached once that CA is given as `ca_file`.
#[test]
fn an_https_endpoint_is_verified_against_the_public_roots_or_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = weir_tests::certificates::Authority::new("a private CA");
    let (cert, key) = ca.sign(&["127.0.0.1"]);
    std::fs::write(dir.path().join("private-ca.pem"), ca.pem()).unwrap();
    let receiver = Receiver::start_tls(&cert, &key, |_, _| (200, None));
    assert!(receiver.url.starts_with("https://127.0.0.1:"));

    let untrusted = format!(
        r#"{{ kind = "webhook", url = "{}", max_retries = 1, retry_backoff = "1ms" }}"#,
        receiver.url
    );
    let (pipeline, alerts) = alerts_pipeline(dir.path(), &untrusted);
    let run = weir(&["run", pipeline.to_str().unwrap()], b"");
    assert!(run.status.success(), "{}", text(&run.stderr));
    let dead = json_lines(&std::fs::read_to_string(dir.path().join("dead.jsonl")).unwrap());
    assert_eq!(dead.len(), alerts.len());
    let reason = dead[0]["reason"].as_str().unwrap();
    assert!(reason.contains("UnknownIssuer"), "{reason}");
    assert!(receiver.received().is_empty());

    // The CA, relative to the pipeline file.
    let trusted = untrusted.replace(" }", r#", ca_file = "private-ca.pem" }"#);
    let (pipeline, _) = alerts_pipeline(dir.path(), &trusted);
    std::fs::remove_file(dir.path().join("dead.jsonl")).unwrap();
    let run = weir(&["run", pipeline.to_str().unwrap()], b"");
    assert!(run.status.success(), "{}", text(&run.stderr));
    let mut delivered: Vec<Alert> = receiver
        .received()
        .iter()
        .map(|r| alert_of(&serde_json::from_str(&r.body).unwrap()))
        .collect();
    delivered.sort();
    let mut expected = alerts.clone();
    expected.sort();
    assert_eq!(delivered, expected);
    let dead = std::fs::read_to_string(dir.path().join("dead.jsonl")).unwrap_or_default();
    assert_eq!(dead, "");

    let missing = untrusted.replace(" }", r#", ca_file = "nowhere.pem" }"#);
    let (pipeline, _) = alerts_pipeline(dir.path(), &missing);
    let refused = weir(&["run", pipeline.to_str().unwrap()], b"");
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("webhook ca_file"),
        "{}",
        text(&refused.stderr)
    );
}
