//! Where results go.

mod console;
mod dead_letter;
mod file;
mod kafka;
mod postgres;
mod result_id;
mod webhook;

pub use console::ConsoleSink;
pub use dead_letter::{row_position, DeadLetter, DeadLetterCounts, DeadLetterKind, DeadLetters};
pub use file::JsonFileSink;
pub use kafka::{KafkaSink, KafkaSinkSettings};
pub use postgres::{PostgresSettings, PostgresSink};
pub use result_id::result_id;
pub use webhook::{Template, WebhookSettings, WebhookSink};

use crate::data::Batch;
use crate::state::SinkPosition;

/// Receives every result batch, in order.
pub trait Sink: Send {
    fn write(&mut self, batch: &Batch) -> std::io::Result<()>;
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
    pub results: std::sync::atomic::AtomicU64,
    /// Time in the sink's calls: writing, flushing, checkpoint commits.
    pub busy_ns: std::sync::atomic::AtomicU64,
    /// The newest results, for the live page.
    pub recent: crate::pipeline::RecentRows,
}

/// A result a sink could not deliver.
#[derive(Debug)]
pub struct SinkFailure {
    pub reason: String,
    pub record: serde_json::Value,
}

/// Discards results, counting them: for benchmarks.
#[derive(Debug, Default)]
pub struct NullSink {
    pub rows: u64,
}

impl Sink for NullSink {
    fn write(&mut self, batch: &Batch) -> std::io::Result<()> {
        self.rows += batch.len() as u64;
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
