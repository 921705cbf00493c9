//! The sequencer: puts decoded chunks back in input order and stamps each
//! row with its watermark. Watermarks are assigned sequentially, in input
//! order, so results do not depend on how many decoders there are or which
//! finishes first.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::ingest::DecodedChunk;
use crate::data::{position, Batch, Origin};
use crate::format::timestamp;
use crate::sink::{DeadLetter, DeadLetterKind, DeadLetters};
use crate::source::{HandoverAck, StreamChange};
use crate::state::{Checkpoint, ClockState, KafkaOffset, SourcePosition};
use crate::time::{range, BoundedOutOfOrderness, FutureLimit, PartitionedWatermarks};

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
    /// Partitions being handed over to another member: their last consumed
    /// offsets, committed once more before the handover is acknowledged.
    handed_over: BTreeMap<u32, u64>,
    handovers: Vec<HandoverAck>,
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
            handed_over: BTreeMap::new(),
            handovers: Vec::new(),
        }
    }

    /// Whether a handover waits for the offsets before it to be committed.
    pub fn handover_pending(&self) -> bool {
        !self.handovers.is_empty()
    }

    /// The offsets of the handed-over partitions are on their way to the
    /// sink: it acknowledges through these once they are committed.
    pub fn take_handovers(&mut self) -> Vec<HandoverAck> {
        self.handed_over.clear();
        std::mem::take(&mut self.handovers)
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
        while let Some(mut chunk) = self.pending.remove(&self.next) {
            self.next += 1;
            let now = Instant::now();
            self.handovers.extend(chunk.handover.take());
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
                    stage: None,
                    reason: &failure.reason,
                    source: &self.origin.describe(failure.position),
                    record,
                })?;
            }
            self.consumed.extend(chunk.consumed);
            if chunk.resume_at.is_some() {
                self.resume_at = chunk.resume_at;
            }
            let mut batch = self.drop_implausible_events(chunk.rows, dead)?;
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
                // Another member commits it from now on, once this one has
                // committed what it read.
                if let Some(last) = self.consumed.remove(&stream) {
                    if !self.handovers.is_empty() {
                        self.handed_over.insert(stream, last);
                    }
                }
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
        let consumed = self.consumed.iter().chain(&self.handed_over);
        hold_back(consumed.map(|(&s, &l)| (s, l)), retained)
    }

    /// Dead-letters rows whose event time is outside the range weir accepts
    /// (see [`crate::time::range`]) or too far in the future (see [`FutureLimit`]).
    fn drop_implausible_events(&self, batch: Batch, dead: &DeadLetters) -> std::io::Result<Batch> {
        let latest = self
            .future
            .latest(crate::format::timestamp::now_ms())
            .min(range::EVENT_TIME_MAX);
        let plausible = |t: i64| (range::EVENT_TIME_MIN..=latest).contains(&t);
        if batch.event_time.iter().all(|&t| plausible(t)) {
            return Ok(batch);
        }
        let mut kept = Vec::with_capacity(batch.len());
        for (row, &event_time) in batch.event_time.iter().enumerate() {
            if plausible(event_time) {
                kept.push(row as u32);
                continue;
            }
            let reason = match range::refuse_event_time(event_time) {
                Some(reason) => reason,
                None => format!(
                    "implausible event time {}: more than max_future ({} ms) ahead of the host clock; \
                     it would make every later event late",
                    timestamp::format(event_time),
                    self.future.max_future_ms()
                ),
            };
            dead.send_row(
                DeadLetterKind::Decode,
                None,
                &reason,
                &self.origin,
                &batch,
                row,
            )?;
        }
        Ok(batch.gather(&kept))
    }
}

/// Per stream, the offset to commit: `consumed` (the next offset to read),
/// held back to the first input a stage still holds (`retained`, a sequence
/// number: offset + 1), which must be read again after a restart.
pub fn hold_back(
    consumed: impl IntoIterator<Item = (u32, u64)>,
    retained: &BTreeMap<u32, u64>,
) -> Vec<(u32, u64)> {
    consumed
        .into_iter()
        .map(|(stream, last)| {
            let next = match retained.get(&stream) {
                Some(&first) => last.min(first - 1),
                None => last,
            };
            (stream, next)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::data::{ColumnBuilder, Field, FieldType, Schema, Value};

    fn schema() -> Arc<Schema> {
        Schema::new(vec![Field::new("t", FieldType::Timestamp)]).unwrap()
    }

    /// Chunk `seq` of rows with these event times, at lines `first_line..`.
    fn chunk(seq: u64, first_line: u64, times: &[i64]) -> DecodedChunk {
        let mut column = ColumnBuilder::new(FieldType::Timestamp, times.len());
        for &t in times {
            column.push(Value::Timestamp(t));
        }
        let rows = Batch {
            schema: schema(),
            columns: vec![column.finish()],
            event_time: times.to_vec(),
            watermark: vec![0; times.len()],
            position: (first_line..).take(times.len()).collect(),
            end_watermark: i64::MIN,
        };
        DecodedChunk {
            seq,
            rows,
            failures: Vec::new(),
            changes: Vec::new(),
            handover: None,
            consumed: Vec::new(),
            resume_at: None,
        }
    }

    fn sequencer() -> Sequencer {
        Sequencer::new(
            5_000,
            None,
            FutureLimit::new(i64::MAX),
            Origin::Lines("test".into()),
        )
    }

    /// Every row's watermark, batch by batch, with the batch's end watermark.
    fn stamped(batches: &[Batch]) -> Vec<(Vec<i64>, i64)> {
        batches
            .iter()
            .map(|b| (b.watermark.clone(), b.end_watermark))
            .collect()
    }

    #[test]
    fn chunks_out_of_order_come_out_in_input_order() {
        let dead = DeadLetters::to_stderr().staged();
        let mut sequencer = sequencer();
        let later = sequencer
            .accept(chunk(1, 3, &[20_000, 9_000]), &dead)
            .unwrap();
        assert!(later.is_empty(), "chunk 1 waits for chunk 0");
        let ready = sequencer
            .accept(chunk(0, 0, &[10_000, 12_000, 11_000]), &dead)
            .unwrap();
        let positions: Vec<u64> = ready.iter().flat_map(|b| b.position.clone()).collect();
        assert_eq!(positions, [0, 1, 2, 3, 4]);
        // The watermark after each row: the largest time so far, less the
        // bound and 1 ms; it never goes back.
        assert_eq!(
            stamped(&ready),
            [
                (vec![4_999, 6_999, 6_999], 6_999),
                (vec![14_999, 14_999], 14_999)
            ]
        );
        assert_eq!(sequencer.events(), 5);
        assert_eq!(sequencer.watermark(), 14_999);
    }

    #[test]
    fn watermarks_do_not_depend_on_how_the_input_was_cut() {
        let times = [1_000, 30_000, 2_000, 31_000, 29_000, 50_000, 40_000];
        let dead = DeadLetters::to_stderr().staged();
        let per_row = |cuts: &[usize]| -> Vec<i64> {
            let mut sequencer = sequencer();
            let (mut start, mut rows) = (0, Vec::new());
            for (seq, &end) in cuts.iter().enumerate() {
                let piece = chunk(seq as u64, start as u64, &times[start..end]);
                for batch in sequencer.accept(piece, &dead).unwrap() {
                    rows.extend(batch.watermark);
                }
                start = end;
            }
            rows
        };
        let whole = per_row(&[7]);
        assert_eq!(per_row(&[1, 2, 3, 4, 5, 6, 7]), whole);
        assert_eq!(per_row(&[3, 7]), whole);
    }

    #[test]
    fn implausible_times_are_dead_lettered_not_passed_on() {
        let dead = DeadLetters::to_stderr().staged();
        let mut sequencer = sequencer();
        let year_10000 = range::EVENT_TIME_MAX + 1;
        let ready = sequencer
            .accept(chunk(0, 0, &[1_000, year_10000, 2_000]), &dead)
            .unwrap();
        let times: Vec<i64> = ready.iter().flat_map(|b| b.event_time.clone()).collect();
        assert_eq!(times, [1_000, 2_000]);
        assert_eq!(sequencer.watermark(), -3_001, "the bad time moved nothing");
        let letters = String::from_utf8(dead.take_staged()).unwrap();
        assert_eq!(letters.lines().count(), 1, "{letters}");
        assert!(letters.contains(r#""source":"test:1""#), "{letters}");
        assert!(
            letters.contains("outside the range weir accepts"),
            "{letters}"
        );
    }

    /// A revoke with a handover marker keeps the partition's last offset
    /// among those to commit until the marker is taken; one without drops
    /// it at once (the next owner commits it).
    #[test]
    fn a_handed_over_partition_is_committed_once_more() {
        let dead = DeadLetters::to_stderr().staged();
        let mut sequencer = Sequencer::new(
            5_000,
            None,
            FutureLimit::new(i64::MAX),
            Origin::Kafka(vec!["t".into()]),
        );
        let stream = |p| position::kafka_stream(0, p).unwrap();
        let mut first = chunk(0, 0, &[]);
        first.changes = vec![
            StreamChange::Assigned(stream(0)),
            StreamChange::Assigned(stream(1)),
        ];
        first.consumed = vec![(stream(0), 40), (stream(1), 7)];
        sequencer.accept(first, &dead).unwrap();
        let (ack, acknowledged) = crossbeam_channel::bounded(1);
        let mut marker = chunk(1, 0, &[]);
        marker.changes = vec![StreamChange::Revoked(stream(0))];
        marker.handover = Some(HandoverAck(ack));
        sequencer.accept(marker, &dead).unwrap();
        assert!(sequencer.handover_pending());
        let none = BTreeMap::new();
        let mut offsets = sequencer.commit_offsets(&none);
        offsets.sort_unstable();
        assert_eq!(offsets, [(stream(0), 40), (stream(1), 7)]);
        for ack in sequencer.take_handovers() {
            ack.done();
        }
        assert!(acknowledged.try_recv().is_ok());
        assert_eq!(sequencer.commit_offsets(&none), [(stream(1), 7)]);
        let mut failed = chunk(2, 0, &[]);
        failed.changes = vec![StreamChange::Revoked(stream(1))];
        sequencer.accept(failed, &dead).unwrap();
        assert!(!sequencer.handover_pending());
        assert!(sequencer.commit_offsets(&none).is_empty());
    }

    #[test]
    fn an_empty_chunk_that_moves_nothing_yields_no_batch() {
        let dead = DeadLetters::to_stderr().staged();
        let mut sequencer = sequencer();
        assert_eq!(
            sequencer
                .accept(chunk(0, 0, &[10_000]), &dead)
                .unwrap()
                .len(),
            1
        );
        assert!(sequencer
            .accept(chunk(1, 1, &[]), &dead)
            .unwrap()
            .is_empty());
        // A row behind the watermark is passed on (late is the window's call).
        let behind = sequencer.accept(chunk(2, 1, &[1]), &dead).unwrap();
        assert_eq!(stamped(&behind), [(vec![4_999], 4_999)]);
    }
}
