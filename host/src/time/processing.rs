//! Processing time: the host's clock, for windows that bucket rows by when
//! they arrive rather than by when they happened.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch that never go backwards: the wall clock
/// read once, then advanced by a monotonic clock, so an NTP step cannot
/// reopen a window that already fired.
#[derive(Debug, Clone, Copy)]
pub struct ProcessingClock {
    base_ms: i64,
    started: Instant,
}

impl ProcessingClock {
    pub fn new() -> Self {
        let base_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Self {
            base_ms,
            started: Instant::now(),
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.base_ms + self.started.elapsed().as_millis() as i64
    }
}

impl Default for ProcessingClock {
    fn default() -> Self {
        Self::new()
    }
}
