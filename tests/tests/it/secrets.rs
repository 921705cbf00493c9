//! Values given to a pipeline from outside it — `${NAME}` from the
//! environment, `NAME_FILE` naming a file, `${file:PATH}`, in a pipeline
//! file and in a SQL script's `WITH` options — reach the place they are
//! used, and appear in nothing weir prints: not the log, the summary, an
//! error and its excerpt, `weir explain`, the admin API, the live feed or
//! the dead letters. Each route carries a value that the output would
//! otherwise show (the pipeline's name is in the log, the metrics and the
//! plan; a table name is in the plan; a wrongly typed value is quoted by
//! the parser's error).

use std::io::BufRead;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use weir_tests::live::{free_port, LiveHost};
use weir_tests::receiver::Receiver;
use weir_tests::{json_lines, text, weir_binary};

const NAME: &str = "plant-name-Zq81secret";
const TOKEN: &str = "hookTOKEN9f3secret";
const AUTH: &str = "Bearer auth-77-secret";
const INGEST_PATH: &str = "ingest-path-4xsecret";
const INGEST_SECRET: &str = "ingest-secret-b7secret";
const PG_PASSWORD: &str = "pg-pass-hunter2secret";
const PG_TABLE: &str = "alerts_tbl_secret42";

/// `weir args…` with `env` added to its environment.
fn weir_with(args: &[&str], env: &[(&str, String)]) -> Output {
    Command::new(weir_binary())
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("running weir")
}

fn assert_hidden(output: &str, secrets: &[&str], channel: &str) {
    for secret in secrets {
        assert!(
            !output.contains(secret),
            "`{secret}` was printed in {channel}:\n{output}"
        );
    }
}

/// The first event of the live feed, as sent.
fn first_live_event(addr: &str) -> String {
    let response = ureq::get(&format!("http://{addr}/v1/live"))
        .call()
        .expect("the live feed");
    let mut lines = std::io::BufReader::new(response.into_body().into_reader()).lines();
    let event = lines.next().unwrap().unwrap();
    let data = lines.next().unwrap().unwrap();
    format!("{event}\n{data}\n")
}

#[test]
fn secrets_from_outside_reach_their_use_and_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start_at(&format!("/hook/{TOKEN}"), |n, _| {
        // Two results get through; then the endpoint fails for good.
        if n < 2 {
            (200, None)
        } else {
            (500, None)
        }
    });
    let hook = receiver.url.replace(TOKEN, "${file:hook-token}");
    std::fs::write(dir.path().join("hook-token"), format!("{TOKEN}\n")).unwrap();
    std::fs::write(dir.path().join("ingest-path"), INGEST_PATH).unwrap();
    let port = free_port();
    let auth_file = dir.path().join("auth");
    std::fs::write(&auth_file, AUTH).unwrap();
    let (results, dead) = (dir.path().join("out.jsonl"), dir.path().join("dead.jsonl"));
    let pipeline = dir.path().join("p.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"
name = "${{PIPELINE_NAME}}"
source = {{ kind = "http", listen = "127.0.0.1:{port}", path = "/in/${{file:ingest-path}}", secret = "${{INGEST_SECRET}}" }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "i64" }}
event_time = {{ field = "event_time", max_out_of_orderness = "1s" }}
dead_letter = {{ path = "{}" }}
shutdown_timeout = "2s"
sinks = [
  {{ kind = "file", path = "{}" }},
  {{ kind = "webhook", url = "{hook}", max_retries = 1000000, retry_backoff = "20ms", headers = {{ Authorization = "${{WEBHOOK_AUTH}}" }} }},
]

[[operators]]
type = "filter"
name = "warm"
where = "temperature > ${{LIMIT}}"
"#,
            dead.display(),
            results.display()
        ),
    )
    .unwrap();
    let env = [
        ("PIPELINE_NAME", NAME.to_string()),
        ("WEBHOOK_AUTH_FILE", auth_file.display().to_string()),
        ("LIMIT", "1".to_string()),
        ("INGEST_SECRET", INGEST_SECRET.to_string()),
    ];
    let secrets = [NAME, TOKEN, AUTH, INGEST_PATH, INGEST_SECRET];

    let explained = weir_with(&["explain", pipeline.to_str().unwrap()], &env);
    let plan = text(&explained.stdout);
    assert!(explained.status.success(), "{}", text(&explained.stderr));
    assert!(plan.starts_with("pipeline ***\n"), "{plan}");
    assert!(plan.contains("temperature > 1"), "{plan}");
    assert_hidden(&plan, &secrets, "weir explain");

    let host = LiveHost::start_with_env(&pipeline, dir.path(), &[], &env);
    let readings: String = (0..40)
        .map(|i| {
            let temperature = if i % 2 == 0 { 1.5 } else { 0.5 };
            format!("{{\"sensor_id\":\"s{i}\",\"temperature\":{temperature},\"event_time\":{i}}}\n")
        })
        .collect();
    let ingest = format!("http://127.0.0.1:{port}/in/{INGEST_PATH}");
    let post = |secret: &str| {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match agent
                .post(&ingest)
                .header("x-weir-secret", secret)
                .send(&readings)
            {
                Ok(response) => return response.status().as_u16(),
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("the http source does not answer: {e}"),
            }
        }
    };
    assert_eq!(post("wrong"), 401);
    assert_eq!(post(INGEST_SECRET), 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.received().len() < 5 {
        assert!(Instant::now() < deadline, "the webhook was not called");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut answers = host.metrics();
    for path in ["/v1/status", "/v1/plugins", "/"] {
        answers += &host.get_text(path).1;
    }
    answers += &first_live_event(&host.addr);
    assert!(answers.contains("pipeline=\"***\""), "{answers}");
    assert_hidden(&answers, &secrets, "the admin API");
    let finished = host
        .terminate(Duration::from_secs(30))
        .expect("weir stops after SIGTERM");
    assert!(finished.success, "{}", finished.stderr);
    assert_hidden(&finished.stderr, &secrets, "the log and summary");
    let letters = std::fs::read_to_string(&dead).unwrap();
    assert_eq!(json_lines(&letters).len(), 18, "{letters}");
    assert_hidden(&letters, &secrets, "the dead letters");

    // Each value reached its use: the source's path and secret (above),
    // the token in the webhook's path (the endpoint answers nowhere
    // else), the header from the file `WEBHOOK_AUTH_FILE` names, and the
    // bare number in the filter.
    let received = receiver.received();
    assert_eq!(received.iter().filter(|r| r.status == 200).count(), 2);
    assert!(received
        .iter()
        .all(|r| r.authorization.as_deref() == Some(AUTH)));
    assert_eq!(
        json_lines(&std::fs::read_to_string(&results).unwrap()).len(),
        20
    );
}

#[test]
fn a_secret_in_a_sql_option_or_a_misplaced_one_is_not_shown() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ndjson");
    std::fs::write(
        &input,
        "{\"sensor_id\":\"s1\",\"temperature\":1.5,\"event_time\":\"2024-01-01 00:00:00.000\"}\n",
    )
    .unwrap();
    let script = dir.path().join("alerts.sql");
    std::fs::write(
        &script,
        format!(
            r#"
CREATE TABLE readings (sensor_id STRING, temperature DOUBLE, event_time TIMESTAMP(3),
  WATERMARK FOR event_time AS event_time - INTERVAL '1' SECOND)
WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');
-- Nothing listens on port 1: the connection fails.
CREATE TABLE alerts (sensor_id STRING, temperature DOUBLE)
WITH ('connector' = 'postgres',
      'url' = 'postgres://weir:${{PG_PASSWORD}}@127.0.0.1:1/db',
      'table-name' = '${{PG_TABLE}}');
INSERT INTO alerts SELECT sensor_id, temperature FROM readings;
"#,
            input.display()
        ),
    )
    .unwrap();
    let env = [
        ("PG_PASSWORD", PG_PASSWORD.to_string()),
        ("PG_TABLE", PG_TABLE.to_string()),
    ];
    let secrets = [PG_PASSWORD, PG_TABLE];
    let explained = weir_with(&["explain", script.to_str().unwrap()], &env);
    let plan = text(&explained.stdout);
    assert!(explained.status.success(), "{}", text(&explained.stderr));
    assert!(plan.contains("postgres table ***"), "{plan}");
    assert_hidden(&plan, &secrets, "weir explain");
    let run = weir_with(&["run", script.to_str().unwrap()], &env);
    let stderr = text(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("cannot connect to PostgreSQL"), "{stderr}");
    assert_hidden(&stderr, &secrets, "a failed connection's error");

    // A value in the wrong place: the parser's error quotes it, the
    // excerpt shows the reference instead.
    let pipeline = dir.path().join("typed.toml");
    let written = r#"batch_size = "${PG_TABLE}""#;
    std::fs::write(&pipeline, format!("name = \"p\"\n{written}\n")).unwrap();
    let refused = weir_with(&["validate", pipeline.to_str().unwrap()], &env);
    let error = text(&refused.stderr);
    assert!(!refused.status.success());
    assert!(error.contains("typed.toml:2:14"), "{error}");
    assert!(error.contains(written) && error.contains("***"), "{error}");
    assert_hidden(&error, &secrets, "a pipeline error");

    // A reference to a variable that is not set is named with its place.
    let refused = weir_with(&["validate", pipeline.to_str().unwrap()], &[]);
    let error = text(&refused.stderr);
    assert!(
        error.contains("typed.toml:2:15: the environment variable `PG_TABLE` is not set"),
        "{error}"
    );
}
