//! `weir bench languages`: what the language a plugin is written in costs.
//! The seed query (threshold filter → 10 s count per sensor → alert) with
//! its filter native, as the Rust, the Python and the JavaScript component, in the
//! same run on the same input: throughput, the filter's share per event,
//! and for each component its size, the first load (compile) and a cached
//! load, and the memory an instance adds.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{median, run_to_null, scratch_dir, write_workload};
use crate::data::{Field, FieldType, Schema};
use crate::generate::{write_sensors, SensorWorkload};
use crate::plugin::{FailurePolicy, PluginEngine, PluginLimits, PluginOperator};

#[derive(Debug, Clone, clap::Args)]
pub struct LanguageBenchOptions {
    /// Readings to generate and process (1,000 sensors, the guide's time format).
    #[arg(long, default_value_t = 2_000_000)]
    pub events: u64,
    /// Runs of each variant; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Instances created to measure the memory one adds.
    #[arg(long, default_value_t = 8)]
    pub instances: usize,
    /// Where the built plugins are.
    #[arg(long, default_value = "plugins/dist")]
    pub plugins: PathBuf,
}

/// One component's figures.
pub struct Load {
    pub bytes: u64,
    /// Compile and instantiate with an empty cache.
    pub first: Duration,
    /// Load from the cache and instantiate, in a new engine.
    pub cached: Duration,
    /// Resident memory each further instance adds (measured over several).
    pub instance_bytes: f64,
}

pub struct LanguageReport {
    pub events: u64,
    /// (language, events/s, the component's load figures; None: native).
    pub variants: Vec<(&'static str, f64, Option<Load>)>,
    pub missing: Vec<String>,
}

impl fmt::Display for LanguageReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed query, filter in each language: {} readings (guide format) → filter → 10 s count per sensor → alert → null sink",
            self.events
        )?;
        writeln!(f, "| filter | throughput | vs native | filter ns/event (vs native) | component | first load | cached load | memory per instance |")?;
        writeln!(f, "|---|---|---|---|---|---|---|---|")?;
        let native = self.variants[0].1;
        for (language, rate, load) in &self.variants {
            let extra = 1e9 / rate - 1e9 / native;
            match load {
                None => writeln!(f, "| {language} | {:.2} M events/s | 1.00 | — | — | — | — | — |", rate / 1e6)?,
                Some(load) => writeln!(
                    f,
                    "| {language} | {:.2} M events/s | {:.2} | {:.0} | {:.1} MiB | {:.1} ms | {:.1} ms | {:.1} MiB |",
                    rate / 1e6,
                    rate / native,
                    extra,
                    load.bytes as f64 / (1 << 20) as f64,
                    load.first.as_secs_f64() * 1e3,
                    load.cached.as_secs_f64() * 1e3,
                    load.instance_bytes / (1 << 20) as f64,
                )?,
            }
        }
        for missing in &self.missing {
            writeln!(f, "(not measured: {missing})")?;
        }
        write!(f, "(filter ns/event: the wall time per event above the native filter's, on the one operator thread)")
    }
}

pub fn run_languages(options: &LanguageBenchOptions) -> anyhow::Result<LanguageReport> {
    anyhow::ensure!(options.runs > 0, "--runs must be at least 1");
    anyhow::ensure!(options.instances > 1, "--instances must be at least 2");
    let mut components = Vec::new();
    let mut missing = Vec::new();
    for (language, file, how) in [
        ("Rust", "over_threshold.wasm", "scripts/build-plugins"),
        (
            "Python",
            "over_threshold_py.wasm",
            "scripts/python-plugins build",
        ),
        (
            "JavaScript",
            "over_threshold_js.wasm",
            "scripts/js-plugins build",
        ),
    ] {
        let path = std::path::absolute(options.plugins.join(file))?;
        match path.exists() {
            true => components.push((language, path)),
            false => missing.push(format!(
                "{language}: {} is missing; run {how}",
                path.display()
            )),
        }
    }
    let dir = scratch_dir("languages")?;
    let data = dir.join("readings.ndjson");
    let workload = SensorWorkload {
        events: options.events,
        ..Default::default()
    };
    write_workload(&data, |out| write_sensors(&workload, out))?;

    let mut loads = Vec::new();
    for (language, path) in &components {
        eprintln!("{language}: loading {}", path.display());
        loads.push(measure_load(
            path,
            &dir.join(format!("cache-{language}")),
            options.instances,
        )?);
    }
    let engine = Arc::new(PluginEngine::new()?);
    let stop = AtomicBool::new(false);
    let mut filters = vec![(
        "native",
        "type = \"filter\"\nwhere = \"temperature > 100\"".to_string(),
    )];
    for (language, path) in &components {
        filters.push((
            language,
            format!(
                "type = \"plugin\"\npath = \"{}\"\nconfig = {{ threshold = 100.0 }}",
                path.display()
            ),
        ));
    }
    let mut rates = vec![Vec::new(); filters.len()];
    let mut results = vec![0; filters.len()];
    for run in 0..options.runs {
        for (i, (language, filter)) in filters.iter().enumerate() {
            let file = dir.join("pipeline.toml");
            std::fs::write(&file, pipeline(&data, filter, &options.plugins)?)?;
            let label = format!("run {}: {language:<8}", run + 1);
            let (rate, out) = run_to_null(&file, &engine, &stop, options.events, &label)?;
            rates[i].push(rate);
            results[i] = out;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(
        results.iter().all(|&r| r == results[0]),
        "the languages' runs gave different numbers of results: {results:?}"
    );
    let mut loads = loads.into_iter();
    Ok(LanguageReport {
        events: options.events,
        variants: filters
            .iter()
            .zip(rates)
            .enumerate()
            .map(|(i, ((language, _), rates))| {
                (
                    *language,
                    median(rates),
                    (i > 0).then(|| loads.next()).flatten(),
                )
            })
            .collect(),
        missing,
    })
}

fn pipeline(data: &Path, filter: &str, plugins: &Path) -> anyhow::Result<String> {
    Ok(format!(
        r#"
name = "bench-languages"
source = {{ kind = "file", path = "{data}" }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "timestamp" }}
event_time = {{ field = "event_time", max_out_of_orderness = "5s" }}
sink = {{ kind = "console" }}
{operators}"#,
        data = data.display(),
        operators = super::seed_query_with_filter(filter, &std::path::absolute(plugins)?),
    ))
}

/// First and cached load of the component at `path` (a cache of its own in
/// `cache`), and the resident memory `instances` more instances add.
fn measure_load(path: &Path, cache: &Path, instances: usize) -> anyhow::Result<Load> {
    let schema = Schema::new(vec![Field::new("temperature", FieldType::F64)])?;
    let config = r#"{"threshold": 100.0}"#;
    let load = |engine: &PluginEngine| {
        PluginOperator::load(
            engine,
            path,
            config,
            &schema,
            PluginLimits::default(),
            FailurePolicy::default(),
        )
    };
    let _ = std::fs::remove_dir_all(cache);
    let start = Instant::now();
    let cold = PluginEngine::with_cache_dir(cache.to_path_buf())?;
    load(&cold)?;
    let first = start.elapsed();
    drop(cold);
    let start = Instant::now();
    let warm = PluginEngine::with_cache_dir(cache.to_path_buf())?;
    let mut held = vec![load(&warm)?];
    let cached = start.elapsed();
    let before = resident_bytes()?;
    for _ in 0..instances {
        held.push(load(&warm)?);
    }
    let after = resident_bytes()?;
    Ok(Load {
        bytes: std::fs::metadata(path)?.len(),
        first,
        cached,
        instance_bytes: after.saturating_sub(before) as f64 / instances as f64,
    })
}

/// This process's resident set, from /proc/self/statm.
fn resident_bytes() -> anyhow::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("/proc/self/statm has no resident field"))?
        .parse()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Ok(pages * page.max(4096) as u64)
}
