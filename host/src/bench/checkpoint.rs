//! `weir bench checkpoint`: what checkpoints cost. The size and the time of
//! one checkpoint holding a million keys of window and plugin state, and the
//! throughput of two pipelines with a checkpoint every second against the
//! same pipelines with none, measured in the same run.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{median, scratch_dir, seed_query_operators, write_workload};
use crate::data::Key;
use crate::data::{BatchBuilder, Field, FieldType, Schema, Value};
use crate::generate::{write_sensors, SensorWorkload};
use crate::pipeline;
use crate::plugin::PluginEngine;
use crate::state::{
    Checkpoint, CheckpointLocation, CheckpointSettings, CheckpointStore, ClockState, Encoded,
    KeyedState, PluginState, PluginVersion, RemoteSpec, SinkPosition, SourcePosition,
    StageCheckpoint, StageState, Timer,
};
use crate::window::{AggregateSpec, EventTimeWindows, WindowShape, WindowSpec};

#[derive(Debug, Clone, clap::Args)]
pub struct CheckpointBenchOptions {
    /// Keys of state in the checkpoint-size measurement (window and plugin each).
    #[arg(long, default_value_t = 1_000_000)]
    pub keys: u64,
    /// Events for the throughput runs.
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    /// Sensors in the throughput runs' input (keys of their state).
    #[arg(long, default_value_t = 100_000)]
    pub sensors: u32,
    /// Runs of each variant; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Where the built plugins are.
    #[arg(long, default_value = "plugins/dist")]
    pub plugins: PathBuf,
    /// Also write and read the big checkpoint in this object store
    /// (`s3://bucket/prefix`, …), beside the local directory.
    #[arg(long)]
    pub store: Option<String>,
    /// A setting of `--store`, as `key=value` (e.g. `aws_endpoint=http://127.0.0.1:9000`).
    #[arg(long = "store-setting", value_parser = parse_setting)]
    pub store_settings: Vec<(String, String)>,
}

fn parse_setting(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{text}` is not key=value"))
}

pub struct CheckpointReport {
    pub keys: u64,
    pub big: BigCheckpoint,
    pub events: u64,
    pub sensors: u32,
    /// (pipeline, events/s without checkpoints, with one a second, checkpoints taken)
    pub throughput: Vec<(&'static str, f64, f64, u64)>,
}

impl fmt::Display for CheckpointReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        writeln!(
            f,
            "one checkpoint with {} keys of window state and {} keys of plugin state (+ a timer each)",
            self.keys, self.keys
        )?;
        writeln!(f, "| measure | value |")?;
        writeln!(f, "|---|---|")?;
        let big = &self.big;
        writeln!(
            f,
            "| snapshot on the operator thread (the pipeline's pause) | {:.2} ms |",
            ms(big.snapshot)
        )?;
        writeln!(
            f,
            "| a batch of {TOUCHED} distinct keys while the snapshot is held (copy on write) | {:.2} ms |",
            ms(big.batch_during)
        )?;
        writeln!(
            f,
            "| such a batch with no snapshot held (median of 5) | {:.2} ms |",
            ms(big.batch_steady)
        )?;
        writeln!(
            f,
            "| encode + write + fsync (sink thread) | {:.0} ms |",
            ms(big.write)
        )?;
        writeln!(
            f,
            "| size | {:.1} MiB |",
            big.bytes as f64 / (1 << 20) as f64
        )?;
        writeln!(f, "| read + verify + decode | {:.0} ms |", ms(big.read))?;
        if let Some(remote) = &big.remote {
            writeln!(
                f,
                "| encode + write to {} | {:.0} ms |",
                remote.url,
                ms(remote.write)
            )?;
            writeln!(
                f,
                "| read + verify + decode from it | {:.0} ms |",
                ms(remote.read)
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "throughput, {} events over {} sensors, checkpoint every 1 s vs none",
            self.events, self.sensors
        )?;
        writeln!(f, "| pipeline | none | every 1 s | ratio | checkpoints |")?;
        writeln!(f, "|---|---|---|---|---|")?;
        for (name, none, with, taken) in &self.throughput {
            writeln!(
                f,
                "| {name} | {:.2} M events/s | {:.2} M events/s | {:.2} | {taken} |",
                none / 1e6,
                with / 1e6,
                with / none
            )?;
        }
        Ok(())
    }
}

pub fn run_checkpoint(options: &CheckpointBenchOptions) -> anyhow::Result<CheckpointReport> {
    anyhow::ensure!(
        options.runs > 0 && options.keys > 0,
        "--runs and --keys must be at least 1"
    );
    let dir = scratch_dir("checkpoint")?;
    let mut locations = vec![CheckpointLocation::Dir(dir.join("size"))];
    if let Some(url) = &options.store {
        anyhow::ensure!(
            crate::state::remote::is_object_store_url(url),
            "--store takes an object store URL (s3://, gs://, az://…), got `{url}`"
        );
        locations.push(CheckpointLocation::ObjectStore(RemoteSpec {
            url: url.clone(),
            options: options.store_settings.clone(),
        }));
    }
    let big = one_big_checkpoint(options.keys, &locations)?;
    let throughput = throughput(options, &dir)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(CheckpointReport {
        keys: options.keys,
        big,
        events: options.events,
        sensors: options.sensors,
        throughput,
    })
}

/// What one checkpoint of a million keys costs, measured by
/// [`one_big_checkpoint`].
pub struct BigCheckpoint {
    /// Taking the snapshot on the operator thread (the pipeline's pause).
    pub snapshot: Duration,
    /// The first batch of distinct keys after the snapshot, while the sink
    /// thread still holds it (its writes copy shards), and the median of
    /// such batches with no snapshot held.
    pub batch_during: Duration,
    pub batch_steady: Duration,
    /// Encoding, writing and fsyncing the file (the sink thread's part).
    pub write: Duration,
    pub bytes: u64,
    /// The same checkpoint written to and read from an object store.
    pub remote: Option<RemoteTimes>,
    /// Reading, verifying and decoding it back.
    pub read: Duration,
}

/// Rows per batch touched after the snapshot, each a different key.
const TOUCHED: u64 = 1_024;

/// A window with `keys` keys open and a keyed plugin's state of as many
/// keys, each with a timer — the state of a stage after a million sensors.
struct BigState {
    input: Arc<Schema>,
    window: EventTimeWindows,
    keyed: KeyedState,
}

impl BigState {
    fn new(keys: u64) -> anyhow::Result<Self> {
        let input = Schema::new(vec![
            Field::new("sensor_id", FieldType::String),
            Field::new("temperature", FieldType::F64),
        ])?;
        let spec = WindowSpec {
            key_by: Some("sensor_id".into()),
            shape: WindowShape::Tumbling { size_ms: 10_000 },
            allowed_lateness_ms: 0,
            time: crate::window::WindowTime::Event,
            early_fire_every_ms: None,
            aggregates: vec![
                AggregateSpec::parse("count", "count").map_err(anyhow::Error::msg)?,
                AggregateSpec::parse("max_temperature", "max(temperature)")
                    .map_err(anyhow::Error::msg)?,
            ],
        };
        let window = EventTimeWindows::new(&spec, &input).map_err(anyhow::Error::msg)?;
        let mut state = Self {
            input,
            window,
            keyed: KeyedState::default(),
        };
        for chunk in (0..keys).collect::<Vec<_>>().chunks(4096) {
            state.touch(chunk)?;
        }
        anyhow::ensure!(
            state.window.open_windows() as u64 == keys,
            "the window holds every key"
        );
        Ok(state)
    }

    /// One batch with a row for each of `keys`, into the window and the
    /// keyed state, as the two stages would take it.
    fn touch(&mut self, keys: &[u64]) -> anyhow::Result<()> {
        let names: Vec<String> = keys.iter().map(|k| format!("sensor-{k:07}")).collect();
        let mut builder = BatchBuilder::new(self.input.clone(), names.len());
        for name in &names {
            builder.push([Value::String(name), Value::F64(101.5)], 1_000, i64::MIN, 0);
            // What sustained-heat stores: since, max, alerted (bincode, 17 bytes).
            let mut state = Vec::with_capacity(17);
            state.extend_from_slice(&1_000i64.to_le_bytes());
            state.extend_from_slice(&101.5f64.to_le_bytes());
            state.push(0);
            let key = Key::Str(name.as_str().into());
            self.keyed.set(key.clone(), Some(state));
        }
        for name in &names {
            let key = Key::Str(name.as_str().into());
            self.keyed.set_timer(Timer { at: 6_000, key });
        }
        self.window
            .process(&mut builder.take(i64::MIN), &mut Vec::new())
            .map_err(|e| anyhow::anyhow!("the window failed: {e:?}"))?;
        Ok(())
    }

    /// A batch of [`TOUCHED`] keys spread over all `keys`, timed.
    fn timed_batch(&mut self, keys: u64, round: u64) -> anyhow::Result<Duration> {
        let spread: Vec<u64> = (0..TOUCHED)
            .map(|i| (i * 7_919 + round * 104_729) % keys)
            .collect();
        let started = Instant::now();
        self.touch(&spread)?;
        Ok(started.elapsed())
    }

    fn checkpoint(&self, keys: u64) -> Checkpoint {
        let plugin = PluginState {
            plugin: PluginVersion {
                name: "sustained-heat".into(),
                version: "0.1.0".into(),
                hash: String::new(),
            },
            state_version: 1,
            keyed: Encoded::later(self.keyed.snapshot()),
        };
        Checkpoint {
            id: 1,
            pipeline: "bench".into(),
            taken_at_ms: 0,
            source: SourcePosition::Lines {
                byte_offset: 0,
                line: 0,
            },
            clock: ClockState::Single {
                max_event_time: Some(1_000),
            },
            events: keys,
            stages: vec![
                StageCheckpoint {
                    name: "window".into(),
                    fingerprint: self.window.fingerprint().into(),
                    state: self.window.checkpoint(),
                },
                StageCheckpoint {
                    name: "heat".into(),
                    fingerprint: "plugin sustained-heat key_by=sensor_id".into(),
                    state: StageState::Plugin(plugin),
                },
            ],
            sink: SinkPosition::None,
            dead_letter_bytes: 0,
        }
    }
}

pub struct RemoteTimes {
    pub url: String,
    pub write: Duration,
    pub read: Duration,
}

/// Writes `checkpoint` to `location` and reads it back: bytes, write and
/// read times.
fn write_and_read(
    checkpoint: &Checkpoint,
    location: &CheckpointLocation,
) -> anyhow::Result<(u64, Duration, Duration)> {
    let store = CheckpointStore::open(CheckpointSettings {
        location: location.clone(),
        interval: Duration::from_secs(1),
        keep: 1,
    })?;
    let started = Instant::now();
    let bytes = store.write(checkpoint)?;
    let write = started.elapsed();
    let started = Instant::now();
    let back = store
        .latest()?
        .ok_or_else(|| anyhow::anyhow!("checkpoint not read back"))?;
    let read = started.elapsed();
    anyhow::ensure!(
        back.stages.len() == 2 && back.events == checkpoint.events,
        "checkpoint read back wrong"
    );
    Ok((bytes, write, read))
}

/// Times to snapshot, write and read back one checkpoint of [`BigState`] in
/// each of `locations` (the first local), and what a batch costs while the
/// snapshot is being written.
fn one_big_checkpoint(
    keys: u64,
    locations: &[CheckpointLocation],
) -> anyhow::Result<BigCheckpoint> {
    let mut state = BigState::new(keys)?;
    let steady: Vec<Duration> = (0..5)
        .map(|round| state.timed_batch(keys, 10 + round))
        .collect::<anyhow::Result<_>>()?;
    let batch_steady =
        Duration::from_secs_f64(median(steady.iter().map(Duration::as_secs_f64).collect()));
    let started = Instant::now();
    let checkpoint = state.checkpoint(keys);
    let snapshot = started.elapsed();
    let batch_during = state.timed_batch(keys, 1)?;
    let (bytes, write, read) = write_and_read(&checkpoint, &locations[0])?;
    let remote = match locations.get(1) {
        Some(location) => {
            let (_, write, read) = write_and_read(&checkpoint, location)?;
            Some(RemoteTimes {
                url: location.describe(),
                write,
                read,
            })
        }
        None => None,
    };
    Ok(BigCheckpoint {
        snapshot,
        batch_during,
        batch_steady,
        write,
        bytes,
        read,
        remote,
    })
}

fn pipeline_text(
    name: &str,
    data: &Path,
    plugins: &Path,
    output: &Path,
    checkpoints: Option<&Path>,
) -> String {
    let operators = match name {
        "seed query" => seed_query_operators(plugins),
        _ => format!(
            r#"
[[operators]]
type = "plugin"
path = "{plugins}/sustained_heat.wasm"
key_by = "sensor_id"
config = {{ threshold = 100.0, duration_ms = 5000 }}
"#,
            plugins = plugins.display()
        ),
    };
    let checkpoint = checkpoints.map_or_else(String::new, |dir| {
        format!(
            "\n[checkpoint]\ndir = \"{}\"\ninterval = \"1s\"\n",
            dir.display()
        )
    });
    format!(
        r#"
name = "bench-checkpoint"
source = {{ kind = "file", path = "{data}" }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "timestamp" }}
event_time = {{ field = "event_time", max_out_of_orderness = "5s" }}
sink = {{ kind = "file", path = "{output}" }}
{operators}{checkpoint}"#,
        data = data.display(),
        output = output.display(),
    )
}

fn throughput(
    options: &CheckpointBenchOptions,
    dir: &Path,
) -> anyhow::Result<Vec<(&'static str, f64, f64, u64)>> {
    let data = dir.join("sensors.ndjson");
    eprintln!(
        "generating {} events over {} sensors",
        options.events, options.sensors
    );
    let workload = SensorWorkload {
        events: options.events,
        sensors: options.sensors,
        ..Default::default()
    };
    write_workload(&data, |out| write_sensors(&workload, out))?;
    let plugins = std::path::absolute(&options.plugins)?;
    let engine = Arc::new(PluginEngine::new()?);
    let stop = AtomicBool::new(false);
    let mut report = Vec::new();
    for name in ["seed query", "sustained-heat (keyed)"] {
        let (mut none, mut with, mut taken) = (Vec::new(), Vec::new(), 0);
        for run in 0..options.runs {
            for checkpointed in [false, true] {
                let checkpoints = dir.join("checkpoints");
                let file = dir.join("pipeline.toml");
                let text = pipeline_text(
                    name,
                    &data,
                    &plugins,
                    &dir.join("out.jsonl"),
                    checkpointed.then_some(checkpoints.as_path()),
                );
                std::fs::write(&file, text)?;
                let mut pipeline = pipeline::load(&file, &engine)?;
                pipeline.resume = pipeline::Resume::Fresh;
                let summary = pipeline::run(pipeline, &stop)?;
                anyhow::ensure!(summary.events_in == options.events, "incomplete run");
                let rate = summary.events_per_second();
                eprintln!(
                    "run {}: {name:<24} {:<16} {:.2} M events/s ({} checkpoints)",
                    run + 1,
                    if checkpointed {
                        "checkpoint 1 s"
                    } else {
                        "no checkpoints"
                    },
                    rate / 1e6,
                    summary.checkpoints
                );
                if checkpointed {
                    with.push(rate);
                    taken = summary.checkpoints;
                } else {
                    none.push(rate);
                }
            }
        }
        report.push((name, median(none), median(with), taken));
    }
    Ok(report)
}
