//! Records that could not be processed, kept with the reason and where they
//! came from: nothing is dropped silently.

use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, Write};
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
    /// A native expression (a filter, a computed field) could not compute
    /// the row's value: a division by zero, a failed CAST.
    Expression,
    /// The sink could not deliver the result.
    Sink,
    /// A lookup join found no row in its table for the row's key.
    Unmatched,
}

impl DeadLetterKind {
    pub const ALL: [DeadLetterKind; 6] = [
        Self::Decode,
        Self::Late,
        Self::Plugin,
        Self::Expression,
        Self::Sink,
        Self::Unmatched,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Decode => "decode",
            Self::Late => "late",
            Self::Plugin => "plugin",
            Self::Expression => "expression",
            Self::Sink => "sink",
            Self::Unmatched => "unmatched",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DeadLetter<'a> {
    pub kind: DeadLetterKind,
    /// The stage that sent the row, when one did: with branches, one row
    /// can be late for two windows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<&'a str>,
    pub reason: &'a str,
    /// `file:line`, or the operator for results of a window.
    pub source: &'a str,
    /// The raw line for decode errors, the decoded row otherwise.
    pub record: serde_json::Value,
}

/// The dead-letter output, shared by every stage. Dead letters are rare, so a
/// lock is cheaper than another thread.
///
/// In a run, the operator thread writes to a [`staged`](Self::staged)
/// handle whose lines travel to the sink thread in order with the results,
/// and only the sink thread writes the file. The file's length when a
/// checkpoint is written then covers exactly the input before it, and a
/// resume truncates the file to that length before the input after it is
/// read again: dead letters are exactly-once, as results are.
pub struct DeadLetters {
    out: Mutex<Output>,
    counts: Arc<DeadLetterCounts>,
}

enum Output {
    File {
        file: BufWriter<File>,
        /// Bytes in the file, written or not yet flushed.
        len: u64,
    },
    Stream(Box<dyn Write + Send>),
    Staged(Vec<u8>),
}

impl Write for Output {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Self::File { file, len } => {
                file.write_all(bytes)?;
                *len += bytes.len() as u64;
                Ok(bytes.len())
            }
            Self::Stream(out) => out.write(bytes),
            Self::Staged(buffer) => buffer.write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::File { file, .. } => file.flush(),
            Self::Stream(out) => out.flush(),
            Self::Staged(_) => Ok(()),
        }
    }
}

/// Dead letters so far, by [`DeadLetterKind`] (shared with the metrics).
pub type DeadLetterCounts = [AtomicU64; DeadLetterKind::ALL.len()];

impl DeadLetters {
    /// Dead letters to `path`: a new file, or with `resume_at` (the length
    /// a checkpoint recorded) the file as it stood at that checkpoint, to
    /// be appended to.
    pub fn to_file(path: &Path, resume_at: Option<u64>) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let Some(resume_at) = resume_at else {
            let file = BufWriter::new(File::create(path)?);
            return Ok(Self::new(Output::File { file, len: 0 }));
        };
        let mut file = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(path)?;
        let found = file.metadata()?.len();
        if found > resume_at {
            // Written after the checkpoint: the input behind them is read again.
            file.set_len(resume_at)?;
        } else if found < resume_at {
            tracing::warn!(
                path = %path.display(),
                "the dead-letter file is {found} bytes, shorter than the {resume_at} bytes the checkpoint recorded; appending to it as it is"
            );
        }
        let len = file.seek(io::SeekFrom::End(0))?;
        Ok(Self::new(Output::File {
            file: BufWriter::new(file),
            len,
        }))
    }

    pub fn to_stderr() -> Self {
        Self::new(Output::Stream(Box::new(io::stderr())))
    }

    pub fn discard() -> Self {
        Self::new(Output::Stream(Box::new(io::sink())))
    }

    fn new(out: Output) -> Self {
        Self {
            out: Mutex::new(out),
            counts: Default::default(),
        }
    }

    /// A handle that keeps its dead letters until [`take_staged`](Self::take_staged)
    /// and counts them with this one.
    pub fn staged(&self) -> Self {
        Self {
            out: Mutex::new(Output::Staged(Vec::new())),
            counts: self.counts.clone(),
        }
    }

    /// The lines a staged handle holds, to be written with
    /// [`write_staged`](Self::write_staged) on the writing side.
    pub fn take_staged(&self) -> Vec<u8> {
        match &mut *self.lock() {
            Output::Staged(buffer) => std::mem::take(buffer),
            _ => Vec::new(),
        }
    }

    /// Writes lines from a staged handle (already counted there).
    pub fn write_staged(&self, lines: &[u8]) -> io::Result<()> {
        self.lock().write_all(lines)
    }

    /// Bytes in the dead-letter file, flushed or not: what a checkpoint records.
    pub fn position(&self) -> u64 {
        match &*self.lock() {
            Output::File { len, .. } => *len,
            _ => 0,
        }
    }

    /// Flushes, and for a file makes what was written durable.
    pub fn sync(&self) -> io::Result<()> {
        let mut out = self.lock();
        out.flush()?;
        match &*out {
            Output::File { file, .. } => file.get_ref().sync_data(),
            _ => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Output> {
        self.out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes `letter`; its reason names the problem, never a secret of
    /// the pipeline (the record is the input's, kept as it was).
    pub fn send(&self, letter: &DeadLetter<'_>) -> io::Result<()> {
        self.counts[letter.kind as usize].fetch_add(1, Ordering::Relaxed);
        let mut line = match crate::redact::secrets(letter.reason) {
            std::borrow::Cow::Borrowed(_) => serde_json::to_vec(letter)?,
            std::borrow::Cow::Owned(reason) => serde_json::to_vec(&DeadLetter {
                reason: &reason,
                record: letter.record.clone(),
                ..*letter
            })?,
        };
        line.push(b'\n');
        self.lock().write_all(&line)
    }

    /// Dead-letters row `row` of `batch`, recording the row as JSON and its
    /// source position.
    pub fn send_row(
        &self,
        kind: DeadLetterKind,
        stage: Option<&str>,
        reason: &str,
        origin: &Origin,
        batch: &Batch,
        row: usize,
    ) -> io::Result<()> {
        let record =
            serde_json::to_value(JsonRow::new(batch.row(row))).unwrap_or(serde_json::Value::Null);
        self.send(&DeadLetter {
            kind,
            stage,
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
        self.lock().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_names_no_secret_and_the_record_is_kept_as_it_came() {
        crate::redact::add_secrets(&["dead-letter-secret-1".to_string()]);
        let letters = DeadLetters::discard().staged();
        letters
            .send(&DeadLetter {
                kind: DeadLetterKind::Sink,
                stage: None,
                reason: "HTTP 500 from https://h/dead-letter-secret-1",
                source: "sink",
                record: serde_json::json!({ "note": "dead-letter-secret-1" }),
            })
            .unwrap();
        let line = String::from_utf8(letters.take_staged()).unwrap();
        assert!(
            line.contains(r#""reason":"HTTP 500 from https://h/***""#),
            "{line}"
        );
        assert!(line.contains(r#""note":"dead-letter-secret-1""#), "{line}");
    }
}
