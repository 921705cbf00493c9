//! What a source hands to the decoders: raw records in input order, cut into
//! chunks, with their positions and, for Kafka, the message key and timestamp.

/// Up to a batch of raw records, in input order.
pub struct RawChunk {
    pub seq: u64,
    pub data: Vec<u8>,
    pub records: Vec<RawRecord>,
    /// Partitions assigned or revoked just before these records, or read to
    /// their end with them (Kafka); they decide which partitions hold the
    /// watermark.
    pub changes: Vec<StreamChange>,
    /// For a file: the byte offset just past the chunk and its last line
    /// number, where a checkpoint taken after it resumes.
    pub resume_at: Option<(u64, u64)>,
    /// Kafka is taking partitions away (they are among `changes`): once
    /// the offsets of everything before this chunk are committed, the
    /// reader is told through this, and only then lets the partitions go.
    pub handover: Option<HandoverAck>,
}

/// Told when a handover's offsets are committed (or a checkpoint with them
/// written), so a partition's next owner starts exactly after this one.
#[derive(Debug)]
pub struct HandoverAck(pub crossbeam_channel::Sender<()>);

impl HandoverAck {
    pub fn done(self) {
        // The reader may have stopped waiting (a timeout); nothing to do then.
        let _ = self.0.send(());
    }
}

pub struct RawRecord {
    /// See [`crate::data::position`].
    pub position: u64,
    /// `data[start..end]`; empty for a record over the length limit.
    pub start: usize,
    pub end: usize,
    /// Length of a record that was over the limit and skipped, else 0.
    pub too_long: usize,
    /// The message key, `data[key.0..key.1]` (Kafka).
    pub key: Option<(usize, usize)>,
    /// The message timestamp, epoch millis (Kafka).
    pub timestamp: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamChange {
    Assigned(u32),
    Revoked(u32),
    /// A bounded source read this partition to its end.
    Finished(u32),
}

impl RawChunk {
    pub fn new(seq: u64, capacity: usize) -> Self {
        Self {
            seq,
            data: Vec::new(),
            records: Vec::with_capacity(capacity),
            changes: Vec::new(),
            resume_at: None,
            handover: None,
        }
    }

    /// The chunk after this one, with room for as much data.
    pub fn next(&self) -> Self {
        let mut next = Self::new(self.seq + 1, self.records.capacity());
        next.data.reserve(self.data.len());
        next
    }

    pub fn push(&mut self, position: u64, bytes: &[u8]) -> &mut RawRecord {
        let start = self.data.len();
        self.data.extend_from_slice(bytes);
        self.records.push(RawRecord {
            position,
            start,
            end: self.data.len(),
            too_long: 0,
            key: None,
            timestamp: None,
        });
        self.records.last_mut().expect("pushed just above")
    }

    /// Keeps `key` beside the record's bytes.
    pub fn push_key(&mut self, key: &[u8]) -> (usize, usize) {
        let start = self.data.len();
        self.data.extend_from_slice(key);
        (start, self.data.len())
    }

    /// Drops the records of `streams` (partitions given away: their next
    /// owner reads them from the committed offset). Their bytes stay unused.
    pub fn drop_streams(&mut self, streams: &std::collections::HashSet<u32>) {
        self.records
            .retain(|record| !streams.contains(&crate::data::position::stream_of(record.position)));
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.changes.is_empty()
    }
}
