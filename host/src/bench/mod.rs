//! `weir bench`: the seed query over generated events, with the Wasm plugins and
//! with the same logic compiled into the host, measured in the same run.

mod aggregates;
mod baseline;
mod checkpoint;
mod ingest;
mod joins;
mod kafka;
mod languages;
mod native;
mod parallel;
mod report;
mod swap;
mod windows;

pub use aggregates::{run_aggregates, AggregateBenchOptions, AggregateReport};
pub use checkpoint::{run_checkpoint, CheckpointBenchOptions, CheckpointReport};
pub use joins::{run_joins, JoinBenchOptions, JoinReport};
pub use kafka::{run_kafka, KafkaBenchOptions, KafkaReport};
pub use languages::{run_languages, LanguageBenchOptions, LanguageReport};
pub use parallel::{run_parallel, ParallelBenchOptions, ParallelReport};
pub use report::Report;
pub use swap::{rebuilt_copy, run_swap, SwapBenchOptions, SwapReport};
pub use windows::{run_windows, WindowBenchOptions, WindowReport};

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::data::{Batch, BatchBuilder};
use crate::format::json::decode_record;
use crate::generate::{write_sensors, SensorWorkload, TimeFormat};
use crate::pipeline::{self, NativeStage, Pipeline, SinkSpec};
use crate::plugin::PluginEngine;
use crate::source::{LineSource, ReadOutcome};

#[derive(Debug, Clone, clap::Args)]
pub struct BenchOptions {
    /// Events to generate and process.
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    /// Rows per batch.
    #[arg(long, default_value_t = 1024)]
    pub batch_size: usize,
    /// Runs of each variant; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Where the built plugins are.
    #[arg(long, default_value = "plugins/dist")]
    pub plugins: PathBuf,
    /// Where to keep the generated input (reused when it exists).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Another `weir` binary (a previous release, a build before a change):
    /// the Wasm seed query is also run as a process by it and by this one,
    /// alternating, and both rates are reported.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
}

fn pipeline_text(data: &Path, plugins: &Path, batch_size: usize) -> String {
    format!(
        r#"
name = "bench"
batch_size = {batch_size}
source = {{ kind = "file", path = "{data}" }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "timestamp" }}
event_time = {{ field = "event_time", max_out_of_orderness = "5s" }}
sink = {{ kind = "console" }}
{}"#,
        seed_query_operators(plugins),
        data = data.display(),
    )
}

/// The seed query's operators, with the plugins in `plugins`.
fn seed_query_operators(plugins: &Path) -> String {
    seed_query_with_filter(
        &format!(
            "type = \"plugin\"\npath = \"{}/over_threshold.wasm\"\nconfig = {{ threshold = 100.0 }}",
            plugins.display()
        ),
        plugins,
    )
}

/// The seed query's operators with `filter` (an operator table's body) in
/// place of the threshold plugin.
fn seed_query_with_filter(filter: &str, plugins: &Path) -> String {
    format!(
        r#"
[[operators]]
{filter}

[[operators]]
type = "window"
key_by = "sensor_id"
size = "10s"
aggregates = {{ count = "count" }}

[[operators]]
type = "plugin"
path = "{plugins}/spike_alert.wasm"
config = {{ min_count = 5 }}
"#,
        plugins = plugins.display()
    )
}

/// The seed query as the guide writes it in SQL, over `data`.
fn sql_text(data: &Path) -> String {
    format!(
        "CREATE TABLE sensor_data (sensor_id STRING, temperature DOUBLE, event_time TIMESTAMP(3),
           WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND)
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');
         SELECT sensor_id, COUNT(*), TUMBLE_END(event_time, INTERVAL '10' SECOND) AS window_end
         FROM sensor_data
         WHERE temperature > 100
         GROUP BY sensor_id, TUMBLE(event_time, INTERVAL '10' SECOND)
         HAVING COUNT(*) > 5",
        data.display()
    )
}

fn load_sql(
    options: &BenchOptions,
    data: &Path,
    engine: &PluginEngine,
) -> anyhow::Result<Pipeline> {
    let file = tempfile_path("weir-bench-query.sql");
    std::fs::write(&file, sql_text(&std::path::absolute(data)?))?;
    let mut pipeline = pipeline::load(&file, engine)?;
    pipeline.batch_size = options.batch_size;
    pipeline.set_sink(SinkSpec::Null { digest: true });
    Ok(pipeline)
}

fn load(
    options: &BenchOptions,
    data: &Path,
    engine: &PluginEngine,
    native: bool,
) -> anyhow::Result<Pipeline> {
    let (file, plugins) = write_pipeline(options, data, "weir-bench-pipeline.toml")?;
    let mut pipeline = pipeline::load(&file, engine).with_context(|| {
        format!(
            "loading the bench pipeline (are the plugins built in {}?)",
            plugins.display()
        )
    })?;
    // The Wasm and native variants digest their results to compare them;
    // the ingest variant's 10 M rows would make that its main cost.
    pipeline.set_sink(SinkSpec::Null { digest: true });
    if native {
        let filter_input = pipeline.schema.clone();
        pipeline.stages[0].operator = Box::new(NativeStage(Box::new(native::OverThreshold::new(
            &filter_input,
            100.0,
        ))));
        let alert_input = pipeline.stages[1].output_schema().clone();
        pipeline.stages[2].operator = Box::new(NativeStage(Box::new(native::SpikeAlert::new(
            &alert_input,
            5,
        ))));
    }
    Ok(pipeline)
}

/// The Wasm seed query over `data` as a pipeline file in the temp
/// directory; returns the file and the plugins' directory.
fn write_pipeline(
    options: &BenchOptions,
    data: &Path,
    name: &str,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let plugins = std::path::absolute(&options.plugins)?;
    let file = tempfile_path(name);
    std::fs::write(
        &file,
        pipeline_text(&std::path::absolute(data)?, &plugins, options.batch_size),
    )?;
    Ok((file, plugins))
}

fn tempfile_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{}-{name}", std::process::id()))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs the pipeline file `file` to a null sink, checks it read all `events`,
/// prints its rate after `label`, and returns (events/s, results).
fn run_to_null(
    file: &Path,
    engine: &PluginEngine,
    stop: &std::sync::atomic::AtomicBool,
    events: u64,
    label: &str,
) -> anyhow::Result<(f64, u64)> {
    let summary = run_to_null_at(file, engine, stop, events, 1, label)?;
    Ok((summary.events_per_second(), summary.results_out))
}

/// Runs each variant's pipeline file (written by `pipeline` from the
/// variant's text into `dir`) `runs` times, alternating, to a null sink;
/// returns each variant's median rate and its results.
fn alternate(
    variants: &[(&'static str, String)],
    runs: usize,
    dir: &Path,
    events: u64,
    pipeline: impl Fn(&str) -> String,
) -> anyhow::Result<Vec<(&'static str, f64, u64)>> {
    let engine = PluginEngine::new()?;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let width = variants
        .iter()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    let mut rates = vec![Vec::new(); variants.len()];
    let mut results = vec![0; variants.len()];
    for run in 0..runs {
        for (i, (name, text)) in variants.iter().enumerate() {
            let file = dir.join("pipeline.toml");
            std::fs::write(&file, pipeline(text))?;
            let label = format!("run {}: {name:<width$}", run + 1);
            let (rate, results_out) = run_to_null(&file, &engine, &stop, events, &label)?;
            rates[i].push(rate);
            results[i] = results_out;
        }
    }
    Ok(variants
        .iter()
        .zip(rates)
        .zip(results)
        .map(|(((name, _), rates), results)| (*name, median(rates), results))
        .collect())
}

/// [`run_to_null`] with the operators as `parallelism` instances (checked:
/// a run that fell back to fewer would measure the wrong thing).
fn run_to_null_at(
    file: &Path,
    engine: &PluginEngine,
    stop: &std::sync::atomic::AtomicBool,
    events: u64,
    parallelism: usize,
    label: &str,
) -> anyhow::Result<pipeline::Summary> {
    let mut pipeline = crate::pipeline::load(file, engine)?;
    pipeline.set_sink(crate::pipeline::SinkSpec::Null { digest: false });
    pipeline.parallelism = parallelism;
    let summary = crate::pipeline::run(pipeline, stop)?;
    anyhow::ensure!(summary.events_in == events, "incomplete run");
    anyhow::ensure!(
        summary.parallelism == parallelism,
        "{label} ran as {} instances, not {parallelism}",
        summary.parallelism
    );
    eprintln!(
        "{label} {:.2} M events/s, {} results",
        summary.events_per_second() / 1e6,
        summary.results_out
    );
    Ok(summary)
}

/// A scratch directory of this benchmark process, named for `bench`.
fn scratch_dir(bench: &str) -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("weir-bench-{bench}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Writes a generated workload to `path`.
fn write_workload(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write(&mut BufWriter::with_capacity(1 << 20, File::create(path)?))
}

/// The generated input, written on first use and kept for later runs. The
/// guide's format may be given (`--data`); the others are generated beside it.
fn bench_input(options: &BenchOptions, time_format: TimeFormat) -> anyhow::Result<PathBuf> {
    let generated = || {
        let format = match time_format {
            TimeFormat::Guide => "guide",
            TimeFormat::Rfc3339 => "rfc3339",
            TimeFormat::EpochMs => "epoch-ms",
        };
        std::env::temp_dir().join(format!(
            "weir-bench-sensors-{}-{format}.ndjson",
            options.events
        ))
    };
    let data = match (&options.data, time_format) {
        (Some(data), TimeFormat::Guide) => data.clone(),
        _ => generated(),
    };
    if !data.exists() {
        eprintln!(
            "generating {} events into {}",
            options.events,
            data.display()
        );
        let workload = SensorWorkload {
            events: options.events,
            time_format,
            ..Default::default()
        };
        write_workload(&data, |out| write_sensors(&workload, out))?;
    }
    Ok(data)
}

/// Runs the whole benchmark; prints progress to stderr.
pub fn run(options: &BenchOptions) -> anyhow::Result<Report> {
    anyhow::ensure!(
        options.runs > 0 && options.batch_size > 0,
        "--runs and --batch-size must be at least 1"
    );
    let data = bench_input(options, TimeFormat::Guide)?;
    let engine = PluginEngine::new()?;
    let stop = AtomicBool::new(false);
    let mut rates = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    let mut cpu = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    let mut results = [(0, 0), (0, 0)];
    let mut sql_results = 0;
    let mut bare = Vec::new();
    for run in 0..options.runs {
        for (variant, name) in [(0, "wasm"), (1, "native"), (2, "ingest"), (3, "sql")] {
            let pipeline = match variant {
                2 => ingest::load_ingest(options, &data, &engine)?,
                3 => load_sql(options, &data, &engine)?,
                _ => load(options, &data, &engine, variant == 1)?,
            };
            let cpu_before = cpu_time_ns();
            let summary = pipeline::run(pipeline, &stop)?;
            let cpu_ns = (cpu_time_ns() - cpu_before) / options.events as f64;
            anyhow::ensure!(
                summary.events_in == options.events,
                "the bench input is incomplete: {data:?}"
            );
            eprintln!(
                "run {}: {:<6} {:.2} M events/s, {cpu_ns:.0} ns CPU/event, {} results (digest {:016x})",
                run + 1,
                name,
                summary.events_per_second() / 1e6,
                summary.results_out,
                summary.results_digest
            );
            rates[variant].push(summary.events_per_second());
            cpu[variant].push(cpu_ns);
            if variant < 2 {
                results[variant] = (summary.results_out, summary.results_digest);
            }
            if variant == 3 {
                sql_results = summary.results_out;
            }
        }
        bare.push(ingest::bare_parse(&data, options.events)?);
        eprintln!(
            "run {}: bare parse {:.2} M lines/s",
            run + 1,
            bare[run].events_per_s / 1e6
        );
        // The SQL rows have other fields (no alert text): compared by count.
        anyhow::ensure!(
            sql_results == results[0].0,
            "run {}: SQL gave {sql_results} alerts, the plugins {}",
            run + 1,
            results[0].0
        );
        // Every run: the same alerts, in the same order, not just as many.
        anyhow::ensure!(
            results[0] == results[1],
            "run {}: Wasm and native disagree: {} alerts (digest {:016x}) vs {} (digest {:016x})",
            run + 1,
            results[0].0,
            results[0].1,
            results[1].0,
            results[1].1
        );
    }
    let [filter_wasm_ns, filter_native_ns, filter_sql_ns] =
        filter_stage_cost(options, &data, &engine)?;
    let guide_ingest = ingest::Rate {
        events_per_s: median(rates[2].clone()),
        cpu_ns: median(cpu[2].clone()),
    };
    let ingest_by_format = ingest::ingest_by_format(options, &engine, guide_ingest)?;
    let one_core = ingest::pinned_to_one_core(options, &data, &engine)?;
    let baseline = match &options.baseline {
        Some(binary) => Some(baseline::compare(options, &data, binary)?),
        None => None,
    };
    let [wasm, native, _, sql] = rates;
    let [wasm_cpu, native_cpu, _, sql_cpu] = cpu;
    Ok(Report {
        events: options.events,
        batch_size: options.batch_size,
        wasm_events_per_s: median(wasm),
        native_events_per_s: median(native),
        wasm_cpu_ns: median(wasm_cpu),
        native_cpu_ns: median(native_cpu),
        sql_events_per_s: median(sql),
        sql_cpu_ns: median(sql_cpu),
        ingest_events_per_s: guide_ingest.events_per_s,
        ingest_cpu_ns: guide_ingest.cpu_ns,
        ingest_by_format,
        one_core,
        bare_parse: ingest::Rate::median_of(&bare),
        results: results[0].0,
        filter_wasm_ns,
        filter_native_ns,
        filter_sql_ns,
        peak_rss_mib: peak_rss_mib(),
        baseline,
    })
}

/// ns/event of the filter stage alone — Wasm, hand-written native, and the
/// SQL expression — on one batch of real rows.
fn filter_stage_cost(
    options: &BenchOptions,
    data: &Path,
    engine: &PluginEngine,
) -> anyhow::Result<[f64; 3]> {
    let mut wasm = load(options, data, engine, false)?;
    let mut native = load(options, data, engine, true)?;
    let mut sql = load_sql(options, data, engine)?;
    let batch = first_batch(&wasm, data)?;
    let time = |stage: &mut pipeline::Stage| -> anyhow::Result<f64> {
        let dead = crate::sink::DeadLetters::discard();
        let origin = crate::data::Origin::Lines("bench".into());
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let started = Instant::now();
            for _ in 0..2_000 {
                std::hint::black_box(stage.process(batch.clone(), &origin, &dead)?);
            }
            best = best.min(started.elapsed());
        }
        Ok(best.as_nanos() as f64 / (2_000 * batch.len()) as f64)
    };
    // Cloning the batch is part of every measurement and cancels out in the differences.
    Ok([
        time(&mut wasm.stages[0])?,
        time(&mut native.stages[0])?,
        time(&mut sql.stages[0])?,
    ])
}

fn first_batch(pipeline: &Pipeline, data: &Path) -> anyhow::Result<Batch> {
    let mut source = LineSource::open(data, 1 << 20)?;
    let mut builder = BatchBuilder::new(pipeline.schema.clone(), pipeline.batch_size);
    let mut line = Vec::new();
    while !builder.is_full() && source.read_line(&mut line)? == ReadOutcome::Line {
        decode_record(&pipeline.schema, builder.columns_mut(), &line)
            .map_err(anyhow::Error::msg)?;
        let time = builder.last_int(pipeline.time_column).unwrap_or(0);
        builder.commit_row(time, i64::MIN, source.line_number());
    }
    Ok(builder.take(i64::MIN))
}

/// User + system CPU time of the whole process (every thread), in ns.
fn cpu_time_ns() -> f64 {
    rusage_cpu_ns(libc::RUSAGE_SELF)
}

/// User + system CPU time `who` (RUSAGE_SELF, RUSAGE_CHILDREN) used, in ns.
fn rusage_cpu_ns(who: libc::c_int) -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF and
    // RUSAGE_CHILDREN are always valid.
    let usage = unsafe {
        libc::getrusage(who, usage.as_mut_ptr());
        usage.assume_init()
    };
    let ns = |t: libc::timeval| t.tv_sec as f64 * 1e9 + t.tv_usec as f64 * 1e3;
    ns(usage.ru_utime) + ns(usage.ru_stime)
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
