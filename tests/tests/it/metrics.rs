//! `GET /metrics` of a running host: Prometheus text whose counters agree
//! with what the run reports.

use std::time::{Duration, Instant};

use weir_tests::live::LiveHost;
use weir_tests::{generated, plugin, seed_query, summary_count};

/// The value of the sample `name{labels…}` whose labels include `has`.
fn sample(metrics: &str, name: &str, has: &str) -> Option<u64> {
    sample_f64(metrics, name, has)
        .filter(|v| v.fract() == 0.0)
        .map(|v| v as u64)
}

fn sample_f64(metrics: &str, name: &str, has: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(has))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

/// The seed query on standard input, written to `dir/p.toml`: results to
/// `dir/out.jsonl`, dead letters to `dir/dead.jsonl`.
fn seed_query_on_stdin(dir: &std::path::Path) -> std::path::PathBuf {
    let pipeline = dir.join("p.toml");
    let filter = plugin("over_threshold.wasm");
    let text = seed_query(
        r#"{ kind = "stdin" }"#,
        filter.as_ref(),
        &dir.join("out.jsonl"),
        Some(&dir.join("dead.jsonl")),
    );
    std::fs::write(&pipeline, text).unwrap();
    pipeline
}

#[test]
fn metrics_count_what_the_pipeline_did() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = seed_query_on_stdin(dir.path());
    let filter = plugin("over_threshold.wasm");
    let mut host = LiveHost::start(&pipeline, dir.path(), &["--trial-batches", "0"]);
    let events = 20_000;
    let input = generated(events, 9, 0.02);
    host.send(input.as_bytes());

    // Bounded out-of-orderness: the largest event time less the 5 s bound,
    // less 1 ms; stored after the batch's rows are counted, so waited for too.
    let newest = weir_tests::parse_readings(&input)
        .iter()
        .map(|r| r.event_time)
        .max()
        .unwrap();
    let watermark = Some((newest - 5_001) as u64);
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let metrics = host.metrics();
        if sample(&metrics, "weir_stage_rows_in_total", r#"stage="hot""#) == Some(events)
            && sample(&metrics, "weir_watermark_timestamp_milliseconds", "") == watermark
        {
            break metrics;
        }
        assert!(
            Instant::now() < deadline,
            "not all events counted:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(metrics.ends_with("# EOF\n"), "OpenMetrics text");
    assert_eq!(sample(&metrics, "weir_pipeline_running", ""), Some(1));
    assert_eq!(
        sample(
            &metrics,
            "weir_plugin_info",
            r#"stage="hot",plugin="over-threshold""#
        ),
        Some(1)
    );
    let passed = sample(&metrics, "weir_stage_rows_out_total", r#"stage="hot""#).unwrap();
    let windowed = sample(&metrics, "weir_stage_rows_in_total", r#"stage="window-2""#).unwrap();
    assert_eq!(
        passed, windowed,
        "what the filter passes, the window receives"
    );
    let late = sample(&metrics, "weir_dead_letters_total", r#"kind="late""#).unwrap();
    assert!(late > 0, "2% of the readings are late:\n{metrics}");
    let first = r#"stage="window-2",result="first""#;
    let fired = sample(&metrics, "weir_window_results_total", first).unwrap();
    assert!(fired > 0, "windows fired:\n{metrics}");
    let update = r#"stage="window-2",result="update""#;
    assert_eq!(
        sample(&metrics, "weir_window_results_total", update),
        Some(0)
    );
    assert!(sample(&metrics, "weir_watermark_lag_milliseconds", "").unwrap() > 0);
    for queue in ["decode", "operators", "sink"] {
        let fill: f64 = metrics
            .lines()
            .find(|l| {
                l.starts_with("weir_queue_fill_ratio{") && l.contains(&format!("queue=\"{queue}\""))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no fill ratio of the {queue} queue:\n{metrics}"));
        assert!((0.0..=1.0).contains(&fill), "{queue}: {fill}");
    }
    // Histograms: every row into a stage is in one observed batch, and
    // every batch has a time and a size.
    let hot = r#"stage="hot""#;
    assert_eq!(
        sample(&metrics, "weir_stage_batch_rows_sum", hot),
        Some(events)
    );
    let batches = sample(&metrics, "weir_stage_batch_rows_count", hot).unwrap();
    assert!(batches > 0 && batches <= events);
    assert_eq!(
        sample(&metrics, "weir_stage_batch_duration_seconds_count", hot),
        Some(batches)
    );
    let all = metrics
        .lines()
        .find(|l| {
            l.starts_with(r#"weir_stage_batch_duration_seconds_bucket{le="+Inf""#)
                && l.contains(hot)
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok());
    assert_eq!(all, Some(batches), "the +Inf bucket holds every batch");
    let busy = sample_f64(&metrics, "weir_stage_busy_seconds_total", hot).unwrap();
    let in_batches = sample_f64(&metrics, "weir_stage_batch_duration_seconds_sum", hot).unwrap();
    assert!(
        busy >= in_batches && in_batches > 0.0,
        "{busy} vs {in_batches}"
    );
    assert!(sample(&metrics, "weir_decoders", "").unwrap() >= 1);
    assert!(sample_f64(&metrics, "weir_decode_busy_seconds_total", "").unwrap() > 0.0);
    let alerts = sample(&metrics, "weir_stage_rows_out_total", r#"stage="alert""#)
        .unwrap_or_else(|| panic!("no rows-out count for the alert stage:\n{metrics}"));
    assert_eq!(
        sample(&metrics, "weir_sink_results_total", ""),
        Some(alerts)
    );
    let open = sample(&metrics, "weir_window_open", r#"stage="window-2""#).unwrap();
    assert!(
        open > 0,
        "the input is still open, so are its last windows:\n{metrics}"
    );

    let (status, _) = host.swap(
        "hot",
        filter.as_ref(),
        Some(serde_json::json!({ "threshold": 110 })),
    );
    assert_eq!(status, 200);
    let metrics = host.metrics();
    assert_eq!(
        sample(
            &metrics,
            "weir_plugin_changes_total",
            r#"action="swap",outcome="applied""#
        ),
        Some(1),
        "{metrics}"
    );

    let finished = host.finish();
    assert!(finished.success, "{}", finished.stderr);
    assert_eq!(summary_count(&finished.stderr, "events in"), events);
    assert!(
        finished.stderr.contains(&format!("late {late},")),
        "the summary agrees on late events ({late}):\n{}",
        finished.stderr
    );
}

/// The first message of `GET /v1/live`: the history so far.
fn first_live_update(addr: &str) -> serde_json::Value {
    use std::io::BufRead;
    let response = ureq::get(&format!("http://{addr}/v1/live"))
        .call()
        .expect("the live feed");
    let mut lines = std::io::BufReader::new(response.into_body().into_reader()).lines();
    let event = lines.next().unwrap().unwrap();
    assert_eq!(event, "event: update");
    let data = lines.next().unwrap().unwrap();
    serde_json::from_str(data.strip_prefix("data: ").expect("a data line")).unwrap()
}

/// A metric that names its part once the live sampler has judged it.
fn bottleneck(metrics: &str) -> Option<String> {
    let line = metrics
        .lines()
        .find(|l| l.starts_with("weir_bottleneck_info{"))?;
    let part = line.split("part=\"").nth(1)?;
    Some(part.split('"').next()?.to_string())
}

#[test]
fn a_slow_plugin_is_named_the_bottleneck_and_state_and_checkpoints_are_measured() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("slow.toml");
    // Far more than the run gets through before it is stopped.
    let input = dir.path().join("readings.ndjson");
    std::fs::write(&input, generated(200_000, 3, 0.0)).unwrap();
    // `slow` spins per row, so the operator thread is saturated and the
    // queue in front of it fills; `heat` after it keeps state per sensor.
    std::fs::write(
        &pipeline,
        format!(
            r#"
name = "slow"
source = {{ kind = "file", path = "{input}" }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "timestamp" }}
event_time = {{ field = "event_time", max_out_of_orderness = "5s" }}
sink = {{ kind = "file", path = "{output}" }}
checkpoint = {{ interval = "500ms" }}

[[operators]]
type = "plugin"
name = "slow"
path = "{hostile}"
config = {{ mode = "slow", spin = 200000 }}
batch_deadline = "60s"

[[operators]]
type = "plugin"
name = "heat"
path = "{heat}"
key_by = "sensor_id"
config = {{ threshold = 60.0, duration_ms = 3600000 }}
"#,
            input = input.display(),
            output = dir.path().join("out.ndjson").display(),
            heat = plugin("sustained_heat.wasm"),
            hostile = plugin("hostile.wasm"),
        ),
    )
    .unwrap();
    let host = LiveHost::start(&pipeline, dir.path(), &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let metrics = loop {
        let metrics = host.metrics();
        let checkpointed = sample(&metrics, "weir_checkpoints_total", "").is_some_and(|n| n > 0);
        if bottleneck(&metrics).as_deref() == Some("slow") && checkpointed {
            break metrics;
        }
        assert!(Instant::now() < deadline, "no bottleneck named:\n{metrics}");
        std::thread::sleep(Duration::from_millis(200));
    };
    // The live page's feed says why, in words.
    let update = first_live_update(&host.addr);
    let latest = update["samples"].as_array().unwrap().last().unwrap();
    assert_eq!(latest["bottleneck"]["part"], "slow");
    let reason = latest["bottleneck"]["reason"].as_str().unwrap();
    assert!(reason.contains("stage `slow` took"), "{reason}");

    // Every reading is above 60 °F, so each sensor seen has state: the
    // gauge counts distinct sensors among the rows `heat` has taken.
    let heat = r#"stage="heat""#;
    let keys = sample(&metrics, "weir_keyed_state_keys", heat).unwrap();
    let bytes = sample(&metrics, "weir_keyed_state_bytes", heat).unwrap();
    assert!((1..=1000).contains(&keys), "{keys} keys of 1000 sensors");
    assert!(bytes >= keys * "sensor-0001".len() as u64, "{bytes} bytes");
    assert!(sample(&metrics, "weir_keyed_state_timers", heat).is_some());
    assert!(
        sample(&metrics, "weir_keyed_state_keys", r#"stage="slow""#).is_none(),
        "only keyed stages have state gauges"
    );
    // Checkpoints of the keyed state, every 500 ms while the run goes on.
    let last_id = sample(&metrics, "weir_checkpoint_last_id", "").unwrap();
    assert!(last_id >= 1);
    assert!(sample(&metrics, "weir_checkpoint_last_bytes", "").unwrap() > 0);
    assert!(sample(&metrics, "weir_checkpoint_last_write_microseconds", "").unwrap() > 0);
    drop(host);
}

/// A page left open must not keep the host alive: when the input ends, the
/// live feed sends the final state and ends, and the process exits.
#[test]
fn an_open_live_feed_ends_with_the_run_and_does_not_hold_the_host() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let pipeline = seed_query_on_stdin(dir.path());
    let mut host = LiveHost::start(&pipeline, dir.path(), &[]);
    host.send(generated(5_000, 4, 0.0).as_bytes());
    let feed = ureq::get(&format!("http://{}/v1/live", host.addr))
        .call()
        .expect("the live feed");
    let reader = std::thread::spawn(move || {
        let lines = std::io::BufReader::new(feed.into_body().into_reader()).lines();
        // Every update's state, until the server ends the stream.
        lines
            .map_while(Result::ok)
            .filter_map(|l| {
                let update: serde_json::Value =
                    serde_json::from_str(l.strip_prefix("data: ")?).ok()?;
                Some(update["state"].as_str()?.to_string())
            })
            .collect::<Vec<_>>()
    });
    std::thread::sleep(Duration::from_millis(1500));
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(host.finish());
    });
    let finished = finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the host did not exit while a live feed was open");
    assert!(finished.success, "{}", finished.stderr);
    let states = reader.join().unwrap();
    assert_eq!(
        states.first().map(String::as_str),
        Some("running"),
        "{states:?}"
    );
    assert_eq!(
        states.last().map(String::as_str),
        Some("finished"),
        "{states:?}"
    );
}

/// The status line of a raw HTTP/1.1 request to `addr` with `headers`
/// (each `Name: value`), as a browser under an attacker's page would send it.
fn raw_status(addr: &str, method: &str, path: &str, headers: &[String]) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: 0\r\n");
    for header in headers {
        request += &format!("{header}\r\n");
    }
    request += "\r\n";
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

/// DNS rebinding and cross-site requests: a page on another site, its name
/// re-resolved to 127.0.0.1, must not read the admin API or change the
/// pipeline; the address itself, localhost and named hosts still work.
#[test]
fn the_admin_api_refuses_rebound_names_and_other_origins() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = seed_query_on_stdin(dir.path());
    let host = LiveHost::start(&pipeline, dir.path(), &["--admin-host", "weir.internal"]);
    let port = host.addr.rsplit(':').next().unwrap().to_string();
    let get = |path: &str, headers: &[String]| raw_status(&host.addr, "GET", path, headers);
    for path in ["/metrics", "/v1/status", "/v1/live", "/"] {
        let rebound = get(path, &[format!("Host: evil.example:{port}")]);
        assert_eq!(rebound, 403, "{path} answered a rebound name");
        let cross = get(
            path,
            &[
                format!("Host: 127.0.0.1:{port}"),
                "Origin: http://evil.example".into(),
            ],
        );
        assert_eq!(cross, 403, "{path} answered another origin");
    }
    for allowed in [
        format!("Host: 127.0.0.1:{port}"),
        format!("Host: localhost:{port}"),
        format!("Host: weir.internal:{port}"),
    ] {
        assert_eq!(
            get("/v1/status", std::slice::from_ref(&allowed)),
            200,
            "{allowed}"
        );
    }
    let same_origin = get(
        "/v1/status",
        &[
            format!("Host: 127.0.0.1:{port}"),
            format!("Origin: http://127.0.0.1:{port}"),
        ],
    );
    assert_eq!(same_origin, 200);
    // A change with the right token, but from another site's page.
    let change = raw_status(
        &host.addr,
        "DELETE",
        "/v1/plugins/hot",
        &[
            format!("Host: 127.0.0.1:{port}"),
            "Origin: https://evil.example".into(),
            format!("Authorization: Bearer {}", host.token),
        ],
    );
    assert_eq!(change, 403);
    assert_eq!(host.get("/v1/plugins").0, 200);
}
