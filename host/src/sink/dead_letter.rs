//! Records that could not be processed, kept with the reason and where they
//! came from: nothing is dropped silently.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::data::{Batch, Origin};
use crate::format::json::JsonRow;

/// Where row `row` of `batch` came from, in words (see [`Origin::describe`]).
pub fn row_position(origin: &Origin, batch: &Batch, row: usize) -> String {
    origin.describe(batch.position[row])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeadLetterKind {
    /// The record could not be decoded against the schema.
    Decode,
    /// The record arrived after its window had fired.
    Late,
    /// A plugin failed on the batch holding the record.
    Plugin,
    /// The sink could not deliver the result.
    Sink,
}

impl DeadLetterKind {
    pub const ALL: [DeadLetterKind; 4] = [Self::Decode, Self::Late, Self::Plugin, Self::Sink];

    pub fn name(self) -> &'static str {
        match self {
            Self::Decode => "decode",
            Self::Late => "late",
            Self::Plugin => "plugin",
            Self::Sink => "sink",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DeadLetter<'a> {
    pub kind: DeadLetterKind,
    pub reason: &'a str,
    /// `file:line`, or the operator for results of a window.
    pub source: &'a str,
    /// The raw line for decode errors, the decoded row otherwise.
    pub record: serde_json::Value,
}

/// The dead-letter output, shared by every stage. Dead letters are rare, so a
/// lock is cheaper than another thread.
pub struct DeadLetters {
    out: Mutex<Box<dyn Write + Send>>,
    counts: Arc<DeadLetterCounts>,
}

/// Dead letters so far, by [`DeadLetterKind`] (shared with the metrics).
pub type DeadLetterCounts = [AtomicU64; 4];

impl DeadLetters {
    pub fn to_file(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let file = File::create(path)?;
        Ok(Self::new(Box::new(BufWriter::new(file))))
    }

    pub fn to_stderr() -> Self {
        Self::new(Box::new(io::stderr()))
    }

    pub fn discard() -> Self {
        Self::new(Box::new(io::sink()))
    }

    fn new(out: Box<dyn Write + Send>) -> Self {
        Self {
            out: Mutex::new(out),
            counts: Default::default(),
        }
    }

    pub fn send(&self, letter: &DeadLetter<'_>) -> io::Result<()> {
        self.counts[letter.kind as usize].fetch_add(1, Ordering::Relaxed);
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        serde_json::to_writer(&mut *out, letter)?;
        out.write_all(b"\n")
    }

    /// Dead-letters row `row` of `batch`, recording the row as JSON and its
    /// source position.
    pub fn send_row(
        &self,
        kind: DeadLetterKind,
        reason: &str,
        origin: &Origin,
        batch: &Batch,
        row: usize,
    ) -> io::Result<()> {
        let record =
            serde_json::to_value(JsonRow::new(batch.row(row))).unwrap_or(serde_json::Value::Null);
        self.send(&DeadLetter {
            kind,
            reason,
            source: &row_position(origin, batch, row),
            record,
        })
    }

    /// The live counters, for metrics.
    pub fn counts(&self) -> Arc<DeadLetterCounts> {
        self.counts.clone()
    }

    pub fn count(&self, kind: DeadLetterKind) -> u64 {
        self.counts[kind as usize].load(Ordering::Relaxed)
    }

    pub fn flush(&self) -> io::Result<()> {
        self.out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .flush()
    }
}
