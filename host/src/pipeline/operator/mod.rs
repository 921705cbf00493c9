//! The operator seam: what a stage runs. The host's windows, Wasm plugins and
//! native operators each implement [`Operator`]; the run loop, checkpoints,
//! the admin views and the summary see only the trait.
//!
//! The adapters live here rather than in `window/` and `plugin/` so that
//! those stay free of pipeline concerns (dead letters, failure policies,
//! stage counters) and the modules do not depend on each other in a loop.

/// The `Operator` methods of an operator that keeps no state, so any
/// number of instances can take any row: for expressions and lookups.
macro_rules! no_state {
    () => {
        fn state_key(&self) -> super::StateKey {
            super::StateKey::None
        }

        fn snapshot(&self) -> crate::state::StageState {
            crate::state::StageState::Stateless { plugin: None }
        }

        fn restore(&mut self, stage: &str, state: crate::state::StageState) -> Result<(), String> {
            super::restore_stateless(stage, state)
        }
    };
}

mod expression;
mod lookup;
mod native;
mod plugin;
mod window;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use expression::{FilterStage, SelectStage};
pub use lookup::{joined_schema, LookupStage, Unmatched};
pub use native::{NativeOperator, NativeStage};
pub use plugin::{PluginStage, Trial, TrialVerdict};
pub use window::WindowStage;

use super::stage::{StageError, StageStats};
use super::summary::Summary;
use crate::data::{Batch, Origin, Schema};
use crate::sink::DeadLetters;
use crate::state::StageState;

/// How an operator's state is divided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateKey {
    /// No state across rows: any instance can take any row.
    None,
    /// One state for all rows (a window without `key_by`): one instance.
    Global,
    /// State per value of this field: rows of one value go to one instance.
    Field(String),
}

/// `restore` for an operator without state: the checkpoint must hold none.
fn restore_stateless(stage: &str, state: StageState) -> Result<(), String> {
    match state {
        StageState::Stateless { .. } => Ok(()),
        _ => Err(format!(
            "stage `{stage}` holds a different kind of state in the checkpoint"
        )),
    }
}

/// What an operator is given besides its batch.
pub struct OperatorContext<'a> {
    /// The stage's name, for errors and logs.
    pub stage: &'a str,
    pub origin: &'a Origin,
    /// Where rows the operator cannot process go, with the reason.
    pub dead: &'a DeadLetters,
    pub stats: &'a StageStats,
    /// How many rows the stage had received before this batch.
    pub first_row: u64,
}

/// One step of the dataflow. Batches come in event-time order of arrival
/// with their watermark; an empty batch only moves the watermark (and, for
/// processing-time windows, is the clock's tick).
pub trait Operator: Send {
    /// `plugin`, `window` or `native`: shown by the admin API and `weir explain`.
    fn kind(&self) -> &'static str;

    /// A line for `weir explain`: what the operator computes.
    fn describe(&self) -> String;

    fn output_schema(&self) -> &Arc<Schema>;

    /// Runs a batch. Rows the operator cannot process go to the dead
    /// letters (or wherever its failure policy says); the rest continue.
    fn process(&mut self, batch: Batch, cx: &mut OperatorContext<'_>) -> Result<Batch, StageError>;

    /// Whether it must be called while no rows come (processing time).
    fn needs_ticks(&self) -> bool {
        false
    }

    /// Adds the earliest input position per stream it still holds (open
    /// windows), which offset commits must not pass.
    fn retained(&self, _earliest: &mut BTreeMap<u32, u64>) {}

    /// What it computes, as far as its state depends on it: a checkpoint
    /// taken by an operator with another fingerprint is refused.
    fn fingerprint(&self) -> String;

    /// Its state now, for a checkpoint.
    fn snapshot(&self) -> StageState;

    /// Takes up the state a checkpoint holds (the fingerprint matched).
    fn restore(&mut self, stage: &str, state: StageState) -> Result<(), String>;

    /// Updates the stage's gauges after a call; `out` is what it returned.
    fn publish(&self, _stats: &StageStats, _out: &Batch) {}

    /// Adds its totals to the run's summary.
    /// Adds its totals to the run's summary. An operator that ran as
    /// several instances is asked once per instance, with the stage's
    /// (shared) counters on the first call only.
    fn summarize(&self, _stage: &str, _stats: Option<&StageStats>, _summary: &mut Summary) {}

    /// How its state is divided, which decides whether it can run as
    /// several instances.
    fn state_key(&self) -> StateKey;

    /// A new instance computing the same, with no state, for running the
    /// stage in parallel; `Err` says why it cannot be.
    fn replicate(&self, input: &Arc<Schema>) -> Result<Box<dyn Operator>, String>;

    /// The plugin behind a plugin stage, for swaps and views.
    fn as_plugin(&self) -> Option<&PluginStage> {
        None
    }

    fn as_plugin_mut(&mut self) -> Option<&mut PluginStage> {
        None
    }

    /// A plugin stage's plugin, when the stage is removed.
    fn into_plugin(self: Box<Self>) -> Option<Box<crate::plugin::PluginOperator>> {
        None
    }
}
