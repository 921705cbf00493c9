//! Progress while a bounded file is read: a bar on a terminal (bytes, rate,
//! time left, records), or a plain log line now and then when standard error
//! goes to a log or a CI job. `weir run` decides which; the summary is the
//! same either way.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use indicatif::{HumanBytes, HumanDuration, ProgressBar, ProgressStyle};

use crate::source::SourceStats;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Off,
    /// An indicatif bar, redrawn ten times a second.
    Bar,
    /// A `tracing` line every `every`.
    Lines {
        every: Duration,
    },
}

/// How often the bar is redrawn and the line timer checked.
const POLL: Duration = Duration::from_millis(100);

/// Waits up to [`POLL`]; false once the run is done (`done`'s sender dropped).
fn still_running(done: &Receiver<()>) -> bool {
    matches!(done.recv_timeout(POLL), Err(RecvTimeoutError::Timeout))
}

/// Shows progress of a file of `len` bytes read from `start` until `done`
/// disconnects.
pub fn show(style: Progress, start: u64, len: u64, stats: &SourceStats, done: &Receiver<()>) {
    match style {
        Progress::Off => {}
        Progress::Bar => bar(start, len, stats, done),
        Progress::Lines { every } => lines(every, start, len, stats, done),
    }
}

fn bar(start: u64, len: u64, stats: &SourceStats, done: &Receiver<()>) {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
        )
        .expect("a valid template"),
    );
    bar.set_position(start);
    bar.reset_eta();
    loop {
        bar.set_position(stats.bytes_read.load(Ordering::Relaxed).max(start));
        bar.set_message(format!("{} records", stats.records.load(Ordering::Relaxed)));
        if !still_running(done) {
            break;
        }
    }
    bar.finish_and_clear();
}

fn lines(every: Duration, start: u64, len: u64, stats: &SourceStats, done: &Receiver<()>) {
    let began = Instant::now();
    let mut next = began + every;
    while still_running(done) {
        if Instant::now() < next {
            continue;
        }
        next += every;
        let read = stats.bytes_read.load(Ordering::Relaxed).max(start);
        let records = stats.records.load(Ordering::Relaxed);
        let line = progress_line(
            read - start,
            len.saturating_sub(start),
            records,
            began.elapsed(),
        );
        tracing::info!("{line}");
    }
}

/// `read` of `total` bytes (this run's share of the file) in `elapsed`.
fn progress_line(read: u64, total: u64, records: u64, elapsed: Duration) -> String {
    let percent = match total {
        0 => 100.0,
        _ => read as f64 * 100.0 / total as f64,
    };
    let per_second = read as f64 / elapsed.as_secs_f64().max(1e-3);
    let left = match per_second > 0.0 {
        true => {
            let seconds = total.saturating_sub(read) as f64 / per_second;
            format!(
                "about {} left",
                HumanDuration(Duration::from_secs_f64(seconds))
            )
        }
        false => "time left unknown".into(),
    };
    format!(
        "read {percent:.0}% ({} of {}), {records} records, {}/s, {left}",
        HumanBytes(read),
        HumanBytes(total),
        HumanBytes(per_second as u64),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_says_how_far_how_fast_and_how_long_is_left() {
        let line = progress_line(25 << 20, 100 << 20, 12_345, Duration::from_secs(5));
        assert_eq!(
            line,
            "read 25% (25.00 MiB of 100.00 MiB), 12345 records, 5.00 MiB/s, about 15 seconds left"
        );
    }
}
