//! Where results go.

mod console;
mod context;
mod dead_letter;
mod fan_out;
mod file;
mod kafka;
mod postgres;
mod recent;
mod result_id;
mod webhook;

pub use console::ConsoleSink;
pub use context::SinkContext;
pub use dead_letter::{row_position, DeadLetter, DeadLetterCounts, DeadLetterKind, DeadLetters};
pub use fan_out::{FanOut, Tap};
pub use file::JsonFileSink;
pub use kafka::{KafkaSink, KafkaSinkSettings};
pub use postgres::{PostgresSettings, PostgresSink};
pub use recent::RecentRows;
pub use result_id::result_id;
pub use webhook::{read_ca_file, Template, WebhookSettings, WebhookSink};

use crate::data::Batch;
use crate::state::SinkPosition;

/// Receives every result batch, in order.
pub trait Sink: Send {
    /// Writes `batch`. A sink that delivers result by result (a webhook)
    /// reports its progress and its failures to `context` as they happen,
    /// and gives up on the rest once [`SinkContext::past_deadline`].
    fn write(&mut self, batch: &Batch, context: &mut SinkContext<'_>) -> std::io::Result<()>;
    /// Makes everything written so far durable or visible.
    fn flush(&mut self) -> std::io::Result<()>;
    /// Results the sink gave up on since the last call (Kafka delivery
    /// failures); the run loop dead-letters them.
    fn take_failures(&mut self) -> Vec<SinkFailure> {
        Vec::new()
    }
    /// A checkpoint is about to be written: make everything so far durable
    /// and say what the checkpoint must record to resume the output exactly.
    fn pre_commit(&mut self) -> std::io::Result<SinkPosition> {
        self.flush()?;
        Ok(SinkPosition::None)
    }
    /// The checkpoint is written: publish what [`pre_commit`](Self::pre_commit) staged.
    fn commit(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the sink thread did, read by the admin API while the pipeline runs.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// The sink's name as dead letters and logs give it (`file:out.ndjson`).
    pub name: std::sync::OnceLock<String>,
    /// Results handed to the sink and done with (delivered or dead-lettered),
    /// counted as the sink goes.
    pub results: std::sync::atomic::AtomicU64,
    /// Results dead-lettered untried because the shutdown timeout had passed.
    pub abandoned: std::sync::atomic::AtomicU64,
    /// A digest of every result a null sink received, in order: how a
    /// benchmark checks that two variants produced the same results.
    pub digest: std::sync::atomic::AtomicU64,
    /// Time in the sink's calls: writing, flushing, checkpoint commits,
    /// finished calls only; see [`SinkStats::busy_ns_now`].
    pub busy_ns: std::sync::atomic::AtomicU64,
    /// When the call in progress began ([`process_ns`]), 0 when idle: a sink
    /// stuck in one long call is busy all along, not only once it returns.
    busy_since_ns: std::sync::atomic::AtomicU64,
    /// The newest results, for the live page.
    pub recent: RecentRows,
}

/// Nanoseconds since the first call, on the monotonic clock (never 0).
fn process_ns() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
        + 1
}

impl SinkStats {
    pub fn start_busy(&self) {
        self.busy_since_ns
            .store(process_ns(), std::sync::atomic::Ordering::Relaxed);
    }

    pub fn end_busy(&self) {
        let since = self
            .busy_since_ns
            .swap(0, std::sync::atomic::Ordering::Relaxed);
        if since != 0 {
            self.busy_ns.fetch_add(
                process_ns().saturating_sub(since),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
    }

    /// Busy time so far, the call in progress included.
    pub fn busy_ns_now(&self) -> u64 {
        let since = self
            .busy_since_ns
            .load(std::sync::atomic::Ordering::Relaxed);
        let running = if since == 0 {
            0
        } else {
            process_ns().saturating_sub(since)
        };
        self.busy_ns.load(std::sync::atomic::Ordering::Relaxed) + running
    }
}

/// A result a sink could not deliver.
#[derive(Debug)]
pub struct SinkFailure {
    pub reason: String,
    pub record: serde_json::Value,
}

/// Discards results, counting them, and with `digest` folding them into
/// [`SinkStats::digest`] (which costs a JSON encoding per result): for
/// benchmarks.
#[derive(Debug, Default)]
pub struct NullSink {
    pub rows: u64,
    pub digest: bool,
}

impl Sink for NullSink {
    fn write(&mut self, batch: &Batch, context: &mut SinkContext<'_>) -> std::io::Result<()> {
        self.rows += batch.len() as u64;
        if self.digest {
            context.digest(batch)?;
        }
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
