//! `weir bench swap`: what hot swapping costs a running pipeline. The seed
//! query runs with its filter swapped between two builds of the same code —
//! once a second, and back to back — against the same run without swaps.

use std::fmt;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use super::{bench_input, load, median, BenchOptions};
use crate::admin::{Admin, Component};
use crate::pipeline;
use crate::plugin::PluginEngine;

#[derive(Debug, Clone, clap::Args)]
pub struct SwapBenchOptions {
    #[command(flatten)]
    pub common: BenchOptions,
    /// Time between swaps in the periodic runs.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Batches a new version is on trial before it is kept.
    #[arg(long, default_value_t = 3)]
    pub trial_batches: u32,
}

pub struct SwapReport {
    pub events: u64,
    pub steady_events_per_s: f64,
    pub periodic_events_per_s: f64,
    pub periodic_swaps: usize,
    pub interval: Duration,
    pub burst_events_per_s: f64,
    pub burst_swaps: usize,
    /// Time the operator thread stopped to switch versions, sorted.
    pub pauses: Vec<Duration>,
    /// Swaps whose report carried no pause: counted, never taken as 0 µs.
    pub missing_pauses: usize,
    /// Swaps to a build never compiled before (compile, check, instantiate,
    /// trial): the whole request's time and the pause, per swap.
    pub cold: Vec<(Duration, Option<Duration>)>,
}

impl fmt::Display for SwapReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |q: f64| {
            let i = ((self.pauses.len() as f64 - 1.0) * q).round() as usize;
            self.pauses.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
        };
        writeln!(
            f,
            "hot swap: the seed query ({} events) with its filter swapped between two builds of the same code",
            self.events
        )?;
        writeln!(f, "| measure | value |")?;
        writeln!(f, "|---|---|")?;
        writeln!(
            f,
            "| steady, no swaps | {:.2} M events/s |",
            self.steady_events_per_s / 1e6
        )?;
        writeln!(
            f,
            "| one swap every {:?} ({} swaps per run) | {:.2} M events/s ({:.2}× steady) |",
            self.interval,
            self.periodic_swaps,
            self.periodic_events_per_s / 1e6,
            self.periodic_events_per_s / self.steady_events_per_s
        )?;
        writeln!(
            f,
            "| swaps back to back ({} per run) | {:.2} M events/s ({:.2}× steady) |",
            self.burst_swaps,
            self.burst_events_per_s / 1e6,
            self.burst_events_per_s / self.steady_events_per_s
        )?;
        writeln!(
            f,
            "| swap pause, operator thread ({} warm swaps{}) | p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs |",
            self.pauses.len(),
            match self.missing_pauses {
                0 => String::new(),
                n => format!("; {n} reported no pause and are left out"),
            },
            at(0.5),
            at(0.99),
            at(1.0)
        )?;
        let cold: Vec<String> = self
            .cold
            .iter()
            .map(|(request, pause)| match pause {
                Some(pause) => format!(
                    "{:.0} ms (pause {:.0} µs)",
                    request.as_secs_f64() * 1e3,
                    pause.as_secs_f64() * 1e6
                ),
                None => format!("{:.0} ms (no pause reported)", request.as_secs_f64() * 1e3),
            })
            .collect();
        write!(
            f,
            "| cold swap, first compile of a new build (request to verdict) | {} |",
            cold.join(", ")
        )
    }
}

/// A copy of `component` with a custom section appended: the same code, so
/// the same behaviour, but other bytes and so another content hash — a
/// rebuild that changed nothing.
pub fn rebuilt_copy(component: &Path, to: &Path, tag: &str) -> std::io::Result<()> {
    let mut bytes = std::fs::read(component)?;
    let name = b"weir-rebuild";
    let payload_len = 1 + name.len() + tag.len();
    if payload_len >= 128 {
        return Err(std::io::Error::other("tag too long for a one-byte length"));
    }
    bytes.push(0); // custom section
    bytes.push(payload_len as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(tag.as_bytes());
    std::fs::write(to, bytes)
}

/// How often to swap during a run; `None` swaps back to back.
type Schedule = Option<Duration>;

pub fn run_swap(options: &SwapBenchOptions) -> anyhow::Result<SwapReport> {
    let common = &options.common;
    anyhow::ensure!(common.runs > 0, "--runs must be at least 1");
    let data = bench_input(common, crate::generate::TimeFormat::Guide)?;
    let engine = Arc::new(PluginEngine::new()?);
    let variants = super::scratch_dir("swap")?;
    let original = std::path::absolute(common.plugins.join("over_threshold.wasm"))?;
    let copy = variants.join("over_threshold.wasm");
    rebuilt_copy(&original, &copy, "bench")?;

    let mut rates = [Vec::new(), Vec::new(), Vec::new()];
    let mut swaps = [0, 0, 0];
    let mut pauses = Pauses::default();
    for run in 0..common.runs {
        let variants: [Option<Schedule>; 3] = [None, Some(Some(options.interval)), Some(None)];
        for (variant, swapping) in variants.into_iter().enumerate() {
            let (rate, done) = measure(
                options,
                &data,
                &engine,
                &[&original, &copy],
                swapping,
                &mut pauses,
            )?;
            let name = ["steady", "periodic", "burst"][variant];
            eprintln!(
                "run {}: {name:<8} {:.2} M events/s, {done} swaps",
                run + 1,
                rate / 1e6
            );
            rates[variant].push(rate);
            swaps[variant] = done;
        }
    }
    let cold = cold_swaps(options, &data, &engine, &original, &variants)?;
    let _ = std::fs::remove_dir_all(&variants);
    pauses.measured.sort_unstable();
    let [steady, periodic, burst] = rates;
    Ok(SwapReport {
        events: common.events,
        steady_events_per_s: median(steady),
        periodic_events_per_s: median(periodic),
        periodic_swaps: swaps[1],
        interval: options.interval,
        burst_events_per_s: median(burst),
        burst_swaps: swaps[2],
        pauses: pauses.measured,
        missing_pauses: pauses.missing,
        cold,
    })
}

/// Pauses reported by swaps, and how many swaps reported none.
#[derive(Default)]
struct Pauses {
    measured: Vec<Duration>,
    missing: usize,
}

/// Runs the bench pipeline once while `swapper` makes changes through an
/// admin API over `plugin_dirs`, given the filter stage's name; returns the
/// run's summary and what `swapper` returned.
fn run_while_swapping<T: Send>(
    options: &SwapBenchOptions,
    data: &Path,
    engine: &Arc<PluginEngine>,
    plugin_dirs: &[std::path::PathBuf],
    trial_wait: Duration,
    swapper: impl FnOnce(&Admin, &str) -> anyhow::Result<T> + Send,
) -> anyhow::Result<(pipeline::Summary, T)> {
    let mut pipeline = load(&options.common, data, engine, false)?;
    let stage = pipeline.stages[0].name.clone();
    let admin = Admin::new(
        pipeline.controller(),
        engine.clone(),
        plugin_dirs,
        options.trial_batches,
        trial_wait,
    )?;
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let swapping = scope.spawn(|| swapper(&admin, &stage));
        let summary = pipeline::run(pipeline, &stop);
        let swapped = swapping.join().expect("swapper thread")?;
        Ok((summary?, swapped))
    })
}

/// Three swaps, each to a build with bytes never seen before, so each
/// compiles (nothing in the cache): the request's time and its pause. A
/// compile can outlast a run, so runs are repeated (at most ten) until
/// three swaps were made.
fn cold_swaps(
    options: &SwapBenchOptions,
    data: &Path,
    engine: &Arc<PluginEngine>,
    original: &Path,
    dir: &Path,
) -> anyhow::Result<Vec<(Duration, Option<Duration>)>> {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut cold = Vec::new();
    let mut builds = 0;
    for _ in 0..10 {
        if cold.len() >= 3 {
            break;
        }
        let dirs = [dir.to_path_buf()];
        let swapper = |admin: &Admin, stage: &str| -> anyhow::Result<()> {
            while cold.len() < 3 && admin.controller().is_running() {
                builds += 1;
                let build = dir.join(format!("cold-{builds}.wasm"));
                rebuilt_copy(original, &build, &format!("cold-{nonce}-{builds}"))?;
                let started = std::time::Instant::now();
                match admin.swap(stage, Component::Path(build), None) {
                    Ok(report) if report.outcome == "swapped" => cold.push((
                        started.elapsed(),
                        report.pause_us.map(Duration::from_micros),
                    )),
                    // The run ended before the new build took over.
                    _ if !admin.controller().is_running() => break,
                    Ok(report) => {
                        anyhow::bail!("cold swap did not complete: {}", report.message)
                    }
                    Err(e) => anyhow::bail!("cold swap failed: {e}"),
                }
            }
            Ok(())
        };
        run_while_swapping(
            options,
            data,
            engine,
            &dirs,
            Duration::from_secs(60),
            swapper,
        )?;
    }
    Ok(cold)
}

/// One run; `swapping` is `None` for no swaps at all. Returns events/s and
/// the number of swaps done.
fn measure(
    options: &SwapBenchOptions,
    data: &Path,
    engine: &Arc<PluginEngine>,
    builds: &[&Path; 2],
    swapping: Option<Schedule>,
    pauses: &mut Pauses,
) -> anyhow::Result<(f64, usize)> {
    let dirs: Vec<_> = builds
        .iter()
        .filter_map(|b| b.parent().map(Path::to_path_buf))
        .collect();
    let swapper = |admin: &Admin, stage: &str| -> anyhow::Result<usize> {
        let Some(schedule) = swapping else {
            return Ok(0);
        };
        let mut done = 0;
        while admin.controller().is_running() {
            if let Some(interval) = schedule {
                std::thread::sleep(interval);
            }
            let next = builds[(done + 1) % 2];
            match admin.swap(stage, Component::Path(next.to_path_buf()), None) {
                Ok(report) if report.outcome == "swapped" => {
                    match report.pause_us {
                        Some(us) => pauses.measured.push(Duration::from_micros(us)),
                        None => pauses.missing += 1,
                    }
                    done += 1;
                }
                // The run ended while the swap was on its way or on trial.
                Ok(_) | Err(_) if !admin.controller().is_running() => break,
                Ok(report) => anyhow::bail!("swap did not complete: {}", report.message),
                Err(e) => anyhow::bail!("swap failed: {e}"),
            }
        }
        Ok(done)
    };
    let (summary, done) = run_while_swapping(
        options,
        data,
        engine,
        &dirs,
        Duration::from_secs(10),
        swapper,
    )?;
    anyhow::ensure!(
        summary.events_in == options.common.events,
        "the bench input is incomplete: {data:?}"
    );
    Ok((summary.events_per_second(), done))
}
