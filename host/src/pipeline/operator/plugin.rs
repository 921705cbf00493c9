//! A Wasm plugin as a stage: its failure policy, and the trial of a version
//! that has just been swapped in.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Operator, OperatorContext, StateKey};
use crate::data::{Batch, Schema};
use crate::pipeline::stage::{OnFailure, StageError, StageStats};
use crate::pipeline::summary::Summary;
use crate::plugin::{OperatorKind, PluginOperator, Processed};
use crate::sink::{row_position, DeadLetterKind};
use crate::state::{Encoded, PluginState, StageState};

pub struct PluginStage {
    pub plugin: Box<PluginOperator>,
    pub on_failure: OnFailure,
    /// The version this one replaced, while the new one is on trial.
    pub trial: Option<Trial>,
    /// Set when a trial ends; taken by the control loop.
    pub verdict: Option<TrialVerdict>,
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

impl PluginStage {
    pub fn new(plugin: Box<PluginOperator>, on_failure: OnFailure) -> Self {
        Self {
            plugin,
            on_failure,
            trial: None,
            verdict: None,
        }
    }

    /// Runs the batch on the serving version, or through the trial.
    fn run(&mut self, batch: &Batch, first_row: u64) -> Processed {
        match self.trial.take() {
            Some(trial) if !batch.is_empty() => {
                let (processed, trial, verdict) =
                    run_trial(&mut self.plugin, trial, batch, first_row);
                self.trial = trial;
                if verdict.is_some() {
                    self.verdict = verdict;
                }
                processed
            }
            trial => {
                self.trial = trial;
                self.plugin.process(batch)
            }
        }
    }
}

impl Operator for PluginStage {
    fn kind(&self) -> &'static str {
        "plugin"
    }

    fn describe(&self) -> String {
        let d = self.plugin.descriptor();
        match self.plugin.key_by() {
            Some(key) => format!("plugin {} {} ({}) key_by {key}", d.name, d.version, d.kind),
            None => format!("plugin {} {} ({})", d.name, d.version, d.kind),
        }
    }

    fn output_schema(&self) -> &Arc<Schema> {
        self.plugin.output_schema()
    }

    fn process(&mut self, batch: Batch, cx: &mut OperatorContext<'_>) -> Result<Batch, StageError> {
        let processed = self.run(&batch, cx.first_row);
        let version = &self.plugin.descriptor().version;
        for failure in &processed.failures {
            let row = failure.row as usize;
            let reason = format!("{} (plugin version {version})", failure.error);
            match self.on_failure {
                OnFailure::DeadLetter => cx.dead.send_row(
                    DeadLetterKind::Plugin,
                    Some(cx.stage),
                    &reason,
                    cx.origin,
                    &batch,
                    row,
                )?,
                OnFailure::Skip => {}
                OnFailure::Stop => {
                    return Err(StageError::Stopped {
                        stage: cx.stage.to_string(),
                        position: row_position(cx.origin, &batch, row),
                        reason,
                    })
                }
            }
        }
        if self.on_failure == OnFailure::Skip && !processed.failures.is_empty() {
            tracing::warn!(stage = %cx.stage, rows = processed.failures.len(), "skipped rows the plugin failed on");
        }
        cx.stats
            .rows_failed
            .fetch_add(processed.failures.len() as u64, Ordering::Relaxed);
        Ok(processed.batch)
    }

    fn state_key(&self) -> StateKey {
        match self.plugin.key_by() {
            Some(key) => StateKey::Field(key.to_string()),
            None => StateKey::None,
        }
    }

    fn replicate(&self, input: &Arc<Schema>) -> Result<Box<dyn Operator>, String> {
        let plugin = self.plugin.replicate(input).map_err(|e| e.to_string())?;
        Ok(Box::new(PluginStage::new(
            Box::new(plugin),
            self.on_failure,
        )))
    }

    fn fingerprint(&self) -> String {
        let name = &self.plugin.descriptor().name;
        match self.plugin.key_by() {
            Some(key) => format!("plugin {name} key_by={key}"),
            None => format!("plugin {name}"),
        }
    }

    fn snapshot(&self) -> StageState {
        let plugin = &self.plugin;
        match plugin.keyed_state() {
            Some(keyed) => StageState::Plugin(PluginState {
                plugin: plugin.version(),
                state_version: plugin.descriptor().state_version,
                keyed: Encoded::later(keyed.snapshot()),
            }),
            None => StageState::Stateless {
                plugin: Some(plugin.version()),
            },
        }
    }

    fn restore(&mut self, stage: &str, state: StageState) -> Result<(), String> {
        match state {
            StageState::Stateless { plugin: Some(then) } => {
                let now = self.plugin.version();
                if now != then {
                    tracing::info!(
                        stage,
                        "the plugin changed since the checkpoint: {} {} ({}) then, {} {} ({}) now",
                        then.name,
                        then.version,
                        short(&then.hash),
                        now.name,
                        now.version,
                        short(&now.hash)
                    );
                }
                Ok(())
            }
            StageState::Stateless { plugin: None } => Ok(()),
            StageState::Plugin(saved) => {
                let keyed = saved.keyed.decode()?;
                let keys = keyed.keys();
                self.plugin
                    .adopt_state(saved.state_version, keyed)
                    .map_err(|(reason, _)| reason)?;
                tracing::info!(stage, keys, "keyed state restored");
                Ok(())
            }
            _ => Err(format!(
                "stage `{stage}` holds a different kind of state in the checkpoint"
            )),
        }
    }

    fn publish(&self, stats: &StageStats, _out: &Batch) {
        if let Some(state) = self.plugin.keyed_state() {
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

    fn summarize(&self, stage: &str, stats: Option<&StageStats>, summary: &mut Summary) {
        let plugin = &self.plugin;
        if let Some(stats) = stats {
            if plugin.descriptor().kind == OperatorKind::Filter {
                // Checked: a filter never passes on more rows than it was
                // given (enforced on its output), but a count must never wrap.
                summary.filtered += stats
                    .rows_in()
                    .saturating_sub(stats.rows_out())
                    .saturating_sub(stats.rows_failed());
            }
            if self.on_failure == OnFailure::Skip {
                summary.plugin_skipped += stats.rows_failed();
            }
        }
        summary.plugin_restarts += plugin.restarts;
        if let Some(reason) = plugin.quarantined() {
            summary
                .quarantined
                .push((stage.to_string(), reason.to_string()));
        }
    }

    fn as_plugin(&self) -> Option<&PluginStage> {
        Some(self)
    }

    fn as_plugin_mut(&mut self) -> Option<&mut PluginStage> {
        Some(self)
    }

    fn into_plugin(self: Box<Self>) -> Option<Box<PluginOperator>> {
        Some(self.plugin)
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
