//! One step of the operator chain, whatever implements it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::histogram::{Histogram, DURATION_BOUNDS_NS, ROW_BOUNDS};
use super::recent::RecentRows;
use crate::data::{Batch, Origin, Schema};
use crate::format::timestamp;
use crate::plugin::{PluginOperator, Processed};
use crate::sink::{row_position, DeadLetterKind, DeadLetters};
use crate::state::{Encoded, PluginState, StageCheckpoint, StageState};
use crate::window::EventTimeWindows;

/// An operator compiled into the host, for built-ins and benchmark baselines.
pub trait NativeOperator: Send {
    fn output_schema(&self) -> &Arc<Schema>;
    fn process(&mut self, batch: &Batch) -> Batch;
}

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

pub enum StageKind {
    Plugin(Box<PluginOperator>, OnFailure),
    Window(Box<EventTimeWindows>),
    Native(Box<dyn NativeOperator>),
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

/// A plugin version that has just replaced another, until it has proved
/// itself on `batches_left` batches. The version it replaced stays loaded so
/// that a failing batch can be run again on it.
pub struct Trial {
    pub previous: Box<PluginOperator>,
    pub batches_left: u32,
}

/// How a trial ended.
pub enum TrialVerdict {
    /// The new version stays; `retired` is the version it replaced.
    Kept { retired: Box<PluginOperator> },
    /// The new version failed rows the old one processed; the old one is back.
    RolledBack {
        rejected: Box<PluginOperator>,
        reason: String,
        /// Rows the stage had received before the batch that was run again.
        at_row: u64,
    },
}

pub struct Stage {
    pub name: String,
    pub kind: StageKind,
    /// The rows this stage receives; a replacement must accept them.
    pub input: Arc<Schema>,
    pub stats: Arc<StageStats>,
    pub unload: Unload,
    /// True for stages added through the admin API (always removable).
    pub added_at_run_time: bool,
    /// When the current plugin version started serving.
    pub loaded_at: SystemTime,
    pub trial: Option<Trial>,
    /// Set when a trial ends; taken by the control loop.
    pub verdict: Option<TrialVerdict>,
}

impl Stage {
    pub fn new(name: impl Into<String>, kind: StageKind, input: Arc<Schema>) -> Self {
        Self {
            name: name.into(),
            kind,
            input,
            stats: Arc::default(),
            unload: Unload::Refuse,
            added_at_run_time: false,
            loaded_at: SystemTime::now(),
            trial: None,
            verdict: None,
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

    /// Adds the earliest input position per stream this stage still holds
    /// (open windows), which offset commits must not pass.
    pub fn retained(&self, earliest: &mut std::collections::BTreeMap<u32, u64>) {
        if let StageKind::Window(window) = &self.kind {
            window.retained(earliest);
        }
    }

    /// What this stage computes, as far as its state depends on it.
    pub fn fingerprint(&self) -> String {
        match &self.kind {
            StageKind::Window(window) => window.fingerprint().to_string(),
            StageKind::Plugin(plugin, _) => match plugin.key_by() {
                Some(key) => format!("plugin {} key_by={key}", plugin.descriptor().name),
                None => format!("plugin {}", plugin.descriptor().name),
            },
            StageKind::Native(_) => "native".into(),
        }
    }

    /// The stage's state now, for a checkpoint.
    pub fn checkpoint(&self) -> StageCheckpoint {
        let state = match &self.kind {
            StageKind::Window(window) => window.checkpoint(),
            StageKind::Plugin(plugin, _) => match plugin.keyed_state() {
                Some(keyed) => StageState::Plugin(PluginState {
                    plugin: plugin.version(),
                    state_version: plugin.descriptor().state_version,
                    keyed: Encoded::encode(keyed),
                }),
                None => StageState::Stateless {
                    plugin: Some(plugin.version()),
                },
            },
            StageKind::Native(_) => StageState::Stateless { plugin: None },
        };
        StageCheckpoint {
            name: self.name.clone(),
            fingerprint: self.fingerprint(),
            state,
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
        match (&mut self.kind, checkpoint.state) {
            (
                StageKind::Window(window),
                state @ (StageState::Window(_) | StageState::Sessions(_)),
            ) => window.restore(state),
            (StageKind::Plugin(plugin, _), StageState::Stateless { plugin: Some(then) }) => {
                let now = plugin.version();
                if now != then {
                    tracing::info!(
                        stage = %self.name,
                        "the plugin changed since the checkpoint: {} {} ({}) then, {} {} ({}) now",
                        then.name, then.version, short(&then.hash), now.name, now.version, short(&now.hash)
                    );
                }
                Ok(())
            }
            (_, StageState::Stateless { .. }) => Ok(()),
            (StageKind::Plugin(plugin, _), StageState::Plugin(saved)) => {
                let keyed = saved.keyed.decode()?;
                let keys = keyed.keys();
                plugin
                    .adopt_state(saved.state_version, keyed)
                    .map_err(|(reason, _)| reason)?;
                tracing::info!(stage = %self.name, keys, "keyed state restored");
                Ok(())
            }
            _ => Err(format!(
                "stage `{}` holds a different kind of state in the checkpoint",
                self.name
            )),
        }
    }

    pub fn output_schema(&self) -> &Arc<Schema> {
        match &self.kind {
            StageKind::Plugin(p, _) => p.output_schema(),
            StageKind::Window(w) => w.output_schema(),
            StageKind::Native(n) => n.output_schema(),
        }
    }

    /// Whether the stage must be called while no rows come (a processing-time window).
    pub fn needs_ticks(&self) -> bool {
        matches!(&self.kind, StageKind::Window(window) if window.needs_ticks())
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
        let rows = batch.len() as u64;
        let out = self.process_untimed(batch, origin, dead)?;
        let took = started.elapsed().as_nanos() as u64;
        let stats = &self.stats;
        stats.busy_ns.fetch_add(took, Ordering::Relaxed);
        if rows > 0 {
            stats.batch_duration_ns.observe(took);
            stats.batch_rows.observe(rows);
        }
        match &self.kind {
            StageKind::Plugin(plugin, _) => {
                if let Some(state) = plugin.keyed_state() {
                    stats
                        .state_keys
                        .store(state.keys() as u64, Ordering::Relaxed);
                    stats
                        .state_bytes
                        .store(state.bytes() as u64, Ordering::Relaxed);
                    stats
                        .state_timers
                        .store(state.timers() as u64, Ordering::Relaxed);
                }
            }
            StageKind::Window(_) => stats.recent.offer(&out),
            StageKind::Native(_) => {}
        }
        Ok(out)
    }

    fn process_untimed(
        &mut self,
        mut batch: Batch,
        origin: &Origin,
        dead: &DeadLetters,
    ) -> Result<Batch, StageError> {
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        let first_row = self
            .stats
            .rows_in
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let out = match &mut self.kind {
            StageKind::Native(operator) => operator.process(&batch),
            StageKind::Plugin(plugin, on_failure) => {
                let processed = match self.trial.take() {
                    Some(trial) if !batch.is_empty() => {
                        let (processed, trial, verdict) =
                            run_trial(plugin, trial, &batch, first_row);
                        self.trial = trial;
                        if verdict.is_some() {
                            self.verdict = verdict;
                        }
                        processed
                    }
                    trial => {
                        self.trial = trial;
                        plugin.process(&batch)
                    }
                };
                for failure in &processed.failures {
                    let row = failure.row as usize;
                    let reason = format!(
                        "{} (plugin version {})",
                        failure.error,
                        plugin.descriptor().version
                    );
                    match on_failure {
                        OnFailure::DeadLetter => {
                            dead.send_row(DeadLetterKind::Plugin, &reason, origin, &batch, row)?
                        }
                        OnFailure::Skip => {}
                        OnFailure::Stop => {
                            return Err(StageError::Stopped {
                                stage: self.name.clone(),
                                position: row_position(origin, &batch, row),
                                reason,
                            })
                        }
                    }
                }
                if *on_failure == OnFailure::Skip && !processed.failures.is_empty() {
                    tracing::warn!(stage = %self.name, rows = processed.failures.len(), "skipped rows the plugin failed on");
                }
                self.stats
                    .rows_failed
                    .fetch_add(processed.failures.len() as u64, Ordering::Relaxed);
                processed.batch
            }
            StageKind::Window(window) => {
                let mut late = Vec::new();
                let out =
                    window
                        .process(&mut batch, &mut late)
                        .map_err(|reason| StageError::Failed {
                            stage: self.name.clone(),
                            reason,
                        })?;
                for row in &late {
                    let lateness = match row.allowed_lateness_ms {
                        0 => String::new(),
                        ms => format!(
                            " and its allowed lateness of {} had passed",
                            humantime::format_duration(std::time::Duration::from_millis(ms as u64))
                        ),
                    };
                    let reason = format!(
                        "late: event time {} is behind the watermark {}; its window [{}, {}) had already fired{lateness}",
                        timestamp::format(batch.event_time[row.row]),
                        timestamp::format(batch.watermark[row.row]),
                        timestamp::format(row.window_start),
                        timestamp::format(row.window_end),
                    );
                    dead.send_row(DeadLetterKind::Late, &reason, origin, &batch, row.row)?;
                }
                self.stats
                    .rows_failed
                    .fetch_add(late.len() as u64, Ordering::Relaxed);
                let stats = &self.stats;
                stats
                    .window_results
                    .store(window.fired_windows(), Ordering::Relaxed);
                stats
                    .window_updates
                    .store(window.updates(), Ordering::Relaxed);
                stats
                    .window_partials
                    .store(window.partials(), Ordering::Relaxed);
                stats
                    .window_open
                    .store(window.open_windows() as u64, Ordering::Relaxed);
                out
            }
        };
        self.stats
            .rows_out
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        Ok(out)
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// One batch of a trial. If the new version fails rows, the batch is run
/// again on the previous version; when that one fails fewer rows, the new
/// version is rolled back and the previous version's result is used, so each
/// row's result comes from exactly one version. (Rows both versions fail on
/// are bad input, not a bad version.)
fn run_trial(
    plugin: &mut Box<PluginOperator>,
    mut trial: Trial,
    batch: &Batch,
    first_row: u64,
) -> (Processed, Option<Trial>, Option<TrialVerdict>) {
    let processed = plugin.process(batch);
    if !processed.failures.is_empty() {
        let fallback = trial.previous.process(batch);
        if fallback.failures.len() < processed.failures.len() {
            let reason = format!(
                "version {} failed {} of {} rows of its first batches (version {} failed {}): {}",
                plugin.descriptor().version,
                processed.failures.len(),
                batch.len(),
                trial.previous.descriptor().version,
                fallback.failures.len(),
                processed.failures[0].error
            );
            let rejected = std::mem::replace(plugin, trial.previous);
            let verdict = TrialVerdict::RolledBack {
                rejected,
                reason,
                at_row: first_row,
            };
            return (fallback, None, Some(verdict));
        }
    }
    trial.batches_left = trial.batches_left.saturating_sub(1);
    if trial.batches_left == 0 {
        let verdict = TrialVerdict::Kept {
            retired: trial.previous,
        };
        return (processed, None, Some(verdict));
    }
    (processed, Some(trial), None)
}
