//! `weir bench --baseline PATH`: the seed query with the Wasm plugins run by
//! another `weir` binary (a previous release, a build before a change) and by
//! this one, each as a `weir run` process on the same file, alternating, so
//! a change is measured before and after in the same run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::ingest::Rate;
use super::{write_pipeline, BenchOptions};

/// The baseline binary's rate and this binary's, measured alike.
#[derive(Debug, Clone)]
pub struct BaselineReport {
    pub baseline: String,
    pub before: Rate,
    pub after: Rate,
}

pub fn compare(
    options: &BenchOptions,
    data: &Path,
    baseline: &Path,
) -> anyhow::Result<BaselineReport> {
    let (file, _) = write_pipeline(options, data, "weir-bench-baseline.toml")?;
    let this = std::env::current_exe()?;
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for run in 0..options.runs {
        before.push(run_process(baseline, &file, options.events)?);
        after.push(run_process(&this, &file, options.events)?);
        eprintln!(
            "run {}: baseline {:.2}, this build {:.2} M events/s",
            run + 1,
            before[run].events_per_s / 1e6,
            after[run].events_per_s / 1e6
        );
    }
    Ok(BaselineReport {
        baseline: baseline.display().to_string(),
        before: Rate::median_of(&before),
        after: Rate::median_of(&after),
    })
}

/// One `weir run FILE` by `binary`: events/s by wall time, CPU of the
/// process (all threads) per event.
fn run_process(binary: &Path, file: &Path, events: u64) -> anyhow::Result<Rate> {
    let cpu_before = children_cpu_ns();
    let started = Instant::now();
    let status = Command::new(binary)
        .arg("run")
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        status.success(),
        "`{} run {}` failed ({status})",
        binary.display(),
        file.display()
    );
    Ok(Rate {
        events_per_s: events as f64 / seconds,
        cpu_ns: (children_cpu_ns() - cpu_before) / events as f64,
    })
}

/// User + system CPU time of every child process waited for so far, in ns.
fn children_cpu_ns() -> f64 {
    super::rusage_cpu_ns(libc::RUSAGE_CHILDREN)
}
