//! `weir bench parallel`: the keyed `sustained-heat` pipeline (a keyed
//! plugin over many sensors) and the seed query, each at parallelism 1 and
//! 2, alternating in the same run. The speed-up is bounded by the cores
//! left over from reading, decoding and the sink, which run at any
//! parallelism.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use super::{median, run_to_null_at, scratch_dir, seed_query_operators, write_workload};
use crate::generate::{write_sensors, SensorWorkload};
use crate::plugin::PluginEngine;

#[derive(Debug, Clone, clap::Args)]
pub struct ParallelBenchOptions {
    /// Readings to generate and process.
    #[arg(long, default_value_t = 5_000_000)]
    pub events: u64,
    /// Sensors of the keyed pipeline's input (the seed query's has 1,000,
    /// as in `weir bench`, so that its windows fill and alerts fire).
    #[arg(long, default_value_t = 100_000)]
    pub sensors: u32,
    /// The parallelism measured against 1.
    #[arg(long, default_value_t = 2)]
    pub parallelism: usize,
    /// Runs of each variant; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Where the built plugins are.
    #[arg(long, default_value = "plugins/dist")]
    pub plugins: PathBuf,
}

pub struct ParallelReport {
    pub events: u64,
    pub sensors: u32,
    pub parallelism: usize,
    /// (pipeline, events/s at 1, events/s at N, results)
    pub pipelines: Vec<(&'static str, f64, f64, u64)>,
}

impl fmt::Display for ParallelReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "parallelism 1 against {}: {} readings ({} sensors for the keyed pipeline, 1000 for the seed query), NDJSON file → operators → null sink",
            self.parallelism, self.events, self.sensors
        )?;
        writeln!(
            f,
            "| pipeline | parallelism 1 | parallelism {} | ratio | results |",
            self.parallelism
        )?;
        writeln!(f, "|---|---|---|---|---|")?;
        for (name, one, many, results) in &self.pipelines {
            writeln!(
                f,
                "| {name} | {:.2} M events/s | {:.2} M events/s | {:.2} | {results} |",
                one / 1e6,
                many / 1e6,
                many / one
            )?;
        }
        Ok(())
    }
}

pub fn run_parallel(options: &ParallelBenchOptions) -> anyhow::Result<ParallelReport> {
    anyhow::ensure!(options.runs > 0, "--runs must be at least 1");
    anyhow::ensure!(
        (2..=crate::data::KEY_GROUPS).contains(&options.parallelism),
        "--parallelism must be between 2 and {}",
        crate::data::KEY_GROUPS
    );
    let dir = scratch_dir("parallel")?;
    let head = |sensors: u32| -> anyhow::Result<String> {
        let data = dir.join(format!("sensors-{sensors}.ndjson"));
        let workload = SensorWorkload {
            events: options.events,
            sensors,
            ..Default::default()
        };
        write_workload(&data, |out| write_sensors(&workload, out))?;
        Ok(format!(
            r#"
source = {{ kind = "file", path = "{data}" }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "timestamp" }}
event_time = {{ field = "event_time", max_out_of_orderness = "5s" }}
sink = {{ kind = "console" }}
"#,
            data = data.display()
        ))
    };
    let plugins = std::path::absolute(&options.plugins)?;
    let pipelines = [
        (
            "sustained-heat (keyed plugin)",
            format!(
                r#"{}
[[operators]]
type = "plugin"
path = "{plugins}/sustained_heat.wasm"
key_by = "sensor_id"
config = {{ threshold = 100.0, duration_ms = 5000 }}
"#,
                head(options.sensors)?,
                plugins = plugins.display()
            ),
        ),
        (
            "seed query (filter, window, alert)",
            format!("{}{}", head(1_000)?, seed_query_operators(&plugins)),
        ),
    ];
    let engine = PluginEngine::new()?;
    let stop = AtomicBool::new(false);
    let mut report = ParallelReport {
        events: options.events,
        sensors: options.sensors,
        parallelism: options.parallelism,
        pipelines: Vec::new(),
    };
    for (name, text) in &pipelines {
        let file = dir.join("pipeline.toml");
        std::fs::write(&file, text)?;
        let (mut one, mut many, mut results) = (Vec::new(), Vec::new(), [None, None]);
        for run in 0..options.runs {
            for (slot, parallelism) in [1, options.parallelism].into_iter().enumerate() {
                let label = format!("run {}: {name} at parallelism {parallelism}:", run + 1);
                let summary =
                    run_to_null_at(&file, &engine, &stop, options.events, parallelism, &label)?;
                let rate = summary.events_per_second();
                // The same results at either parallelism, or the figure means nothing.
                let seen = results[slot].get_or_insert(summary.results_out);
                anyhow::ensure!(*seen == summary.results_out, "results differ between runs");
                if slot == 0 { &mut one } else { &mut many }.push(rate);
            }
        }
        anyhow::ensure!(
            results[0] == results[1],
            "{name}: {:?} results at parallelism 1, {:?} at {}",
            results[0],
            results[1],
            options.parallelism
        );
        report
            .pipelines
            .push((name, median(one), median(many), results[0].unwrap_or(0)));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report)
}
