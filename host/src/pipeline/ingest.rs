//! Decoding, the step after the source (`source/`) and before the
//! sequencer (`sequencer.rs`).
//!
//! Decoding is the most expensive step per event, so it runs on several
//! threads: the source cuts its input into chunks of records, and decoders
//! turn chunks into typed rows in parallel.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::data::{position, Batch, BatchBuilder, ColumnBuilder, FieldType, Schema, Value};
use crate::format::avro_read::AvroRecordReader;
use crate::format::csv::{CsvDecoder, CsvLayout};
use crate::format::json::decode_record_filling;
use crate::source::{HandoverAck, RawChunk, RawRecord, SourceStats, StreamChange};

/// A chunk decoded into rows (watermarks not yet assigned) and failures.
pub struct DecodedChunk {
    pub(super) seq: u64,
    pub(super) rows: Batch,
    pub(super) failures: Vec<DecodeFailure>,
    pub(super) changes: Vec<StreamChange>,
    pub(super) handover: Option<HandoverAck>,
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

pub use crate::source::MessageFields;

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
        handover: chunk.handover,
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
