//! The HTTP source through `weir run`: events POSTed as objects, arrays and
//! NDJSON reach the sink once each; a secret, a body limit and bad bodies
//! are answered with the right status; and a pipeline that falls behind
//! answers 429 with Retry-After instead of buffering, losing nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use weir_tests::kafka::{start_weir_with, terminate, Weir};
use weir_tests::live::free_port;
use weir_tests::receiver::Receiver;
use weir_tests::{json_lines, plugin, summary_count};

fn http_pipeline(dir: &Path, port: u16, sink: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
name = "http-in"
[source]
kind = "http"
listen = "127.0.0.1:{port}"
path = "/readings"
secret = "s3cret"
max_body_bytes = 65536
[schema]
sensor_id = "string"
temperature = "f64"
event_time = "timestamp"
[event_time]
field = "event_time"
max_out_of_orderness = "5s"
[[operators]]
type = "plugin"
path = "{filter}"
config = {{ threshold = -1000.0 }}
[sink]
{sink}
[dead_letter]
path = "{dead}"
"#,
        filter = plugin("over_threshold.wasm"),
        dead = dir.join("dead.jsonl").display(),
    );
    let pipeline = dir.join("http.toml");
    std::fs::write(&pipeline, text).unwrap();
    pipeline
}

fn start(pipeline: &Path, stderr: &Path, port: u16) -> Weir {
    let weir = start_weir_with(pipeline, stderr, &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the http source never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    weir
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// POSTs `body`; answers (status, JSON body, Retry-After).
fn post(
    agent: &ureq::Agent,
    url: &str,
    body: &str,
    secret: Option<&str>,
) -> (u16, Value, Option<String>) {
    let mut request = agent.post(url);
    if let Some(secret) = secret {
        request = request.header("x-weir-secret", secret);
    }
    let mut response = request.send(body).unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        retry_after,
    )
}

/// POSTs `body` until it is taken, waiting as each 429 asks; returns the 429s seen.
fn post_until_taken(agent: &ureq::Agent, url: &str, body: &str) -> usize {
    post_counting_refusals(agent, url, body, &std::sync::atomic::AtomicUsize::new(0))
}

/// As [`post_until_taken`], adding each 429 to `refusals` as it comes.
fn post_counting_refusals(
    agent: &ureq::Agent,
    url: &str,
    body: &str,
    refusals: &std::sync::atomic::AtomicUsize,
) -> usize {
    let mut refused = 0;
    loop {
        let (status, answer, retry_after) = post(agent, url, body, Some("s3cret"));
        match status {
            200 => return refused,
            429 => {
                refused += 1;
                refusals.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let seconds: u64 = retry_after
                    .expect("429 says when to retry")
                    .parse()
                    .unwrap();
                std::thread::sleep(Duration::from_secs(seconds));
            }
            other => panic!("HTTP {other}: {answer}"),
        }
    }
}

fn reading(i: usize) -> Value {
    json!({
        "sensor_id": format!("sensor-{}", i % 7),
        "temperature": i as f64 / 10.0,
        "event_time": 1_700_000_000_000i64 + i as i64,
    })
}

#[test]
fn events_posted_as_objects_arrays_and_ndjson_reach_the_sink_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let output = dir.path().join("out.jsonl");
    let sink = format!("kind = \"file\"\npath = \"{}\"", output.display());
    let pipeline = http_pipeline(dir.path(), port, &sink);
    let stderr = dir.path().join("stderr.log");
    let weir = start(&pipeline, &stderr, port);
    let url = format!("http://127.0.0.1:{port}/readings");
    let agent = agent();

    let mut sent = Vec::new();
    for request in 0..90 {
        let readings: Vec<Value> = (0..10).map(|i| reading(request * 10 + i)).collect();
        let body = match request % 3 {
            0 => Value::Array(readings.clone()).to_string(),
            1 => readings.iter().map(|r| format!("{r}\n")).collect(),
            _ => {
                for r in &readings[..1] {
                    post_until_taken(&agent, &url, &r.to_string());
                }
                sent.push(readings[0].clone());
                continue;
            }
        };
        post_until_taken(&agent, &url, &body);
        sent.extend(readings);
    }

    let (status, answer, _) = post(&agent, &url, &reading(0).to_string(), None);
    assert_eq!(status, 401, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("x-weir-secret"));
    // Just over the limit: the server answers 413 without reading the body,
    // and a body much larger than the socket buffers would meet a closed
    // connection (a broken pipe) before the client reads the answer.
    let one = reading(0).to_string();
    let big = format!("[{}]", vec![one.as_str(); 65536 / one.len() + 20].join(","));
    assert!(big.len() > 65536 && big.len() < 70_000);
    let (status, _, _) = post(&agent, &url, &big, Some("s3cret"));
    assert_eq!(status, 413, "over max_body_bytes");
    let (status, answer, _) = post(
        &agent,
        &url,
        &format!("{}\n{{\"sensor_id\": \"x\"", reading(1)),
        Some("s3cret"),
    );
    assert_eq!(status, 400);
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("line 2 of the body is not JSON")
            && error.contains("nothing of the body was taken"),
        "{error}"
    );

    let log = terminate(weir, &stderr);
    let mut got = json_lines(&std::fs::read_to_string(&output).unwrap());
    let key = |v: &Value| v["event_time"].as_str().unwrap_or_default().to_string();
    got.sort_by_key(key);
    assert_eq!(got.len(), sent.len(), "{log}");
    for (got, sent) in got.iter().zip(&sent) {
        assert_eq!(got["sensor_id"], sent["sensor_id"]);
        assert_eq!(got["temperature"], sent["temperature"]);
    }
    let dead = json_lines(&std::fs::read_to_string(dir.path().join("dead.jsonl")).unwrap());
    assert_eq!(dead.len(), 1, "only the record that is not JSON: {dead:?}");
    assert_eq!(dead[0]["kind"], "decode");
    assert!(dead[0]["source"].as_str().unwrap().starts_with("http:"));
    assert_eq!(
        summary_count(&log, "records read"),
        sent.len() as u64 + 1,
        "{log}"
    );
}

#[test]
fn a_pipeline_that_falls_behind_answers_429_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // The sink holds every answer until a poster has been refused (at most
    // 60 s): the pipeline falls behind by construction, not because a slow
    // endpoint happened to be slower than the posters on this machine.
    let refusals = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = refusals.clone();
    let receiver = Receiver::start(move |_, _| {
        let held = Instant::now();
        while seen.load(std::sync::atomic::Ordering::SeqCst) == 0
            && held.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        (200, None)
    });
    let port = free_port();
    let sink = format!("kind = \"webhook\"\nurl = \"{}\"", receiver.url);
    let pipeline = http_pipeline(dir.path(), port, &sink);
    let stderr = dir.path().join("stderr.log");
    let weir = start(&pipeline, &stderr, port);
    let url = format!("http://127.0.0.1:{port}/readings");

    let refused: usize = std::thread::scope(|scope| {
        let posters: Vec<_> = (0..4)
            .map(|poster| {
                let (url, refusals) = (&url, &refusals);
                scope.spawn(move || {
                    let agent = agent();
                    (0..50)
                        .map(|request| {
                            let first = (poster * 50 + request) * 10;
                            let body: Vec<Value> = (first..first + 10).map(reading).collect();
                            let body = Value::Array(body).to_string();
                            post_counting_refusals(&agent, url, &body, refusals)
                        })
                        .sum::<usize>()
                })
            })
            .collect();
        posters.into_iter().map(|p| p.join().unwrap()).sum()
    });
    assert!(refused > 0, "the pipeline never fell behind: no 429");
    terminate(weir, &stderr);

    let expected: Vec<i64> = (0..2000).map(|i| 1_700_000_000_000 + i).collect();
    assert_eq!(
        receiver.event_times(),
        expected,
        "every event once, after {refused} refusals"
    );
}
