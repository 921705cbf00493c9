//! One step of the operator chain, whatever implements it.

use std::sync::Arc;

use crate::data::{Batch, Schema};
use crate::format::timestamp;
use crate::plugin::PluginOperator;
use crate::sink::{row_position, DeadLetterKind, DeadLetters};
use crate::window::TumblingWindows;

/// An operator compiled into the host, for built-ins and benchmark baselines.
pub trait NativeOperator: Send {
    fn output_schema(&self) -> &Arc<Schema>;
    fn process(&mut self, batch: &Batch) -> Batch;
}

/// What happens to the rows a plugin fails on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
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
}

pub enum StageKind {
    Plugin(Box<PluginOperator>, OnFailure),
    Window(TumblingWindows),
    Native(Box<dyn NativeOperator>),
}

pub struct Stage {
    pub name: String,
    pub kind: StageKind,
    pub rows_in: u64,
    pub rows_out: u64,
    /// Rows this stage sent to the dead-letter output.
    pub rows_failed: u64,
}

impl Stage {
    pub fn new(name: impl Into<String>, kind: StageKind) -> Self {
        Self {
            name: name.into(),
            kind,
            rows_in: 0,
            rows_out: 0,
            rows_failed: 0,
        }
    }

    pub fn output_schema(&self) -> &Arc<Schema> {
        match &self.kind {
            StageKind::Plugin(p, _) => p.output_schema(),
            StageKind::Window(w) => w.output_schema(),
            StageKind::Native(n) => n.output_schema(),
        }
    }

    /// Runs the batch through this stage. Rows it cannot process go where the
    /// stage's failure policy says; the rest continue.
    pub fn process(
        &mut self,
        batch: Batch,
        source: &str,
        dead: &DeadLetters,
    ) -> Result<Batch, StageError> {
        self.rows_in += batch.len() as u64;
        let out = match &mut self.kind {
            StageKind::Native(operator) => operator.process(&batch),
            StageKind::Plugin(plugin, on_failure) => {
                let processed = plugin.process(&batch);
                for failure in &processed.failures {
                    let row = failure.row as usize;
                    let reason = format!(
                        "{} (plugin version {})",
                        failure.error,
                        plugin.descriptor().version
                    );
                    match on_failure {
                        OnFailure::DeadLetter => {
                            dead.send_row(DeadLetterKind::Plugin, &reason, source, &batch, row)?
                        }
                        OnFailure::Skip => {}
                        OnFailure::Stop => {
                            return Err(StageError::Stopped {
                                stage: self.name.clone(),
                                position: row_position(source, &batch, row),
                                reason,
                            })
                        }
                    }
                }
                if *on_failure == OnFailure::Skip && !processed.failures.is_empty() {
                    tracing::warn!(stage = %self.name, rows = processed.failures.len(), "skipped rows the plugin failed on");
                }
                self.rows_failed += processed.failures.len() as u64;
                processed.batch
            }
            StageKind::Window(window) => {
                let mut late = Vec::new();
                let out = window.process(&batch, &mut late);
                for row in &late {
                    let reason = format!(
                        "late: event time {} is behind the watermark {}; its window [{}, {}) had already fired",
                        timestamp::format(batch.event_time[row.row]),
                        timestamp::format(batch.watermark[row.row]),
                        timestamp::format(row.window_start),
                        timestamp::format(row.window_end),
                    );
                    dead.send_row(DeadLetterKind::Late, &reason, source, &batch, row.row)?;
                }
                self.rows_failed += late.len() as u64;
                out
            }
        };
        self.rows_out += out.len() as u64;
        Ok(out)
    }
}
