//! The contents of a checkpoint: everything a run needs to continue as if it
//! had never stopped. Taken by the operator thread between two batches, so
//! the source position, the watermark and every stage's state describe the
//! same moment of the input.

use std::marker::PhantomData;

use bincode::Options;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::KeyedState;
use crate::data::Key;
use crate::window::Accumulator;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Counts up from 1 within a pipeline's checkpoint directory.
    pub id: u64,
    pub pipeline: String,
    /// Host clock when it was taken, epoch millis (for people, not for logic).
    pub taken_at_ms: i64,
    pub source: SourcePosition,
    pub clock: ClockState,
    /// Events decoded before this point, over all runs.
    pub events: u64,
    pub stages: Vec<StageCheckpoint>,
    /// Filled in by the sink side just before the checkpoint is written.
    pub sink: SinkPosition,
    /// The dead-letter file's length, filled in with `sink`: a resume
    /// truncates the file to it (see [`crate::sink::DeadLetters`]).
    pub dead_letter_bytes: u64,
}

/// State encoded when the checkpoint is taken. The operator thread encodes
/// straight from the live state — no copy of a million keys to allocate —
/// and the sink thread writes the bytes; a resume decodes them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Encoded<T> {
    bytes: Vec<u8>,
    #[serde(skip)]
    of: PhantomData<fn() -> T>,
}

fn codec() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
}

impl<T: DeserializeOwned> Encoded<T> {
    /// Encodes `value`, which must serialize exactly as a `T` does (it may
    /// be a borrowed view of one).
    pub fn encode(value: &impl Serialize) -> Self {
        Self {
            bytes: codec()
                .serialize(value)
                .expect("in-memory state always encodes"),
            of: PhantomData,
        }
    }

    pub fn decode(&self) -> Result<T, String> {
        codec()
            .deserialize(&self.bytes)
            .map_err(|e| format!("cannot decode the checkpointed state: {e}"))
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Where reading resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourcePosition {
    /// A file: the byte just after the last line processed, and that line's number.
    Lines { byte_offset: u64, line: u64 },
    /// Kafka: the next offset to read, per partition this host was reading.
    Kafka(Vec<KafkaOffset>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaOffset {
    pub topic: String,
    pub partition: i32,
    pub next_offset: i64,
}

/// The watermark generator's memory: the largest event time seen, per stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClockState {
    Single {
        max_event_time: Option<i64>,
    },
    /// Per stream (see [`crate::data::position`]), and the combined
    /// watermark already handed on, which never goes back.
    Partitioned {
        emitted: i64,
        streams: Vec<(u32, Option<i64>)>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageCheckpoint {
    pub name: String,
    /// What the stage computes (window size, key, aggregates; plugin key):
    /// state is only restored into a stage that computes the same thing.
    pub fingerprint: String,
    pub state: StageState,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum StageState {
    /// Nothing to remember (filters, maps).
    Stateless {
        plugin: Option<PluginVersion>,
    },
    Window(Encoded<WindowState>),
    Plugin(PluginState),
    Sessions(Encoded<SessionState>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginVersion {
    pub name: String,
    pub version: String,
    /// SHA-256 of the component.
    pub hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginState {
    pub plugin: PluginVersion,
    pub state_version: u32,
    pub keyed: Encoded<KeyedState>,
}

/// Open windows: end time → (key → accumulators), with the first input
/// position per stream each window holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WindowState {
    pub open: Vec<OpenWindowState>,
    /// Sliding windows: the end of the next window to fire.
    pub next_end: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenWindowState {
    pub end: i64,
    pub keys: Vec<(Key, Vec<Accumulator>)>,
    pub first: Vec<(u32, u64)>,
}

/// A session window's open sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionState {
    pub sessions: Vec<SessionRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    pub key: Key,
    pub start: i64,
    pub end: i64,
    pub accumulators: Vec<Accumulator>,
    pub first: Vec<(u32, u64)>,
}

/// How much of a sink's output the checkpoint covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SinkPosition {
    /// The sink keeps nothing to reconcile (console, null, Kafka).
    #[default]
    None,
    /// The results file holds exactly `committed_len` bytes once the staged
    /// `pending_len` bytes are published.
    File {
        committed_len: u64,
        pending_len: u64,
    },
    /// Several sinks (`[[sinks]]`): each one's position, in file order.
    Many(Vec<SinkPosition>),
}
