//! The host's event-time windows as a stage: late rows to the dead letters.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Operator, OperatorContext, StateKey};
use crate::data::{Batch, Schema};
use crate::expr::Expr;
use crate::format::timestamp;
use crate::pipeline::stage::{StageError, StageStats};
use crate::pipeline::summary::Summary;
use crate::sink::DeadLetterKind;
use crate::state::StageState;
use crate::window::EventTimeWindows;

pub struct WindowStage(pub Box<EventTimeWindows>, Option<Having>);

/// `having`: only results for which it holds are emitted.
#[derive(Clone)]
struct Having {
    text: String,
    predicate: Expr,
}

impl WindowStage {
    /// `having` is the condition's text and its check against the window's
    /// output schema.
    pub fn new(windows: Box<EventTimeWindows>, having: Option<(String, Expr)>) -> Self {
        Self(
            windows,
            having.map(|(text, predicate)| Having { text, predicate }),
        )
    }

    /// Results failing `having` are dropped; results it cannot compute
    /// are dead-lettered.
    fn having(&self, out: Batch, cx: &mut OperatorContext<'_>) -> Result<Batch, StageError> {
        let Some(having) = &self.1 else {
            return Ok(out);
        };
        // Results, not input rows: not counted in the stage's failed rows.
        let (kept, _) = super::expression::keep_where(&having.predicate, out, cx, "having: ")?;
        Ok(kept)
    }
}

impl Operator for WindowStage {
    fn kind(&self) -> &'static str {
        "window"
    }

    fn describe(&self) -> String {
        match &self.1 {
            Some(having) => format!("window {} having {}", self.0.description(), having.text),
            None => format!("window {}", self.0.description()),
        }
    }

    fn output_schema(&self) -> &Arc<Schema> {
        self.0.output_schema()
    }

    fn process(
        &mut self,
        mut batch: Batch,
        cx: &mut OperatorContext<'_>,
    ) -> Result<Batch, StageError> {
        let mut late = Vec::new();
        let out = self
            .0
            .process(&mut batch, &mut late)
            .map_err(|reason| StageError::Failed {
                stage: cx.stage.to_string(),
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
            cx.dead.send_row(
                DeadLetterKind::Late,
                Some(cx.stage),
                &reason,
                cx.origin,
                &batch,
                row.row,
            )?;
        }
        cx.stats
            .rows_failed
            .fetch_add(late.len() as u64, Ordering::Relaxed);
        self.having(out, cx)
    }

    fn needs_ticks(&self) -> bool {
        self.0.needs_ticks()
    }

    fn retained(&self, earliest: &mut BTreeMap<u32, u64>) {
        self.0.retained(earliest);
    }

    fn state_key(&self) -> StateKey {
        match self.0.key_by() {
            Some(key) => StateKey::Field(key.to_string()),
            None => StateKey::Global,
        }
    }

    fn replicate(&self, input: &Arc<Schema>) -> Result<Box<dyn Operator>, String> {
        Ok(Box::new(WindowStage(
            Box::new(self.0.replicate(input)?),
            self.1.clone(),
        )))
    }

    fn fingerprint(&self) -> String {
        // `having` filters results, not state: changing it keeps the state.
        self.0.fingerprint().to_string()
    }

    fn snapshot(&self) -> StageState {
        self.0.checkpoint()
    }

    fn restore(&mut self, stage: &str, state: StageState) -> Result<(), String> {
        match state {
            state @ (StageState::Window(_) | StageState::Sessions(_)) => self.0.restore(state),
            _ => Err(format!(
                "stage `{stage}` holds a different kind of state in the checkpoint"
            )),
        }
    }

    fn publish(&self, stats: &StageStats, out: &Batch) {
        let window = &self.0;
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
        stats.recent.offer(out);
    }

    fn summarize(&self, _stage: &str, _stats: Option<&StageStats>, summary: &mut Summary) {
        let window = &self.0;
        summary.windows_fired += window.fired_windows();
        summary.window_updates += window.updates();
        summary.window_partials += window.partials();
        summary.open_windows_discarded += window.open_windows() as u64;
    }
}
