//! The floors under every pipeline figure: a bare typed parse of the input's
//! lines (what any JSON reader must at least do), and weir's ingest alone
//! (read, decode, event time, watermarks; no operators) for each time format
//! users' data comes in.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::Deserialize;

use super::{bench_input, cpu_time_ns, load, median, BenchOptions};
use crate::generate::TimeFormat;
use crate::pipeline::{self, SinkSpec};
use crate::plugin::PluginEngine;

/// events/s and CPU ns/event of one measured variant (medians of the runs).
#[derive(Debug, Clone, Copy, Default)]
pub struct Rate {
    pub events_per_s: f64,
    pub cpu_ns: f64,
}

impl Rate {
    /// The medians of several runs' rates, each measure on its own.
    pub fn median_of(rates: &[Rate]) -> Rate {
        Rate {
            events_per_s: median(rates.iter().map(|r| r.events_per_s).collect()),
            cpu_ns: median(rates.iter().map(|r| r.cpu_ns).collect()),
        }
    }
}

/// The seed query's pipeline over `data` with no operators and a sink that
/// only counts: read, decode, event time and watermarks alone.
pub fn load_ingest(
    options: &BenchOptions,
    data: &Path,
    engine: &PluginEngine,
) -> anyhow::Result<pipeline::Pipeline> {
    let mut pipeline = load(options, data, engine, false)?;
    pipeline.stages.clear();
    pipeline.set_sink(SinkSpec::Null { digest: false });
    Ok(pipeline)
}

/// One reading as a typed struct with borrowed strings; the time stays text.
#[derive(Deserialize)]
struct BareReading<'a> {
    #[serde(borrow)]
    sensor_id: &'a str,
    temperature: f64,
    #[serde(borrow)]
    event_time: &'a str,
}

/// Reads `data` line by line into [`BareReading`]s on this thread, nothing
/// else: the ceiling a JSON pipeline could reach on one core.
pub fn bare_parse(data: &Path, events: u64) -> anyhow::Result<Rate> {
    let mut reader = BufReader::with_capacity(1 << 20, std::fs::File::open(data)?);
    let mut line = Vec::with_capacity(256);
    let (mut parsed, mut checksum) = (0u64, 0f64);
    let cpu_before = cpu_time_ns();
    let started = Instant::now();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let reading: BareReading<'_> = serde_json::from_slice(&line)?;
        checksum +=
            reading.temperature + (reading.sensor_id.len() + reading.event_time.len()) as f64;
        parsed += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    std::hint::black_box(checksum);
    anyhow::ensure!(
        parsed == events,
        "bare parse read {parsed} lines, not {events}"
    );
    Ok(Rate {
        events_per_s: parsed as f64 / seconds,
        cpu_ns: (cpu_time_ns() - cpu_before) / parsed as f64,
    })
}

/// The Wasm seed query with one decoder, every thread of the run on one
/// core (as `taskset -c 0 weir run … --decoders 1`): per core, beside the
/// bare parse, which runs on that core too.
pub fn pinned_to_one_core(
    options: &BenchOptions,
    data: &Path,
    engine: &PluginEngine,
) -> anyhow::Result<(Rate, Rate)> {
    let stop = AtomicBool::new(false);
    let _pinned = PinnedToOneCore::new()?;
    let (mut pipeline_rates, mut bare_rates) = (Vec::new(), Vec::new());
    for _ in 0..options.runs {
        let mut pipeline = load(options, data, engine, false)?;
        pipeline.decoders = Some(1);
        let cpu_before = cpu_time_ns();
        let summary = pipeline::run(pipeline, &stop)?;
        anyhow::ensure!(summary.events_in == options.events, "incomplete pinned run");
        pipeline_rates.push(Rate {
            events_per_s: summary.events_per_second(),
            cpu_ns: (cpu_time_ns() - cpu_before) / options.events as f64,
        });
        bare_rates.push(bare_parse(data, options.events)?);
    }
    let (pipeline, bare) = (
        Rate::median_of(&pipeline_rates),
        Rate::median_of(&bare_rates),
    );
    eprintln!(
        "one core: Wasm pipeline {:.2} M events/s, bare parse {:.2} M lines/s",
        pipeline.events_per_s / 1e6,
        bare.events_per_s / 1e6
    );
    Ok((pipeline, bare))
}

/// While it lives, this thread and every thread it starts run on the first
/// core this process may use; dropping it restores the old set.
struct PinnedToOneCore {
    before: libc::cpu_set_t,
}

impl PinnedToOneCore {
    fn new() -> anyhow::Result<Self> {
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: a zeroed cpu_set_t is an empty set; the calls get its true size.
        unsafe {
            let mut before: libc::cpu_set_t = std::mem::zeroed();
            anyhow::ensure!(
                libc::sched_getaffinity(0, size, &mut before) == 0,
                "sched_getaffinity: {}",
                std::io::Error::last_os_error()
            );
            let first = (0..libc::CPU_SETSIZE as usize)
                .find(|&cpu| libc::CPU_ISSET(cpu, &before))
                .ok_or_else(|| anyhow::anyhow!("no core to pin to"))?;
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(first, &mut one);
            anyhow::ensure!(
                libc::sched_setaffinity(0, size, &one) == 0,
                "sched_setaffinity: {}",
                std::io::Error::last_os_error()
            );
            Ok(Self { before })
        }
    }
}

impl Drop for PinnedToOneCore {
    fn drop(&mut self) {
        // SAFETY: restores the set read in `new`, of the size it was read with.
        unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.before);
        }
    }
}

/// weir's ingest alone over the same readings written in each time format;
/// the guide's was measured with the seed query's variants (`guide`).
pub fn ingest_by_format(
    options: &BenchOptions,
    engine: &PluginEngine,
    guide: Rate,
) -> anyhow::Result<Vec<(TimeFormat, Rate)>> {
    let stop = AtomicBool::new(false);
    let mut rates = vec![(TimeFormat::Guide, guide)];
    for format in [TimeFormat::Rfc3339, TimeFormat::EpochMs] {
        let data = bench_input(options, format)?;
        let mut runs = Vec::new();
        for _ in 0..options.runs {
            let pipeline = load_ingest(options, &data, engine)?;
            let cpu_before = cpu_time_ns();
            let summary = pipeline::run(pipeline, &stop)?;
            anyhow::ensure!(
                summary.events_in == options.events,
                "incomplete ingest run over {data:?}"
            );
            runs.push(Rate {
                events_per_s: summary.events_per_second(),
                cpu_ns: (cpu_time_ns() - cpu_before) / options.events as f64,
            });
        }
        let rate = Rate::median_of(&runs);
        eprintln!(
            "ingest, {}: {:.2} M events/s",
            format.name(),
            rate.events_per_s / 1e6
        );
        rates.push((format, rate));
    }
    Ok(rates)
}
