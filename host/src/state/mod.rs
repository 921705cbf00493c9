//! What a pipeline remembers across restarts: checkpoints of its source
//! position, watermarks, window contents and plugin state, and the keyed state
//! plugins keep between batches.

mod checkpoint;
mod cow_map;
mod files;
mod keyed;
pub mod remote;
pub mod rescale;
mod store;

pub use checkpoint::{
    Checkpoint, ClockState, Encoded, KafkaOffset, OpenWindowState, PluginState, PluginVersion,
    SessionRecord, SessionState, SinkPosition, SourcePosition, StageCheckpoint, StageState,
    WindowState,
};
pub use cow_map::{CowMap, MapSnapshot};
pub use files::CheckpointLocation;
pub use keyed::{KeyedState, Timer};
pub use remote::RemoteSpec;
pub use store::{CheckpointError, CheckpointSettings, CheckpointStats, CheckpointStore};
