//! The seed's sensor workload: readings (sensor_id, temperature, event_time)
//! about 1 ms apart from many sensors, in bounded disorder.

use std::io::{self, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Pacer, TimeFormat, START_MS};
use crate::format::timestamp;

/// Sensor readings: sensor_id, temperature (60–120 °F), event_time.
#[derive(Debug, Clone, clap::Args)]
pub struct SensorWorkload {
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, default_value_t = 1_000)]
    pub sensors: u32,
    /// Event time of the first reading, epoch millis.
    #[arg(skip = START_MS)]
    pub start_ms: i64,
    /// Largest delay of an on-time reading behind its natural order, in ms.
    #[arg(long, default_value_t = 4_000)]
    pub max_disorder_ms: i64,
    /// Fraction of readings delayed far past the disorder bound (late data).
    #[arg(long, default_value_t = 0.0)]
    pub late_ratio: f64,
    /// How event_time is written.
    #[arg(long, value_enum, default_value_t = TimeFormat::Guide)]
    pub time_format: TimeFormat,
    /// Readings per second of wall-clock time, for a live stream (default:
    /// as fast as the output takes them).
    #[arg(long)]
    pub rate: Option<u64>,
    /// Start event times at the host clock instead of 2026-01-15, so that a
    /// paced stream (`--rate`) looks live: watermarks near now, windows
    /// closing as the wall clock passes them.
    #[arg(long)]
    pub now: bool,
}

impl Default for SensorWorkload {
    fn default() -> Self {
        Self {
            events: 1_000_000,
            seed: 42,
            sensors: 1_000,
            start_ms: START_MS,
            max_disorder_ms: 4_000,
            late_ratio: 0.0,
            time_format: TimeFormat::Guide,
            rate: None,
            now: false,
        }
    }
}

/// Writes the workload as NDJSON. The same settings always give the same bytes.
pub fn write_sensors(workload: &SensorWorkload, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(workload.seed);
    let sensors = workload.sensors.max(1);
    let pacer = Pacer::new(workload.rate);
    let start_ms = match workload.now {
        true => timestamp::now_ms(),
        false => workload.start_ms,
    };
    for i in 0..workload.events {
        pacer.wait_for(i, out)?;
        let natural = start_ms + pacer.offset_ms(i);
        let delay = if workload.late_ratio > 0.0 && rng.random_bool(workload.late_ratio.min(1.0)) {
            rng.random_range(workload.max_disorder_ms + 2_000..=workload.max_disorder_ms + 15_000)
        } else if workload.max_disorder_ms > 0 {
            rng.random_range(0..=workload.max_disorder_ms)
        } else {
            0
        };
        let sensor = rng.random_range(1..=sensors);
        // Hundredths of a degree between 60.00 and 120.00: a third are above 100.
        let centi = rng.random_range(6_000..=12_000);
        let event_time = natural - delay;
        write!(
            out,
            r#"{{"sensor_id":"sensor-{sensor:04}","temperature":{}.{:02},"event_time":"#,
            centi / 100,
            centi % 100
        )?;
        workload.time_format.write(out, event_time)?;
        writeln!(out, "}}")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(workload: &SensorWorkload) -> String {
        let mut out = Vec::new();
        write_sensors(workload, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn is_deterministic_and_seed_dependent() {
        let w = SensorWorkload {
            events: 200,
            ..Default::default()
        };
        assert_eq!(generate(&w), generate(&w));
        assert_ne!(
            generate(&w),
            generate(&SensorWorkload {
                seed: 7,
                ..w.clone()
            })
        );
    }

    #[test]
    fn stays_within_the_disorder_bound_and_the_temperature_range() {
        let w = SensorWorkload {
            events: 5_000,
            ..Default::default()
        };
        let mut max_seen = i64::MIN;
        let mut hot = 0;
        for line in generate(&w).lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let t = timestamp::parse(v["event_time"].as_str().unwrap()).unwrap();
            let temperature = v["temperature"].as_f64().unwrap();
            assert!((60.0..=120.0).contains(&temperature));
            hot += (temperature > 100.0) as u32;
            assert!(
                t >= max_seen.saturating_sub(w.max_disorder_ms),
                "{t} is more than the bound behind {max_seen}"
            );
            max_seen = max_seen.max(t);
        }
        assert!(
            (1_400..2_000).contains(&hot),
            "about a third are hot: {hot}"
        );
    }

    /// The formats differ in text only: each reading is the same instant.
    #[test]
    fn every_time_format_writes_the_same_instants() {
        let instants = |time_format| -> Vec<i64> {
            let w = SensorWorkload {
                events: 500,
                time_format,
                ..Default::default()
            };
            generate(&w)
                .lines()
                .map(|line| {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    match &v["event_time"] {
                        serde_json::Value::String(s) => timestamp::parse(s).unwrap(),
                        n => n.as_i64().unwrap(),
                    }
                })
                .collect()
        };
        let epoch = instants(TimeFormat::EpochMs);
        assert_eq!(instants(TimeFormat::Guide), epoch);
        assert_eq!(instants(TimeFormat::Rfc3339), epoch);
    }
}
