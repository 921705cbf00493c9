//! One step of the operator chain, whatever implements it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::histogram::{Histogram, DURATION_BOUNDS_NS, ROW_BOUNDS};
use super::operator::{Operator, OperatorContext, PluginStage, Trial};
use crate::data::{Batch, Origin, Schema};
use crate::sink::{DeadLetters, RecentRows};
use crate::state::StageCheckpoint;

/// What happens to the rows a plugin fails on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    /// Send them to the dead-letter output with the reason (the default).
    #[default]
    DeadLetter,
    /// Drop them, counting and logging them.
    Skip,
    /// Stop the pipeline with the reason.
    Stop,
}

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("writing dead letters: {0}")]
    DeadLetter(#[from] std::io::Error),
    #[error(
        "stage `{stage}` stopped the pipeline (on_failure = \"stop\") at {position}: {reason}"
    )]
    Stopped {
        stage: String,
        position: String,
        reason: String,
    },
    /// A failure the stage cannot contain to rows (an aggregate plugin's).
    #[error("stage `{stage}` failed and stopped the pipeline: {reason}; a restart resumes from the last checkpoint")]
    Failed { stage: String, reason: String },
}

/// Whether a stage may be unloaded while the pipeline runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Unload {
    /// Unloading would change what the pipeline computes: refused.
    #[default]
    Refuse,
    /// Unloading removes the stage and rows flow past it (filters only).
    Bypass,
}

/// Counters of one stage, read by the admin API while the pipeline runs.
#[derive(Debug)]
pub struct StageStats {
    pub batches: AtomicU64,
    pub rows_in: AtomicU64,
    pub rows_out: AtomicU64,
    /// Rows this stage sent to the dead-letter output (or skipped).
    pub rows_failed: AtomicU64,
    /// Windows: results emitted for the first time, and again as updates.
    pub window_results: AtomicU64,
    pub window_updates: AtomicU64,
    pub window_partials: AtomicU64,
    /// Windows: (key, pane or session) pairs held now.
    pub window_open: AtomicU64,
    /// Time spent processing, every call (empty batches that only move the
    /// watermark included): how much of the operator thread this stage takes.
    pub busy_ns: AtomicU64,
    /// Time per non-empty batch: for a plugin, the call into the sandbox with
    /// its encoding and decoding.
    pub batch_duration_ns: Histogram,
    pub batch_rows: Histogram,
    /// Keyed plugins: keys with state, their encoded bytes, pending timers.
    pub state_keys: AtomicU64,
    pub state_bytes: AtomicU64,
    pub state_timers: AtomicU64,
    /// Windows: the newest results, for the live page.
    pub recent: RecentRows,
}

impl Default for StageStats {
    fn default() -> Self {
        Self {
            batches: AtomicU64::default(),
            rows_in: AtomicU64::default(),
            rows_out: AtomicU64::default(),
            rows_failed: AtomicU64::default(),
            window_results: AtomicU64::default(),
            window_updates: AtomicU64::default(),
            window_partials: AtomicU64::default(),
            window_open: AtomicU64::default(),
            busy_ns: AtomicU64::default(),
            batch_duration_ns: Histogram::new(DURATION_BOUNDS_NS),
            batch_rows: Histogram::new(ROW_BOUNDS),
            state_keys: AtomicU64::default(),
            state_bytes: AtomicU64::default(),
            state_timers: AtomicU64::default(),
            recent: RecentRows::default(),
        }
    }
}

impl StageStats {
    pub fn rows_in(&self) -> u64 {
        self.rows_in.load(Ordering::Relaxed)
    }
    pub fn rows_out(&self) -> u64 {
        self.rows_out.load(Ordering::Relaxed)
    }
    pub fn rows_failed(&self) -> u64 {
        self.rows_failed.load(Ordering::Relaxed)
    }
}

/// What an operator's or a sink's `from` calls the source's rows; no
/// stage may take the name.
pub const SOURCE: &str = "source";

/// Where a stage's rows come from. Stages run in the pipeline's order, so
/// a stage's upstream always comes before it: the stages form a tree whose
/// root is the source, and a line when every stage reads the one above.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Upstream {
    /// The stage above it (the source's rows, for the first stage).
    #[default]
    Previous,
    /// The source's rows: the first stage of a branch of its own.
    Source,
    /// The results of this earlier stage, not the one just above.
    Stage(String),
}

impl Upstream {
    /// The index among `above` (the stages before this one) of the stage
    /// whose results this one reads; `None`: the source's rows.
    pub fn producer(&self, above: &[Stage]) -> Option<usize> {
        let previous = above.len().checked_sub(1);
        match self {
            Upstream::Previous => previous,
            Upstream::Source => None,
            Upstream::Stage(name) => above.iter().position(|s| s.name == *name).or(previous),
        }
    }
}

/// A named operator in the pipeline with its counters and the admin
/// settings that concern it.
pub struct Stage {
    pub name: String,
    pub from: Upstream,
    pub operator: Box<dyn Operator>,
    /// The rows this stage receives; a replacement must accept them.
    pub input: Arc<Schema>,
    pub stats: Arc<StageStats>,
    pub unload: Unload,
    /// True for stages added through the admin API (always removable).
    pub added_at_run_time: bool,
    /// When the current plugin version started serving.
    pub loaded_at: SystemTime,
}

impl Stage {
    pub fn new(name: impl Into<String>, operator: Box<dyn Operator>, input: Arc<Schema>) -> Self {
        Self {
            name: name.into(),
            from: Upstream::Previous,
            operator,
            input,
            stats: Arc::default(),
            unload: Unload::Refuse,
            added_at_run_time: false,
            loaded_at: SystemTime::now(),
        }
    }

    pub fn rows_in(&self) -> u64 {
        self.stats.rows_in()
    }
    pub fn rows_out(&self) -> u64 {
        self.stats.rows_out()
    }
    pub fn rows_failed(&self) -> u64 {
        self.stats.rows_failed()
    }

    /// The plugin stage, if this is one.
    pub fn plugin(&self) -> Option<&PluginStage> {
        self.operator.as_plugin()
    }

    pub fn plugin_mut(&mut self) -> Option<&mut PluginStage> {
        self.operator.as_plugin_mut()
    }

    /// The version that was replaced, while a new one is on trial.
    pub fn trial(&self) -> Option<&Trial> {
        self.plugin().and_then(|p| p.trial.as_ref())
    }

    /// Adds the earliest input position per stream this stage still holds
    /// (open windows), which offset commits must not pass.
    pub fn retained(&self, earliest: &mut std::collections::BTreeMap<u32, u64>) {
        self.operator.retained(earliest);
    }

    /// What this stage computes, as far as its state depends on it: what
    /// it reads included, when that is not the stage above.
    pub fn fingerprint(&self) -> String {
        match &self.from {
            Upstream::Previous => self.operator.fingerprint(),
            Upstream::Source => format!("{} from {SOURCE}", self.operator.fingerprint()),
            Upstream::Stage(name) => format!("{} from {name}", self.operator.fingerprint()),
        }
    }

    /// The stage's state now, for a checkpoint.
    pub fn checkpoint(&self) -> StageCheckpoint {
        StageCheckpoint {
            name: self.name.clone(),
            fingerprint: self.fingerprint(),
            state: self.operator.snapshot(),
        }
    }

    /// Takes up the state a checkpoint holds for this stage.
    pub fn restore(&mut self, checkpoint: StageCheckpoint) -> Result<(), String> {
        if checkpoint.fingerprint != self.fingerprint() {
            return Err(format!(
                "stage `{}` computed `{}` when the checkpoint was taken and computes `{}` now",
                self.name,
                checkpoint.fingerprint,
                self.fingerprint()
            ));
        }
        self.operator.restore(&self.name, checkpoint.state)
    }

    pub fn output_schema(&self) -> &Arc<Schema> {
        self.operator.output_schema()
    }

    /// Whether the stage must be called while no rows come (a processing-time window).
    pub fn needs_ticks(&self) -> bool {
        self.operator.needs_ticks()
    }

    /// Runs the batch through this stage. Rows it cannot process go where the
    /// stage's failure policy says; the rest continue.
    pub fn process(
        &mut self,
        batch: Batch,
        origin: &Origin,
        dead: &DeadLetters,
    ) -> Result<Batch, StageError> {
        let started = Instant::now();
        let stats = &self.stats;
        let rows = batch.len() as u64;
        stats.batches.fetch_add(1, Ordering::Relaxed);
        let first_row = stats.rows_in.fetch_add(rows, Ordering::Relaxed);
        let mut cx = OperatorContext {
            stage: &self.name,
            origin,
            dead,
            stats,
            first_row,
        };
        let out = self.operator.process(batch, &mut cx)?;
        stats
            .rows_out
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        let took = started.elapsed().as_nanos() as u64;
        stats.busy_ns.fetch_add(took, Ordering::Relaxed);
        if rows > 0 {
            stats.batch_duration_ns.observe(took);
            stats.batch_rows.observe(rows);
        }
        self.operator.publish(stats, &out);
        Ok(out)
    }
}
