//! Where results go.

mod console;
mod dead_letter;
mod file;

pub use console::ConsoleSink;
pub use dead_letter::{row_position, DeadLetter, DeadLetterCounts, DeadLetterKind, DeadLetters};
pub use file::JsonFileSink;

use crate::data::Batch;

/// Receives every result batch, in order.
pub trait Sink: Send {
    fn write(&mut self, batch: &Batch) -> std::io::Result<()>;
    /// Makes everything written so far durable or visible.
    fn flush(&mut self) -> std::io::Result<()>;
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
