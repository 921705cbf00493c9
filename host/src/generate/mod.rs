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

/// How a generator writes event times: the forms users' data has them in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TimeFormat {
    /// `"2026-01-15 08:00:00.250"` (UTC), as the guide's Flink `TIMESTAMP(3)`
    /// JSON source has it.
    #[default]
    Guide,
    /// `"2026-01-15T09:00:00.250+01:00"`: RFC 3339 with an offset.
    Rfc3339,
    /// `1768464000250`: epoch milliseconds, a JSON number.
    EpochMs,
}

impl TimeFormat {
    pub fn write(self, out: &mut (impl Write + ?Sized), millis: i64) -> io::Result<()> {
        use chrono::{DateTime, FixedOffset};
        let Some(utc) = DateTime::from_timestamp_millis(millis) else {
            return write!(out, "{millis}");
        };
        match self {
            TimeFormat::Guide => write!(out, "\"{}\"", utc.format("%Y-%m-%d %H:%M:%S%.3f")),
            TimeFormat::Rfc3339 => {
                let offset = FixedOffset::east_opt(3_600).expect("one hour is an offset");
                let local = utc.with_timezone(&offset);
                write!(out, "\"{}\"", local.format("%Y-%m-%dT%H:%M:%S%.3f%:z"))
            }
            TimeFormat::EpochMs => write!(out, "{millis}"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TimeFormat::Guide => "guide (2023-12-31 23:59:58.890)",
            TimeFormat::Rfc3339 => "RFC 3339 with offset",
            TimeFormat::EpochMs => "epoch milliseconds",
        }
    }
}

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
