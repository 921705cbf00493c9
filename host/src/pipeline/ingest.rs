//! Source → decode, the first stages of every run (the sequencer, in
//! `sequencer.rs`, comes next).
//!
//! Decoding is the most expensive step per event, so it runs on several
//! threads: a reader cuts the input into chunks of lines, and decoders turn
//! chunks into typed rows in parallel.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::data::{position, Batch, BatchBuilder, ColumnBuilder, FieldType, Schema, Value};
use crate::format::avro_read::AvroRecordReader;
use crate::format::csv::{CsvDecoder, CsvLayout};
use crate::format::json::decode_record_filling;
use crate::source::{
    LineSource, QuotedRecords, RawChunk, RawRecord, ReadOutcome, SourceStats, StreamChange,
};

/// A chunk decoded into rows (watermarks not yet assigned) and failures.
pub struct DecodedChunk {
    pub(super) seq: u64,
    pub(super) rows: Batch,
    pub(super) failures: Vec<DecodeFailure>,
    pub(super) changes: Vec<StreamChange>,
    /// Per stream, the sequence number of the chunk's last record, decoded
    /// or not: what was consumed.
    pub(super) consumed: Vec<(u32, u64)>,
    pub(super) resume_at: Option<(u64, u64)>,
}

pub(super) struct DecodeFailure {
    pub(super) position: u64,
    pub(super) reason: String,
    pub(super) raw: Option<String>,
}

/// Schema fields a Kafka record may take from its message rather than its value.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageFields {
    pub key: Option<usize>,
    pub timestamp: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
#[error("reading {source_name}: {error}")]
pub struct ReadError {
    source_name: String,
    error: std::io::Error,
}

impl ReadError {
    pub fn new(source_name: &str, error: std::io::Error) -> Self {
        Self {
            source_name: source_name.into(),
            error,
        }
    }
}

/// Reads `source` into chunks of up to `chunk_lines` records until its end
/// or `stop`. Sets `complete` when the end of the input was reached. Counts
/// the records (non-blank lines) read in `stats`. A record is a line, or
/// with `quoted` (CSV) as many lines as a quoted field spans.
#[allow(clippy::too_many_arguments)]
pub fn read_chunks(
    mut source: LineSource,
    quoted: bool,
    chunk_lines: usize,
    out: Sender<RawChunk>,
    stop: &AtomicBool,
    complete: &AtomicBool,
    stats: &SourceStats,
) -> Result<(), ReadError> {
    let mut chunk = RawChunk::new(0, chunk_lines);
    let mut line = Vec::new();
    let mut records = quoted.then(QuotedRecords::default);
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
            ReadOutcome::Wait => {}
            ReadOutcome::Line
                if line.iter().all(u8::is_ascii_whitespace)
                    && !records.as_ref().is_some_and(QuotedRecords::is_open) => {}
            outcome => {
                let too_long = match outcome {
                    ReadOutcome::TooLong(bytes) => bytes,
                    _ => 0,
                };
                let added = match &mut records {
                    Some(records) => records.push_line(
                        source.line_number(),
                        &line,
                        too_long,
                        source.max_line_bytes(),
                        &mut chunk,
                    ),
                    None => {
                        chunk.push(source.line_number(), &line).too_long = too_long;
                        1
                    }
                };
                stats.records.fetch_add(added, Ordering::Relaxed);
            }
        }
        let open = records.as_ref().is_some_and(QuotedRecords::is_open);
        let ready = !open
            && (chunk.records.len() >= chunk_lines
                || (!chunk.records.is_empty() && source.would_wait()));
        if ready {
            chunk.resume_at = source.resume_position();
            if let Some((offset, _)) = chunk.resume_at {
                stats.bytes_read.store(offset, Ordering::Relaxed);
            }
            let next = chunk.next();
            if out.send(std::mem::replace(&mut chunk, next)).is_err() {
                return Ok(()); // downstream stopped; its error is reported there
            }
        }
    }
    if let Some(records) = &mut records {
        let added = records.finish(&mut chunk);
        stats.records.fetch_add(added, Ordering::Relaxed);
    }
    if !chunk.records.is_empty() {
        chunk.resume_at = source.resume_position();
        let _ = out.send(chunk);
    }
    Ok(())
}

/// How records are decoded.
pub enum Decoding {
    Json,
    Csv(Arc<CsvLayout>),
    Avro(Arc<AvroRecordReader>),
}

/// A decoder thread's own decoder.
enum LineDecoder {
    Json,
    Csv(Box<CsvDecoder>),
    Avro(Arc<AvroRecordReader>),
}

/// Decodes chunks from `input` until it closes.
pub fn decode_chunks(
    schema: &Arc<Schema>,
    time_column: usize,
    message_fields: MessageFields,
    decoding: &Decoding,
    input: Receiver<RawChunk>,
    out: Sender<DecodedChunk>,
    stats: &SourceStats,
) {
    let mut decoder = match decoding {
        Decoding::Json => LineDecoder::Json,
        Decoding::Csv(layout) => LineDecoder::Csv(Box::new(CsvDecoder::new(layout.clone()))),
        Decoding::Avro(reader) => LineDecoder::Avro(reader.clone()),
    };
    for chunk in input {
        let started = std::time::Instant::now();
        let decoded = decode_chunk(schema, time_column, message_fields, &mut decoder, chunk);
        let took = started.elapsed().as_nanos() as u64;
        stats.decode_busy_ns.fetch_add(took, Ordering::Relaxed);
        if out.send(decoded).is_err() {
            return;
        }
    }
}

fn decode_chunk(
    schema: &Arc<Schema>,
    time_column: usize,
    message_fields: MessageFields,
    decoder: &mut LineDecoder,
    chunk: RawChunk,
) -> DecodedChunk {
    let mut builder = BatchBuilder::new(schema.clone(), chunk.records.len());
    let mut failures = Vec::new();
    for record in &chunk.records {
        if record.too_long > 0 {
            let reason = format!(
                "record is {} bytes, over the limit (source max_line_bytes)",
                record.too_long
            );
            failures.push(DecodeFailure {
                position: record.position,
                reason,
                raw: None,
            });
            continue;
        }
        let line = &chunk.data[record.start..record.end];
        let key = record.key.map(|(start, end)| &chunk.data[start..end]);
        let mut fill = |field: usize, column: &mut ColumnBuilder| {
            fill_from_message(schema, message_fields, key, record.timestamp, field, column)
        };
        let decoded = match decoder {
            LineDecoder::Json => {
                decode_record_filling(schema, builder.columns_mut(), line, &mut fill)
            }
            LineDecoder::Csv(csv) => csv.decode(schema, builder.columns_mut(), line),
            LineDecoder::Avro(avro) => avro.decode(schema, builder.columns_mut(), line),
        };
        match decoded {
            Ok(()) => {
                let event_time = builder.last_int(time_column).unwrap_or(i64::MIN);
                builder.commit_row(event_time, i64::MIN, record.position);
            }
            Err(reason) => {
                builder.rollback_row();
                failures.push(DecodeFailure {
                    position: record.position,
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
        changes: chunk.changes,
        consumed: last_per_stream(&chunk.records),
        resume_at: chunk.resume_at,
    }
}

/// Records of one stream come in order, so its last one is the furthest read.
/// A handful of streams (Kafka partitions) at most: a scan beats a map.
fn last_per_stream(records: &[RawRecord]) -> Vec<(u32, u64)> {
    let mut last: Vec<(u32, u64)> = Vec::new();
    for record in records {
        let (stream, seq) = (
            position::stream_of(record.position),
            position::seq_of(record.position),
        );
        match last.iter_mut().find(|(s, _)| *s == stream) {
            Some(entry) => entry.1 = seq,
            None => last.push((stream, seq)),
        }
    }
    last
}

/// Supplies a missing key or timestamp field from the Kafka message.
fn fill_from_message(
    schema: &Schema,
    fields: MessageFields,
    key: Option<&[u8]>,
    timestamp: Option<i64>,
    field: usize,
    column: &mut ColumnBuilder,
) -> bool {
    if fields.key == Some(field) {
        if let Some(key) = key.and_then(|k| std::str::from_utf8(k).ok()) {
            column.push(Value::String(key));
            return true;
        }
    }
    if fields.timestamp == Some(field) {
        if let Some(ms) = timestamp {
            column.push(match schema.fields()[field].ty {
                FieldType::I64 => Value::I64(ms),
                _ => Value::Timestamp(ms),
            });
            return true;
        }
    }
    false
}
