//! `weir bench aggregates`: what an aggregate plugin costs against a
//! host-native aggregate in the same window, on the same input in the same
//! run: per-sensor windows over generated readings, computing `max` natively
//! or a p95 with the `percentile` plugin. The host has no native p95, so
//! the two compute different statistics: the ratio is the plugin's p95
//! against the host's cheapest aggregate, not like for like.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::{median, run_to_null, scratch_dir, write_workload};
use crate::generate::{write_sensors, SensorWorkload};
use crate::plugin::PluginEngine;

#[derive(Debug, Clone, clap::Args)]
pub struct AggregateBenchOptions {
    /// Readings to generate and process (1,000 sensors, 1 ms apart).
    #[arg(long, default_value_t = 5_000_000)]
    pub events: u64,
    /// Runs of each variant; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Where the built plugins are.
    #[arg(long, default_value = "plugins/dist")]
    pub plugins: PathBuf,
}

pub struct AggregateReport {
    pub events: u64,
    /// (window, aggregate, events/s, results); native and plugin alternate.
    pub variants: Vec<(&'static str, &'static str, f64, u64)>,
}

impl fmt::Display for AggregateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "temperature per sensor: {} readings over 1000 sensors, NDJSON file → window → null sink",
            self.events
        )?;
        writeln!(
            f,
            "| window | aggregate | throughput | results | vs the host's max |"
        )?;
        writeln!(f, "|---|---|---|---|---|")?;
        for pair in self.variants.chunks(2) {
            let native = pair[0].2;
            for (window, aggregate, rate, results) in pair {
                writeln!(
                    f,
                    "| {window} | {aggregate} | {:.2} M events/s | {results} | {:.2} |",
                    rate / 1e6,
                    rate / native
                )?;
            }
        }
        write!(
            f,
            "(the host has no native p95: the plugin's p95 is set against the host's max, a cheaper statistic)"
        )
    }
}

pub fn run_aggregates(options: &AggregateBenchOptions) -> anyhow::Result<AggregateReport> {
    anyhow::ensure!(options.runs > 0, "--runs must be at least 1");
    let percentile = std::path::absolute(options.plugins.join("percentile.wasm"))?;
    anyhow::ensure!(
        percentile.exists(),
        "{} is missing: run scripts/build-plugins",
        percentile.display()
    );
    let dir = scratch_dir("aggregates")?;
    let data = dir.join("readings.ndjson");
    let workload = SensorWorkload {
        events: options.events,
        ..Default::default()
    };
    write_workload(&data, |out| write_sensors(&workload, out))?;
    let engine = Arc::new(PluginEngine::new()?);
    let stop = AtomicBool::new(false);
    let p95 = format!(
        r#"{{ plugin = "{}", field = "temperature", config = {{ quantile = 0.95 }} }}"#,
        percentile.display()
    );
    let tumbling = "kind = \"tumbling\"\nsize = \"10s\"";
    let sliding = "kind = \"sliding\"\nsize = \"60s\"\nslide = \"10s\"";
    let variants = [
        (
            "tumbling 10 s",
            tumbling,
            "max (host)",
            "\"max(temperature)\"".to_string(),
        ),
        ("tumbling 10 s", tumbling, "p95 (plugin)", p95.clone()),
        (
            "sliding 60 s every 10 s",
            sliding,
            "max (host)",
            "\"max(temperature)\"".to_string(),
        ),
        ("sliding 60 s every 10 s", sliding, "p95 (plugin)", p95),
    ];
    let mut rates = vec![Vec::new(); variants.len()];
    let mut results = vec![0; variants.len()];
    for run in 0..options.runs {
        for (i, (window, shape, aggregate, expression)) in variants.iter().enumerate() {
            let file = dir.join("pipeline.toml");
            std::fs::write(
                &file,
                format!(
                    r#"
name = "bench-aggregates"
source = {{ kind = "file", path = "{data}" }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "timestamp" }}
event_time = {{ field = "event_time", max_out_of_orderness = "5s" }}
sink = {{ kind = "console" }}

[[operators]]
type = "window"
{shape}
key_by = "sensor_id"
aggregates = {{ value = {expression} }}
"#,
                    data = data.display()
                ),
            )?;
            let label = format!("run {}: {window:<24} {aggregate:<13}", run + 1);
            let (rate, results_out) = run_to_null(&file, &engine, &stop, options.events, &label)?;
            rates[i].push(rate);
            results[i] = results_out;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(AggregateReport {
        events: options.events,
        variants: variants
            .iter()
            .zip(rates)
            .zip(results)
            .map(|(((window, _, aggregate, _), rates), results)| {
                (*window, *aggregate, median(rates), results)
            })
            .collect(),
    })
}
