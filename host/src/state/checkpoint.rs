//! The contents of a checkpoint: everything a run needs to continue as if it
//! had never stopped. Taken by the operator thread between two batches, so
//! the source position, the watermark and every stage's state describe the
//! same moment of the input.

use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

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

/// A stage's state in a checkpoint. The operator thread takes a
/// [`snapshot`](Self::later) — shards of the live state shared copy-on-write,
/// a pointer per few dozen keys — and the sink thread encodes it while the
/// pipeline runs on; a resume decodes the bytes.
pub struct Encoded<T> {
    bytes: Arc<OnceLock<Vec<u8>>>,
    /// Encodes into `bytes` on first use; `None` once decoded from a file.
    later: Option<Arc<dyn EncodeLater>>,
    of: PhantomData<fn() -> T>,
}

/// A snapshot that encodes itself exactly as a `T` would.
trait EncodeLater: Send + Sync {
    fn encode(&self) -> Vec<u8>;
}

struct Deferred<S>(S);

impl<S: Serialize + Send + Sync> EncodeLater for Deferred<S> {
    fn encode(&self) -> Vec<u8> {
        codec()
            .serialize(&self.0)
            .expect("in-memory state always encodes")
    }
}

fn codec() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
}

impl<T: DeserializeOwned> Encoded<T> {
    /// Encodes `value` now. It must serialize exactly as a `T` does (it may
    /// be a borrowed view of one).
    pub fn encode(value: &impl Serialize) -> Self {
        Self::from_bytes(
            codec()
                .serialize(value)
                .expect("in-memory state always encodes"),
        )
    }

    /// Encodes `snapshot` when the bytes are first needed — on the sink
    /// thread, as it writes the checkpoint. It must serialize exactly as a
    /// `T` does.
    pub fn later(snapshot: impl Serialize + Send + Sync + 'static) -> Self {
        Self {
            bytes: Arc::new(OnceLock::new()),
            later: Some(Arc::new(Deferred(snapshot))),
            of: PhantomData,
        }
    }

    fn from_bytes(bytes: Vec<u8>) -> Self {
        Self {
            bytes: Arc::new(OnceLock::from(bytes)),
            later: None,
            of: PhantomData,
        }
    }

    fn bytes(&self) -> &[u8] {
        self.bytes.get_or_init(|| {
            self.later
                .as_ref()
                .expect("an Encoded without bytes has a snapshot")
                .encode()
        })
    }

    pub fn decode(&self) -> Result<T, String> {
        codec()
            .deserialize(self.bytes())
            .map_err(|e| format!("cannot decode the checkpointed state: {e}"))
    }

    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }
}

impl<T> Clone for Encoded<T> {
    fn clone(&self) -> Self {
        Self {
            bytes: self.bytes.clone(),
            later: self.later.clone(),
            of: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Encoded<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.bytes.get() {
            Some(bytes) => write!(f, "Encoded({} bytes)", bytes.len()),
            None => f.write_str("Encoded(not yet)"),
        }
    }
}

impl<T: DeserializeOwned> Serialize for Encoded<T> {
    /// As the `Vec<u8>` of its bytes, encoding the snapshot first.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.bytes())
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Encoded<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<u8>::deserialize(deserializer).map(Self::from_bytes)
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
