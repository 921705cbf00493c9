//! A progress bar on the terminal while a bounded file is read: bytes, rate
//! and time left, and the records so far. Only when standard error is a
//! terminal (`weir run` decides); logs and the summary are unchanged.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::source::SourceStats;

/// Shows progress of a file of `len` bytes read from `start` until `done`.
pub fn show(start: u64, len: u64, stats: &SourceStats, done: &AtomicBool) {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
        )
        .expect("a valid template"),
    );
    bar.set_position(start);
    bar.reset_eta();
    while !done.load(Ordering::Relaxed) {
        bar.set_position(stats.bytes_read.load(Ordering::Relaxed).max(start));
        bar.set_message(format!("{} records", stats.records.load(Ordering::Relaxed)));
        std::thread::sleep(Duration::from_millis(100));
    }
    bar.finish_and_clear();
}
