//! What a sink may know of the run while it writes: how far delivery has
//! come, where to put a result it gives up on, and whether the run is
//! stopping and for how much longer it may try.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{DeadLetter, DeadLetterKind, DeadLetters, SinkFailure, SinkStats};

/// Handed to [`super::Sink::write`] by the sink thread.
pub struct SinkContext<'a> {
    stats: &'a SinkStats,
    dead: &'a DeadLetters,
    /// Named in the dead letters of results it gives up on.
    sink_name: String,
    stop: &'a AtomicBool,
    shutdown_timeout: Duration,
    stopping_since: Option<Instant>,
    /// Results of the batch being written already counted by the sink.
    counted: u64,
}

impl<'a> SinkContext<'a> {
    pub fn new(
        stats: &'a SinkStats,
        dead: &'a DeadLetters,
        sink_name: &'a str,
        stop: &'a AtomicBool,
        shutdown_timeout: Duration,
    ) -> Self {
        Self {
            stats,
            dead,
            sink_name: sink_name.to_string(),
            stop,
            shutdown_timeout,
            stopping_since: None,
            counted: 0,
        }
    }

    /// The sink now writing, when several share the thread (see
    /// [`super::FanOut`]).
    pub fn set_sink_name(&mut self, name: &str) {
        if self.sink_name != name {
            self.sink_name = name.to_string();
        }
    }

    /// `n` results of the batch are done with (delivered, or given up on):
    /// counted as they happen, so a slow sink's progress shows while it works.
    pub fn done(&mut self, n: u64) {
        self.counted += n;
        self.stats.results.fetch_add(n, Ordering::Relaxed);
    }

    /// Folds `batch`'s rows, as JSON, into [`SinkStats::digest`] (FNV-1a):
    /// equal digests mean equal results in equal order.
    pub fn digest(&mut self, batch: &crate::data::Batch) -> io::Result<()> {
        let mut digest = self.stats.digest.load(Ordering::Relaxed);
        let mut json = Vec::new();
        for row in 0..batch.len() {
            json.clear();
            serde_json::to_writer(
                &mut json,
                &crate::format::json::JsonRow::new(batch.row(row)),
            )?;
            json.push(b'\n');
            for &byte in &json {
                digest = (digest ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        self.stats.digest.store(digest, Ordering::Relaxed);
        Ok(())
    }

    /// A result the sink gave up on: dead-lettered now, not when the batch ends.
    pub fn failed(&mut self, failure: SinkFailure) -> io::Result<()> {
        self.dead.send(&DeadLetter {
            kind: DeadLetterKind::Sink,
            stage: None,
            reason: &failure.reason,
            source: &self.sink_name,
            record: failure.record,
        })
    }

    /// When the run was asked to stop, the moment by which the sink must
    /// have given up on what it has not delivered; `None` while it runs.
    pub fn deadline(&mut self) -> Option<Instant> {
        if self.stopping_since.is_none() && self.stop.load(Ordering::Relaxed) {
            self.stopping_since = Some(Instant::now());
        }
        self.stopping_since
            .map(|since| since + self.shutdown_timeout)
    }

    /// Whether the shutdown deadline has passed: give up on the rest.
    pub fn past_deadline(&mut self) -> bool {
        self.deadline()
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// Why a result is given up on at the deadline, for its dead letter.
    pub fn abandon_reason(&self) -> String {
        format!(
            "not delivered: the run was asked to stop and the sink was still trying after shutdown_timeout ({} s)",
            self.shutdown_timeout.as_secs_f64()
        )
    }

    /// Sleeps `wait`, or less to wake at the shutdown deadline.
    pub fn sleep(&mut self, wait: Duration) {
        let until = Instant::now() + wait;
        loop {
            let now = Instant::now();
            let wake = match self.deadline() {
                Some(deadline) => until.min(deadline),
                None => until,
            };
            if now >= wake {
                return;
            }
            // Short naps so a stop request is noticed while waiting.
            std::thread::sleep((wake - now).min(Duration::from_millis(100)));
        }
    }

    /// Starts a batch: its results count as done once it is written,
    /// unless the sink counted them earlier with [`done`](Self::done).
    pub(crate) fn begin_batch(&mut self) {
        self.counted = 0;
    }

    /// The batch of `len` results is written: counts what the sink did not.
    pub(crate) fn end_batch(&mut self, len: u64) {
        let rest = len.saturating_sub(self.counted);
        self.stats.results.fetch_add(rest, Ordering::Relaxed);
        self.counted = 0;
    }
}

/// Runs `f` with a context of a run that is not stopping, for sink tests.
#[cfg(test)]
pub(crate) fn with_test_context<R>(f: impl FnOnce(&mut SinkContext<'_>) -> R) -> R {
    let (stats, dead, stop) = (
        SinkStats::default(),
        DeadLetters::discard(),
        AtomicBool::new(false),
    );
    f(&mut SinkContext::new(
        &stats,
        &dead,
        "test",
        &stop,
        Duration::from_secs(30),
    ))
}
