//! Where records come from. A source yields raw records with their position;
//! decoding and event time are the ingest stage's job, done once, in the host.

mod chunk;
mod datagen;
mod http;
pub mod kafka;
mod line_reader;
mod lines;
mod quoted;
mod stats;

pub use chunk::{HandoverAck, RawChunk, RawRecord, StreamChange};
pub use datagen::{DatagenSettings, DatagenSource};
pub use http::{HttpSource, HttpSourceSettings};
pub use kafka::KafkaInput;
pub use line_reader::LinesInput;
pub use lines::{LineSource, ReadOutcome};
pub use quoted::QuotedRecords;
pub use stats::{SourceStats, QUEUES};

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::data::Origin;

/// What a source is given to run.
pub struct SourceContext<'a> {
    /// Chunks of records go here; a failed send means the pipeline has
    /// stopped (it reports why), and the source returns.
    pub out: Sender<RawChunk>,
    /// Records per chunk, at most.
    pub chunk_records: usize,
    /// Set when the run is asked to stop.
    pub stop: &'a AtomicBool,
    /// To be set by the source when it reached the end of a bounded input.
    pub complete: &'a AtomicBool,
    pub stats: &'a Arc<SourceStats>,
}

/// Where records come from: a file, standard input, a followed file, an
/// HTTP endpoint, Kafka topics. A source is opened (at a checkpoint's
/// position) when the run starts, then `run` on its own thread.
pub trait Source: Send {
    /// Reads records into chunks, each record with its position, until the
    /// input ends (setting `complete`) or `stop` is set.
    fn run(self: Box<Self>, cx: SourceContext<'_>) -> Result<(), SourceError>;

    /// Schema fields filled from a message's key and timestamp (Kafka).
    fn message_fields(&self) -> MessageFields {
        MessageFields::default()
    }

    /// How long a partition may stay silent before it stops holding the
    /// watermark back (Kafka's `idle_timeout`).
    fn idle_timeout(&self) -> Option<Duration> {
        None
    }

    /// A source that takes its consumed positions back (Kafka's committed
    /// offsets): the committer, and how often to commit.
    fn offset_committer(&self, _origin: &Origin) -> Option<(kafka::OffsetCommitter, Duration)> {
        None
    }

    /// Line sources: for reading a CSV header before the first record.
    fn lines_mut(&mut self) -> Option<&mut LineSource> {
        None
    }
}

/// Schema fields a Kafka record may take from its message rather than its value.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageFields {
    pub key: Option<usize>,
    pub timestamp: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("Kafka: {0}")]
    Kafka(String),
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
