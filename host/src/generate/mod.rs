//! Deterministic workloads for tests, demos and benchmarks.

mod clicks;
mod payments;
mod sensors;

use std::io::{self, Write};
use std::time::{Duration, Instant};

pub use clicks::{write_clicks, ClickWorkload};
pub use payments::{write_payments, PaymentWorkload};
pub use sensors::{write_sensors, SensorWorkload};

/// Event time of the first event of every workload: 2026-01-15T08:00:00Z.
const START_MS: i64 = 1_768_464_000_000;

/// Paces a workload to `rate` events per second of wall-clock time, for a
/// live stream; without a rate, events are written as fast as they are taken.
struct Pacer {
    rate: Option<u64>,
    started: Instant,
}

impl Pacer {
    fn new(rate: Option<u64>) -> Self {
        Self {
            rate: rate.filter(|&r| r > 0),
            started: Instant::now(),
        }
    }

    /// Before event `i`: in steps of a hundredth of a second, flushes and
    /// sleeps until the event is due, so a reader downstream sees a steady
    /// stream rather than bursts.
    fn wait_for(&self, i: u64, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
        let Some(rate) = self.rate else {
            return Ok(());
        };
        if i % (rate / 100).max(1) == 0 {
            out.flush()?;
            let due = Duration::from_secs_f64(i as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(self.started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        Ok(())
    }

    /// Event time of event `i` after the first: live, it keeps pace with the
    /// wall clock; otherwise events are 1 ms apart.
    fn offset_ms(&self, i: u64) -> i64 {
        match self.rate {
            Some(rate) => (i as f64 * 1000.0 / rate as f64) as i64,
            None => i as i64,
        }
    }
}
