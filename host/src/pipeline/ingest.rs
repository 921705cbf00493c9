//! Source → decode → event time and watermark, the first stages of every run.
//!
//! Decoding is the most expensive step per event, so it runs on several
//! threads: a reader cuts the input into chunks of lines, decoders turn chunks
//! into typed rows in parallel, and a sequencer puts the chunks back in input
//! order and stamps each row with its watermark. Watermarks are assigned
//! sequentially, in input order, so results do not depend on how many
//! decoders there are or which finishes first.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::data::{Batch, BatchBuilder, Schema};
use crate::format::json::decode_record;
use crate::format::timestamp;
use crate::sink::{DeadLetter, DeadLetterKind, DeadLetters};
use crate::source::{LineSource, ReadOutcome};
use crate::time::{BoundedOutOfOrderness, FutureLimit};

/// Up to a batch of raw lines, in input order.
pub struct RawChunk {
    seq: u64,
    data: Vec<u8>,
    records: Vec<RawRecord>,
}

struct RawRecord {
    line: u64,
    /// `data[start..end]`; empty for a line over the length limit.
    start: usize,
    end: usize,
    /// Length of a line that was over the limit and skipped, else 0.
    too_long: usize,
}

/// A chunk decoded into rows (watermarks not yet assigned) and failures.
pub struct DecodedChunk {
    seq: u64,
    rows: Batch,
    failures: Vec<DecodeFailure>,
}

struct DecodeFailure {
    line: u64,
    reason: String,
    raw: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("reading {source_name}: {error}")]
pub struct ReadError {
    source_name: String,
    error: std::io::Error,
}

/// Reads `source` into chunks of up to `chunk_lines` lines until its end or
/// `stop`. Sets `complete` when the end of the input was reached. Returns the
/// number of records (non-blank lines) read.
pub fn read_chunks(
    mut source: LineSource,
    chunk_lines: usize,
    out: Sender<RawChunk>,
    stop: &AtomicBool,
    complete: &AtomicBool,
) -> Result<u64, ReadError> {
    let mut chunk = RawChunk {
        seq: 0,
        data: Vec::new(),
        records: Vec::with_capacity(chunk_lines),
    };
    let mut line = Vec::new();
    let mut records = 0u64;
    let read_error = |source: &LineSource, error| ReadError {
        source_name: source.name().into(),
        error,
    };
    loop {
        if !source.wait_for_input(stop) {
            break;
        }
        match source
            .read_line(&mut line)
            .map_err(|e| read_error(&source, e))?
        {
            ReadOutcome::Eof => {
                complete.store(true, Ordering::SeqCst);
                break;
            }
            ReadOutcome::Line if line.iter().all(u8::is_ascii_whitespace) => {}
            outcome => {
                let too_long = match outcome {
                    ReadOutcome::TooLong(bytes) => bytes,
                    _ => 0,
                };
                let start = chunk.data.len();
                chunk.data.extend_from_slice(&line);
                chunk.records.push(RawRecord {
                    line: source.line_number(),
                    start,
                    end: chunk.data.len(),
                    too_long,
                });
                records += 1;
            }
        }
        let ready = chunk.records.len() >= chunk_lines
            || (!chunk.records.is_empty() && source.would_wait());
        if ready {
            let next = RawChunk {
                seq: chunk.seq + 1,
                data: Vec::with_capacity(chunk.data.len()),
                records: Vec::with_capacity(chunk_lines),
            };
            if out.send(std::mem::replace(&mut chunk, next)).is_err() {
                return Ok(records); // downstream stopped; its error is reported there
            }
        }
    }
    if !chunk.records.is_empty() {
        let _ = out.send(chunk);
    }
    Ok(records)
}

/// Decodes chunks from `input` until it closes.
pub fn decode_chunks(
    schema: &Arc<Schema>,
    time_column: usize,
    input: Receiver<RawChunk>,
    out: Sender<DecodedChunk>,
) {
    for chunk in input {
        if out.send(decode_chunk(schema, time_column, chunk)).is_err() {
            return;
        }
    }
}

fn decode_chunk(schema: &Arc<Schema>, time_column: usize, chunk: RawChunk) -> DecodedChunk {
    let mut builder = BatchBuilder::new(schema.clone(), chunk.records.len());
    let mut failures = Vec::new();
    for record in &chunk.records {
        if record.too_long > 0 {
            let reason = format!(
                "line is {} bytes, over the limit (source max_line_bytes)",
                record.too_long
            );
            failures.push(DecodeFailure {
                line: record.line,
                reason,
                raw: None,
            });
            continue;
        }
        let line = &chunk.data[record.start..record.end];
        match decode_record(schema, builder.columns_mut(), line) {
            Ok(()) => {
                let event_time = builder.last_int(time_column).unwrap_or(i64::MIN);
                builder.commit_row(event_time, i64::MIN, record.line);
            }
            Err(reason) => {
                builder.rollback_row();
                failures.push(DecodeFailure {
                    line: record.line,
                    reason,
                    raw: Some(String::from_utf8_lossy(line).into_owned()),
                });
            }
        }
    }
    DecodedChunk {
        seq: chunk.seq,
        rows: builder.take(i64::MIN),
        failures,
    }
}

/// Restores input order and assigns watermarks.
pub struct Sequencer {
    watermarks: BoundedOutOfOrderness,
    future: FutureLimit,
    pending: BTreeMap<u64, DecodedChunk>,
    next: u64,
    source_name: String,
    events: u64,
}

impl Sequencer {
    pub fn new(
        watermarks: BoundedOutOfOrderness,
        future: FutureLimit,
        source_name: String,
    ) -> Self {
        Self {
            watermarks,
            future,
            pending: BTreeMap::new(),
            next: 0,
            source_name,
            events: 0,
        }
    }

    /// Events decoded so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Accepts a chunk in any order; returns the batches now ready, in input order.
    pub fn accept(
        &mut self,
        chunk: DecodedChunk,
        dead: &DeadLetters,
    ) -> std::io::Result<Vec<Batch>> {
        self.pending.insert(chunk.seq, chunk);
        let mut ready = Vec::new();
        while let Some(chunk) = self.pending.remove(&self.next) {
            self.next += 1;
            for failure in &chunk.failures {
                let position = format!("{}:{}", self.source_name, failure.line);
                let record = failure
                    .raw
                    .clone()
                    .map_or(serde_json::Value::Null, serde_json::Value::String);
                dead.send(&DeadLetter {
                    kind: DeadLetterKind::Decode,
                    reason: &failure.reason,
                    source: &position,
                    record,
                })?;
            }
            let mut batch = self.drop_future_events(chunk.rows, dead)?;
            for (watermark, &event_time) in batch.watermark.iter_mut().zip(&batch.event_time) {
                *watermark = self.watermarks.observe(event_time);
            }
            batch.end_watermark = self.watermarks.current();
            self.events += batch.len() as u64;
            if !batch.is_empty() {
                ready.push(batch);
            }
        }
        Ok(ready)
    }

    /// Dead-letters rows stamped too far in the future (see [`FutureLimit`]).
    fn drop_future_events(&self, batch: Batch, dead: &DeadLetters) -> std::io::Result<Batch> {
        let latest = self.future.latest(FutureLimit::now_ms());
        if batch.event_time.iter().all(|&t| t <= latest) {
            return Ok(batch);
        }
        let mut kept = Vec::with_capacity(batch.len());
        for (row, &event_time) in batch.event_time.iter().enumerate() {
            if event_time <= latest {
                kept.push(row as u32);
                continue;
            }
            let reason = format!(
                "implausible event time {}: more than max_future ({} ms) ahead of the host clock; \
                 it would make every later event late",
                timestamp::format(event_time),
                self.future.max_future_ms()
            );
            dead.send_row(
                DeadLetterKind::Decode,
                &reason,
                &self.source_name,
                &batch,
                row,
            )?;
        }
        Ok(batch.gather(&kept))
    }
}
