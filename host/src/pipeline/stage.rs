//! One step of the operator chain, whatever implements it.

use std::sync::Arc;

use crate::data::{Batch, Schema};
use crate::format::json::JsonRow;
use crate::format::timestamp;
use crate::plugin::PluginOperator;
use crate::sink::{DeadLetter, DeadLetterKind, DeadLetters};
use crate::window::TumblingWindows;

/// An operator compiled into the host, for built-ins and benchmark baselines.
pub trait NativeOperator: Send {
    fn output_schema(&self) -> &Arc<Schema>;
    fn process(&mut self, batch: &Batch) -> Batch;
}

pub enum StageKind {
    Plugin(Box<PluginOperator>),
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
            StageKind::Plugin(p) => p.output_schema(),
            StageKind::Window(w) => w.output_schema(),
            StageKind::Native(n) => n.output_schema(),
        }
    }

    /// Runs the batch through this stage. Rows it cannot process go to the dead
    /// letters with the reason; the rest continue.
    pub fn process(
        &mut self,
        batch: Batch,
        source: &str,
        dead: &DeadLetters,
    ) -> std::io::Result<Batch> {
        self.rows_in += batch.len() as u64;
        let out = match &mut self.kind {
            StageKind::Native(operator) => operator.process(&batch),
            StageKind::Plugin(plugin) => match plugin.process(&batch) {
                Ok(out) => out,
                Err(error) => {
                    let reason = error.to_string();
                    tracing::warn!(stage = %self.name, rows = batch.len(), "{reason}; rows dead-lettered");
                    for row in 0..batch.len() {
                        send(dead, DeadLetterKind::Plugin, &reason, source, &batch, row)?;
                    }
                    self.rows_failed += batch.len() as u64;
                    Batch::empty(plugin.output_schema().clone(), batch.end_watermark)
                }
            },
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
                    send(dead, DeadLetterKind::Late, &reason, source, &batch, row.row)?;
                }
                self.rows_failed += late.len() as u64;
                out
            }
        };
        self.rows_out += out.len() as u64;
        Ok(out)
    }
}

fn send(
    dead: &DeadLetters,
    kind: DeadLetterKind,
    reason: &str,
    source: &str,
    batch: &Batch,
    row: usize,
) -> std::io::Result<()> {
    let position = match batch.position[row] {
        0 => source.to_string(),
        line => format!("{source}:{line}"),
    };
    let record =
        serde_json::to_value(JsonRow::new(batch.row(row))).unwrap_or(serde_json::Value::Null);
    dead.send(&DeadLetter {
        kind,
        reason,
        source: &position,
        record,
    })
}
