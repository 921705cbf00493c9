//! Checkpoints in an S3-compatible object store (s3s-fs on loopback), where
//! every member of a group and a replacement machine can reach them: a run
//! killed again and again resumes from the store and ends with the output
//! of an uninterrupted run; a wrong key or an unreachable store stops the
//! run with a message that names the store and shows no credential.

use std::path::Path;
use std::time::{Duration, Instant};

use weir_tests::object_store::{S3Server, ACCESS_KEY, SECRET_KEY};
use weir_tests::{sensor_pipeline, text, weir};

use crate::checkpoints::{generate_readings, killed_and_resumed_into, CheckpointsAt};

#[test]
fn checkpoints_in_s3_survive_sigkill_exactly_once() {
    let server = S3Server::start();
    let objects = server.bucket("weir-checkpoints").join("sensors/run-1");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    generate_readings(&input, 4_000_000);
    let at = CheckpointsAt {
        table: server.checkpoint_table("weir-checkpoints", "sensors/run-1"),
        files: objects.clone(),
    };
    killed_and_resumed_into(
        dir.path(),
        &|output, dead| sensor_pipeline(&input, output, dead),
        &[1],
        &at,
    );
    let kept = std::fs::read_dir(&objects)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".bin"))
        .count();
    assert_eq!(
        kept, 3,
        "the newest three checkpoints are kept in the store"
    );
    assert!(
        !dir.path().join(".weir").exists(),
        "nothing went to the default local directory"
    );
}

/// A pipeline over a small file with checkpoints at `table`.
fn small_pipeline(dir: &Path, table: &str) -> std::path::PathBuf {
    let input = dir.join("readings.ndjson");
    generate_readings(&input, 1_000);
    let pipeline = dir.join("pipeline.toml");
    let text = format!(
        "{}\n[checkpoint]\n{table}",
        sensor_pipeline(&input, &dir.join("out.jsonl"), &dir.join("dead.jsonl"))
    );
    std::fs::write(&pipeline, text).unwrap();
    pipeline
}

#[test]
fn a_wrong_secret_stops_the_run_naming_the_store_not_the_secret() {
    let server = S3Server::start();
    server.bucket("weir-checkpoints");
    let dir = tempfile::tempdir().unwrap();
    let wrong = "not-the-secret-9876543210";
    let table = server
        .checkpoint_table("weir-checkpoints", "p")
        .replace(SECRET_KEY, wrong);
    let pipeline = small_pipeline(dir.path(), &table);
    let started = Instant::now();
    let out = weir(&["run", pipeline.to_str().unwrap()], b"");
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60), "{stderr}");
    assert!(
        stderr.contains("checkpoint storage s3://weir-checkpoints/p"),
        "{stderr}"
    );
    let explained = weir(&["explain", pipeline.to_str().unwrap()], b"");
    assert!(
        text(&explained.stdout)
            .contains("checkpoints: every 10s to s3://weir-checkpoints/p (newest 3 kept)"),
        "{}",
        text(&explained.stdout)
    );
    for shown in [&stderr, &text(&explained.stdout), &text(&explained.stderr)] {
        assert!(!shown.contains(wrong), "the secret was shown: {shown}");
        assert!(!shown.contains(ACCESS_KEY), "the key id was shown: {shown}");
    }
    assert!(
        !dir.path().join("out.jsonl").exists() || {
            std::fs::read_to_string(dir.path().join("out.jsonl"))
                .unwrap()
                .is_empty()
        }
    );
}

#[test]
fn an_unreachable_store_stops_the_run_within_its_timeouts() {
    let port = weir_tests::live::free_port();
    let dir = tempfile::tempdir().unwrap();
    let table = format!(
        "dir = \"s3://b/p\"\nstorage = {{ aws_endpoint = \"http://127.0.0.1:{port}\", aws_access_key_id = \"k\", aws_secret_access_key = \"s\" }}\n"
    );
    let pipeline = small_pipeline(dir.path(), &table);
    let started = Instant::now();
    let out = weir(&["run", pipeline.to_str().unwrap()], b"");
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("checkpoint storage s3://b/p"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn an_unknown_storage_setting_is_named_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let table = "dir = \"s3://b/p\"\nstorage = { aws_endpoitn = \"http://127.0.0.1:1\" }\n";
    let pipeline = small_pipeline(dir.path(), table);
    let out = weir(&["run", pipeline.to_str().unwrap()], b"");
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("aws_endpoitn"), "{stderr}");
    assert!(stderr.contains("pipeline.toml:"), "{stderr}");
    // Storage settings without an object store `dir` are a mistake too.
    let table = "dir = \"local\"\nstorage = { aws_region = \"eu-west-1\" }\n";
    let pipeline = small_pipeline(dir.path(), table);
    let out = weir(&["run", pipeline.to_str().unwrap()], b"");
    assert!(
        text(&out.stderr).contains("object store"),
        "{}",
        text(&out.stderr)
    );
}

/// Flink's S3 keys in a script put its checkpoints in the store, and a
/// second run resumes from them.
#[test]
fn a_script_checkpoints_to_s3_with_flinks_keys_and_resumes() {
    let server = S3Server::start();
    let objects = server.bucket("flink-style").join("heat");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, weir_tests::generated(20_000, 3, 0.0)).unwrap();
    let script = dir.path().join("resumable.sql");
    std::fs::write(
        &script,
        format!(
            "SET 'execution.checkpointing.interval' = '1h';
             SET 'state.checkpoints.dir' = 's3://flink-style/heat';
             SET 's3.endpoint' = '{}';
             SET 's3.access-key' = '{ACCESS_KEY}';
             SET 's3.secret-key' = '{SECRET_KEY}';
             SET 's3.path.style.access' = 'true';
             CREATE TABLE r (sensor_id STRING, temperature DOUBLE, event_time BIGINT,
               WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND)
             WITH ('connector' = 'filesystem', 'path' = '{}');
             SELECT sensor_id FROM r WHERE temperature > 119",
            server.endpoint(),
            input.display()
        ),
    )
    .unwrap();
    let first = weir(&["run", script.to_str().unwrap()], b"");
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(!text(&first.stdout).is_empty());
    let stored = std::fs::read_dir(&objects).map_or(0, |d| d.count());
    assert_eq!(stored, 1, "the end-of-input checkpoint is in the store");
    let second = weir(&["run", script.to_str().unwrap()], b"");
    let stderr = text(&second.stderr);
    assert!(second.status.success(), "{stderr}");
    assert!(stderr.contains("resumed from checkpoint"), "{stderr}");
    assert!(!stderr.contains(SECRET_KEY), "{stderr}");
    assert_eq!(
        text(&second.stdout),
        "",
        "all was read before the checkpoint"
    );
}
