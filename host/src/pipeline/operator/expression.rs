//! Native operators over [`Expr`]: a filter (`WHERE`, `HAVING`, `type =
//! "filter"`) and a projection (`SELECT`, `type = "select"`). Neither keeps
//! state, so they run in every parallel instance. A row whose expression
//! cannot be computed goes to the dead letters with the reason.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Operator, OperatorContext};
use crate::data::{Batch, Field, Schema};
use crate::expr::{Expr, RowFailures};
use crate::pipeline::stage::{StageError, StageStats};
use crate::pipeline::summary::Summary;
use crate::sink::DeadLetterKind;

/// Keeps the rows for which `predicate` is true.
pub struct FilterStage {
    /// As written, for `weir explain` and the checkpoint fingerprint.
    text: String,
    predicate: Expr,
    schema: Arc<Schema>,
}

impl FilterStage {
    /// `predicate` must be boolean (see [`Expr::ty`]).
    pub fn new(text: String, predicate: Expr, schema: Arc<Schema>) -> Self {
        Self {
            text,
            predicate,
            schema,
        }
    }
}

/// Computes each output field from the input row.
pub struct SelectStage {
    text: String,
    fields: Vec<Expr>,
    schema: Arc<Schema>,
}

impl SelectStage {
    /// `fields` are the output names and their expressions, in order. The
    /// output keeps the input's row identity (a window result's key and
    /// bounds, which sinks derive ids from) when it passes all of it on.
    pub fn new(fields: Vec<(String, Expr)>, input: &Schema) -> Result<Self, String> {
        let text = fields
            .iter()
            .map(|(name, expr)| format!("{name}: {}", expr.ty()))
            .collect::<Vec<_>>()
            .join(", ");
        let identity: Option<Vec<usize>> = input
            .identity()
            .iter()
            .map(|&field| {
                fields
                    .iter()
                    .position(|(_, e)| e.as_column() == Some(field))
            })
            .collect();
        let schema = Schema::with_identity(
            fields
                .iter()
                .map(|(name, expr)| Field::new(name.clone(), expr.ty()))
                .collect(),
            identity.unwrap_or_default(),
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            text,
            fields: fields.into_iter().map(|(_, expr)| expr).collect(),
            schema,
        })
    }
}

/// Dead-letters the failed rows, each reason after `what` (e.g. `having: `);
/// returns how many. The caller drops them from its output.
fn send_failures(
    failures: RowFailures,
    batch: &Batch,
    cx: &mut OperatorContext<'_>,
    what: &str,
) -> Result<u64, StageError> {
    let failed = failures.len() as u64;
    for (row, reason) in failures.into_rows() {
        let reason = format!("stage `{}`: {what}{reason}", cx.stage);
        cx.dead.send_row(
            DeadLetterKind::Expression,
            Some(cx.stage),
            &reason,
            cx.origin,
            batch,
            row,
        )?;
    }
    Ok(failed)
}

/// The rows of `batch` for which `predicate` holds, and how many it could
/// not compute (dead-lettered): a filter's `where`, a window's `having`.
pub(super) fn keep_where(
    predicate: &Expr,
    batch: Batch,
    cx: &mut OperatorContext<'_>,
    what: &str,
) -> Result<(Batch, u64), StageError> {
    let mut failures = RowFailures::default();
    let keep = predicate.select(&batch, &mut failures);
    let failed = send_failures(failures, &batch, cx, what)?;
    if keep.len() == batch.len() {
        return Ok((batch, failed));
    }
    Ok((batch.gather(&keep), failed))
}

/// The parts shared by both: no state, any number of instances.
macro_rules! stateless {
    ($kind:literal) => {
        fn kind(&self) -> &'static str {
            $kind
        }

        fn output_schema(&self) -> &Arc<Schema> {
            &self.schema
        }

        fn fingerprint(&self) -> String {
            format!("{}: {}", $kind, self.text)
        }

        no_state!();
    };
}

impl Operator for FilterStage {
    stateless!("filter");

    fn describe(&self) -> String {
        format!("filter where {}", self.text)
    }

    fn process(&mut self, batch: Batch, cx: &mut OperatorContext<'_>) -> Result<Batch, StageError> {
        let (kept, failed) = keep_where(&self.predicate, batch, cx, "")?;
        cx.stats.rows_failed.fetch_add(failed, Ordering::Relaxed);
        Ok(kept)
    }

    fn summarize(&self, _stage: &str, stats: Option<&StageStats>, summary: &mut Summary) {
        if let Some(stats) = stats {
            summary.filtered += stats
                .rows_in()
                .saturating_sub(stats.rows_out())
                .saturating_sub(stats.rows_failed());
        }
    }

    fn replicate(&self, _input: &Arc<Schema>) -> Result<Box<dyn Operator>, String> {
        Ok(Box::new(Self {
            text: self.text.clone(),
            predicate: self.predicate.clone(),
            schema: self.schema.clone(),
        }))
    }
}

impl Operator for SelectStage {
    stateless!("select");

    fn describe(&self) -> String {
        format!("select {}", self.text)
    }

    fn process(&mut self, batch: Batch, cx: &mut OperatorContext<'_>) -> Result<Batch, StageError> {
        let mut failures = RowFailures::default();
        let columns = self
            .fields
            .iter()
            .map(|expr| expr.evaluate(&batch, &mut failures))
            .collect();
        let out = Batch {
            schema: self.schema.clone(),
            columns,
            event_time: batch.event_time.clone(),
            watermark: batch.watermark.clone(),
            position: batch.position.clone(),
            end_watermark: batch.end_watermark,
        };
        if failures.is_empty() {
            return Ok(out);
        }
        let failed: std::collections::HashSet<usize> = failures.rows().collect();
        let count = send_failures(failures, &batch, cx, "")?;
        cx.stats.rows_failed.fetch_add(count, Ordering::Relaxed);
        let keep: Vec<u32> = (0..out.len())
            .filter(|row| !failed.contains(row))
            .map(|row| row as u32)
            .collect();
        Ok(out.gather(&keep))
    }

    fn replicate(&self, _input: &Arc<Schema>) -> Result<Box<dyn Operator>, String> {
        Ok(Box::new(Self {
            text: self.text.clone(),
            fields: self.fields.clone(),
            schema: self.schema.clone(),
        }))
    }
}
