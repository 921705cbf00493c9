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
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::data::{position, Batch, BatchBuilder, ColumnBuilder, FieldType, Origin, Schema, Value};
use crate::format::avro_read::AvroRecordReader;
use crate::format::csv::{CsvDecoder, CsvLayout};
use crate::format::json::decode_record_filling;
use crate::format::timestamp;
use crate::sink::{DeadLetter, DeadLetterKind, DeadLetters};
use crate::source::{LineSource, RawChunk, RawRecord, ReadOutcome, SourceStats, StreamChange};
use crate::state::{Checkpoint, ClockState, KafkaOffset, SourcePosition};
use crate::time::{BoundedOutOfOrderness, FutureLimit, PartitionedWatermarks};

/// A chunk decoded into rows (watermarks not yet assigned) and failures.
pub struct DecodedChunk {
    seq: u64,
    rows: Batch,
    failures: Vec<DecodeFailure>,
    changes: Vec<StreamChange>,
    /// Per stream, the sequence number of the chunk's last record, decoded
    /// or not: what was consumed.
    consumed: Vec<(u32, u64)>,
    resume_at: Option<(u64, u64)>,
}

struct DecodeFailure {
    position: u64,
    reason: String,
    raw: Option<String>,
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

/// Reads `source` into chunks of up to `chunk_lines` lines until its end or
/// `stop`. Sets `complete` when the end of the input was reached. Counts the
/// records (non-blank lines) read in `stats`.
pub fn read_chunks(
    mut source: LineSource,
    chunk_lines: usize,
    out: Sender<RawChunk>,
    stop: &AtomicBool,
    complete: &AtomicBool,
    stats: &SourceStats,
) -> Result<(), ReadError> {
    let mut chunk = RawChunk::new(0, chunk_lines);
    let mut line = Vec::new();
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
            ReadOutcome::Line if line.iter().all(u8::is_ascii_whitespace) => {}
            outcome => {
                let too_long = match outcome {
                    ReadOutcome::TooLong(bytes) => bytes,
                    _ => 0,
                };
                chunk.push(source.line_number(), &line).too_long = too_long;
                stats.records.fetch_add(1, Ordering::Relaxed);
            }
        }
        let ready = chunk.records.len() >= chunk_lines
            || (!chunk.records.is_empty() && source.would_wait());
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
) {
    let mut decoder = match decoding {
        Decoding::Json => LineDecoder::Json,
        Decoding::Csv(layout) => LineDecoder::Csv(Box::new(CsvDecoder::new(layout.clone()))),
        Decoding::Avro(reader) => LineDecoder::Avro(reader.clone()),
    };
    for chunk in input {
        let decoded = decode_chunk(schema, time_column, message_fields, &mut decoder, chunk);
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

/// How the watermark is made: one bounded-out-of-orderness clock for a file,
/// one per partition for Kafka.
enum Clock {
    Single(BoundedOutOfOrderness),
    Partitioned(PartitionedWatermarks),
}

/// Restores input order and assigns watermarks.
pub struct Sequencer {
    clock: Clock,
    future: FutureLimit,
    pending: BTreeMap<u64, DecodedChunk>,
    next: u64,
    origin: Origin,
    /// Events decoded in this run, and in the runs before the checkpoint it resumed.
    events: u64,
    events_before: u64,
    /// The last watermark handed on, to notice an idle partition letting it move.
    emitted: i64,
    /// Per stream, the sequence number of the last record consumed (see
    /// [`crate::data::position`]), for offset commits.
    consumed: BTreeMap<u32, u64>,
    /// A file's position after the last chunk accepted.
    resume_at: Option<(u64, u64)>,
}

impl Sequencer {
    pub fn new(
        max_out_of_orderness_ms: i64,
        idle_timeout: Option<Duration>,
        future: FutureLimit,
        origin: Origin,
    ) -> Self {
        let clock = match origin {
            Origin::Kafka(_) => Clock::Partitioned(PartitionedWatermarks::new(
                max_out_of_orderness_ms,
                idle_timeout,
            )),
            Origin::Lines(_) => Clock::Single(BoundedOutOfOrderness::new(max_out_of_orderness_ms)),
        };
        Self {
            clock,
            future,
            pending: BTreeMap::new(),
            next: 0,
            origin,
            events: 0,
            events_before: 0,
            emitted: i64::MIN,
            consumed: BTreeMap::new(),
            resume_at: None,
        }
    }

    /// Where the input stands after the last chunk accepted, for a checkpoint.
    pub fn checkpoint(&self) -> (SourcePosition, ClockState, u64) {
        let source = match &self.origin {
            Origin::Lines(_) => {
                let (byte_offset, line) = self.resume_at.unwrap_or((0, 0));
                SourcePosition::Lines { byte_offset, line }
            }
            Origin::Kafka(_) => SourcePosition::Kafka(
                self.consumed
                    .iter()
                    .filter_map(|(&stream, &next)| {
                        let (topic, partition) = self.origin.topic_partition(stream)?;
                        Some(KafkaOffset {
                            topic: topic.to_string(),
                            partition,
                            next_offset: next as i64,
                        })
                    })
                    .collect(),
            ),
        };
        let clock = match &self.clock {
            Clock::Single(clock) => ClockState::Single {
                max_event_time: clock.max_event_time(),
            },
            Clock::Partitioned(clock) => {
                let (emitted, streams) = clock.checkpoint();
                ClockState::Partitioned { emitted, streams }
            }
        };
        (source, clock, self.events_before + self.events)
    }

    /// Continues from a checkpoint: the watermark where it stood, the events
    /// counted, and (Kafka) the offsets consumed, until records move them.
    pub fn resume(&mut self, checkpoint: &Checkpoint) -> Result<(), String> {
        match (&mut self.clock, &checkpoint.clock) {
            (Clock::Single(clock), ClockState::Single { max_event_time }) => {
                clock.resume(*max_event_time);
                self.emitted = clock.current();
            }
            (Clock::Partitioned(clock), ClockState::Partitioned { emitted, streams }) => {
                clock.resume(*emitted, streams.clone());
                self.emitted = *emitted;
            }
            _ => return Err("the checkpoint was taken reading another kind of source".into()),
        }
        if let (Origin::Kafka(topics), SourcePosition::Kafka(offsets)) =
            (&self.origin, &checkpoint.source)
        {
            for offset in offsets {
                let stream = topics
                    .iter()
                    .position(|t| *t == offset.topic)
                    .and_then(|index| position::kafka_stream(index, offset.partition));
                if let Some(stream) = stream {
                    self.consumed.insert(stream, offset.next_offset as u64);
                }
            }
        }
        if let SourcePosition::Lines { byte_offset, line } = checkpoint.source {
            // Until a chunk moves it: a run that reads nothing new stays here.
            self.resume_at = Some((byte_offset, line));
        }
        self.events_before = checkpoint.events;
        Ok(())
    }

    /// The watermark handed on with the last batch.
    pub fn watermark(&self) -> i64 {
        self.emitted
    }

    /// Kafka: each partition's watermark and whether it is idle, by stream.
    pub fn stream_watermarks(&self) -> Vec<(u32, i64, bool)> {
        match &self.clock {
            Clock::Partitioned(clock) => clock.partition_watermarks(Instant::now()),
            Clock::Single(_) => Vec::new(),
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
            let now = Instant::now();
            // A partition assigned or revoked before these records; one read to
            // its end after them (its last records are among them).
            let (finished, changes): (Vec<StreamChange>, Vec<StreamChange>) = chunk
                .changes
                .iter()
                .partition(|c| matches!(c, StreamChange::Finished(_)));
            for change in changes {
                self.apply(change, now);
            }
            for failure in &chunk.failures {
                let record = failure
                    .raw
                    .clone()
                    .map_or(serde_json::Value::Null, serde_json::Value::String);
                dead.send(&DeadLetter {
                    kind: DeadLetterKind::Decode,
                    reason: &failure.reason,
                    source: &self.origin.describe(failure.position),
                    record,
                })?;
            }
            self.consumed.extend(chunk.consumed);
            if chunk.resume_at.is_some() {
                self.resume_at = chunk.resume_at;
            }
            let mut batch = self.drop_future_events(chunk.rows, dead)?;
            match &mut self.clock {
                Clock::Single(clock) => {
                    for (watermark, &event_time) in
                        batch.watermark.iter_mut().zip(&batch.event_time)
                    {
                        *watermark = clock.observe(event_time);
                    }
                }
                Clock::Partitioned(clock) => {
                    let rows = batch.watermark.iter_mut().zip(&batch.event_time);
                    for ((watermark, &event_time), &position) in rows.zip(&batch.position) {
                        *watermark = clock.observe(position::stream_of(position), event_time, now);
                    }
                }
            }
            for change in finished {
                self.apply(change, now);
            }
            batch.end_watermark = match &mut self.clock {
                Clock::Single(clock) => clock.current(),
                // An idle partition may have let the watermark move since the last event.
                Clock::Partitioned(clock) => clock.current(now),
            };
            self.events += batch.len() as u64;
            if !batch.is_empty() || batch.end_watermark > self.emitted {
                self.emitted = batch.end_watermark;
                ready.push(batch);
            }
        }
        Ok(ready)
    }

    fn apply(&mut self, change: StreamChange, now: Instant) {
        let Clock::Partitioned(clock) = &mut self.clock else {
            return;
        };
        match change {
            StreamChange::Assigned(stream) => clock.assign(stream, now),
            StreamChange::Revoked(stream) => {
                clock.revoke(stream, now);
                // Another member commits it from now on.
                self.consumed.remove(&stream);
            }
            // Read to its end: it no longer holds the others back.
            StreamChange::Finished(stream) => {
                clock.revoke(stream, now);
            }
        }
    }

    /// The offset to commit per stream: past everything consumed, except
    /// input a stage still holds (`retained`: the first sequence number per
    /// stream that an open window holds), which must be read again after a
    /// restart.
    pub fn commit_offsets(&self, retained: &BTreeMap<u32, u64>) -> Vec<(u32, u64)> {
        self.consumed
            .iter()
            .map(|(&stream, &last)| {
                // Sequence numbers are offset + 1, so `last` is the next offset
                // to read and `first - 1` the first offset still held.
                let next = match retained.get(&stream) {
                    Some(&first) => last.min(first - 1),
                    None => last,
                };
                (stream, next)
            })
            .collect()
    }

    /// Dead-letters rows stamped too far in the future (see [`FutureLimit`]).
    fn drop_future_events(&self, batch: Batch, dead: &DeadLetters) -> std::io::Result<Batch> {
        let latest = self.future.latest(crate::format::timestamp::now_ms());
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
            dead.send_row(DeadLetterKind::Decode, &reason, &self.origin, &batch, row)?;
        }
        Ok(batch.gather(&kept))
    }
}
