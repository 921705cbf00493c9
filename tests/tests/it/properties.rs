//! Property: for any stream, its disorder mostly within the bound and
//! sometimes past it, any batch size and any parallelism, weir's alerts and
//! its count of late readings equal the reference model's exactly: the same
//! alerts, each sensor's in the same order.

use std::fs;
use std::sync::atomic::AtomicBool;

use proptest::prelude::*;
use weir::pipeline;
use weir::plugin::PluginEngine;
use weir_tests::*;

fn readings() -> impl Strategy<Value = Vec<Reading>> {
    // Few sensors and a narrow time range so windows fill up and alerts happen;
    // one reading in eight is delayed past the 5 s bound, so some are late.
    let delay = prop_oneof![7 => 0i64..=5_000, 1 => 5_001i64..=25_000];
    prop::collection::vec((0u8..4, 95.0f64..110.0, delay, 1i64..400), 1..600).prop_map(|raw| {
        let mut clock = 0;
        raw.into_iter()
            .map(|(sensor, temperature, delay, step)| {
                clock += step;
                Reading {
                    sensor_id: format!("s{sensor}"),
                    temperature,
                    event_time: clock - delay,
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn alerts_match_the_reference(
        readings in readings(),
        batch_size in prop_oneof![1usize..300, 300usize..=2048],
        parallelism in 1usize..=4,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (data, output, dead) = (dir.path().join("in.ndjson"), dir.path().join("out.ndjson"), dir.path().join("dead.ndjson"));
        fs::write(&data, readings.iter().map(|r| r.to_json() + "\n").collect::<String>()).unwrap();
        let file = dir.path().join("p.toml");
        fs::write(&file, sensor_pipeline(&data, &output, &dead)).unwrap();

        let engine = PluginEngine::new().unwrap();
        let mut pipeline = pipeline::load(&file, &engine).unwrap();
        pipeline.batch_size = batch_size;
        pipeline.parallelism = parallelism;
        let summary = pipeline::run(pipeline, &AtomicBool::new(false)).unwrap();

        let (expected, late) = reference_alerts(&readings, 5_000, 100.0, 5);
        let got = parse_alerts(&fs::read_to_string(&output).unwrap());
        prop_assert_eq!(per_sensor(&got), per_sensor(&expected));
        prop_assert_eq!(summary.parallelism, parallelism);
        prop_assert_eq!(summary.late_events as usize, late);
        prop_assert_eq!(summary.events_in as usize, readings.len());
    }
}

/// Each sensor's alerts in their order: what must not change with the
/// parallelism (alerts of different sensors may interleave differently).
fn per_sensor(alerts: &[Alert]) -> std::collections::BTreeMap<String, Vec<Alert>> {
    let mut by_sensor = std::collections::BTreeMap::<String, Vec<Alert>>::new();
    for alert in alerts {
        by_sensor
            .entry(alert.0.clone())
            .or_default()
            .push(alert.clone());
    }
    by_sensor
}

/// The strategy above does produce late readings: without them the late
/// count would compare 0 with 0.
#[test]
fn the_generated_streams_hold_late_readings() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let with_late = (0..40)
        .filter(|_| {
            let readings = readings().new_tree(&mut runner).unwrap().current();
            reference_alerts(&readings, 5_000, 100.0, 5).1 > 0
        })
        .count();
    assert!(
        with_late >= 20,
        "only {with_late} of 40 streams have a late reading"
    );
}
