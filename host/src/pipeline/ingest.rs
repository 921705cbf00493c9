//! Source → decode → event time and watermark: the first stage of every run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use crate::data::{Batch, BatchBuilder, Schema};
use crate::format::json::decode_record;
use crate::sink::{DeadLetter, DeadLetterKind, DeadLetters};
use crate::source::{LineSource, ReadOutcome};
use crate::time::BoundedOutOfOrderness;

pub struct IngestCounts {
    pub records_read: u64,
    pub events_in: u64,
    pub completed: bool,
}

pub struct Ingest {
    pub schema: Arc<Schema>,
    pub time_column: usize,
    pub watermarks: BoundedOutOfOrderness,
    pub batch_size: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("reading {source_name}: {error}")]
    Read {
        source_name: String,
        error: std::io::Error,
    },
    #[error("writing dead letters: {0}")]
    DeadLetter(std::io::Error),
}

impl Ingest {
    /// Reads `source` to its end (or until `stop`), sending batches downstream.
    /// At the end of a bounded input the watermark jumps to the end of time, so
    /// every remaining window fires, as Flink does for bounded sources.
    pub fn run(
        mut self,
        mut source: LineSource,
        out: SyncSender<Batch>,
        dead: &DeadLetters,
        stop: &AtomicBool,
    ) -> Result<IngestCounts, IngestError> {
        let mut builder = BatchBuilder::new(self.schema.clone(), self.batch_size);
        let mut line = Vec::new();
        let mut counts = IngestCounts {
            records_read: 0,
            events_in: 0,
            completed: false,
        };
        let max_line = source.name().to_string();
        loop {
            if stop.load(Ordering::Relaxed) {
                let _ = out.send(builder.take(self.watermarks.current()));
                return Ok(counts);
            }
            let outcome = source
                .read_line(&mut line)
                .map_err(|error| IngestError::Read {
                    source_name: source.name().into(),
                    error,
                })?;
            match outcome {
                ReadOutcome::Eof => break,
                ReadOutcome::TooLong(bytes) => {
                    counts.records_read += 1;
                    let reason =
                        format!("line is {bytes} bytes, over the limit (source max_line_bytes)");
                    let position = format!("{max_line}:{}", source.line_number());
                    let letter = DeadLetter {
                        kind: DeadLetterKind::Decode,
                        reason: &reason,
                        source: &position,
                        record: serde_json::Value::Null,
                    };
                    dead.send(&letter).map_err(IngestError::DeadLetter)?;
                }
                ReadOutcome::Line if line.iter().all(u8::is_ascii_whitespace) => {}
                ReadOutcome::Line => {
                    counts.records_read += 1;
                    match decode_record(&self.schema, builder.columns_mut(), &line) {
                        Ok(()) => {
                            let event_time = builder.last_int(self.time_column).unwrap_or(i64::MIN);
                            let watermark = self.watermarks.observe(event_time);
                            builder.commit_row(event_time, watermark, source.line_number());
                            counts.events_in += 1;
                        }
                        Err(reason) => {
                            builder.rollback_row();
                            let position = format!("{max_line}:{}", source.line_number());
                            let record = serde_json::Value::String(
                                String::from_utf8_lossy(&line).into_owned(),
                            );
                            let letter = DeadLetter {
                                kind: DeadLetterKind::Decode,
                                reason: &reason,
                                source: &position,
                                record,
                            };
                            dead.send(&letter).map_err(IngestError::DeadLetter)?;
                        }
                    }
                }
            }
            let ready = builder.is_full() || (!builder.is_empty() && source.would_wait());
            if ready && out.send(builder.take(self.watermarks.current())).is_err() {
                return Ok(counts); // downstream stopped; its error is reported there
            }
        }
        if !builder.is_empty() {
            let _ = out.send(builder.take(self.watermarks.current()));
        }
        let _ = out.send(Batch::empty(self.schema.clone(), i64::MAX));
        counts.completed = true;
        Ok(counts)
    }
}
