//! The sinks of a run, on the sink thread, each fed the results of the stage it
//! names (`from`): every window result to PostgreSQL, only the alerts to a
//! webhook. They share the run's checkpoints: each makes its results
//! durable before the checkpoint is written and publishes them after, and
//! the checkpoint records each one's position.

use super::{Sink, SinkContext, SinkFailure};
use crate::data::Batch;
use crate::state::SinkPosition;

/// Which results a sink receives: an index into the run's taps (the
/// distinct `from` stages; the last stage's results are a tap too).
pub type Tap = usize;

pub struct FanOut {
    sinks: Vec<Routed>,
}

struct Routed {
    tap: Tap,
    name: String,
    sink: Box<dyn Sink>,
}

impl FanOut {
    pub fn new() -> Self {
        Self { sinks: Vec::new() }
    }

    pub fn add(&mut self, tap: Tap, name: String, sink: Box<dyn Sink>) {
        self.sinks.push(Routed { tap, name, sink });
    }

    /// Writes `batch` to every sink fed by `tap`.
    pub fn write_tap(
        &mut self,
        tap: Tap,
        batch: &Batch,
        context: &mut SinkContext<'_>,
    ) -> std::io::Result<()> {
        for routed in self.sinks.iter_mut().filter(|r| r.tap == tap) {
            context.set_sink_name(&routed.name);
            routed.sink.write(batch, context)?;
        }
        Ok(())
    }

    /// What a checkpoint at `positions` (one per sink, or a single sink's
    /// own) gives each sink to resume at.
    pub fn positions(positions: Option<SinkPosition>, sinks: usize) -> Vec<Option<SinkPosition>> {
        match positions {
            Some(SinkPosition::Many(each)) if each.len() == sinks => {
                each.into_iter().map(Some).collect()
            }
            Some(one) if sinks == 1 => vec![Some(one)],
            Some(_) | None => vec![None; sinks],
        }
    }
}

impl Default for FanOut {
    fn default() -> Self {
        Self::new()
    }
}

// Not a `Sink` itself: its results come tagged with a tap
// (`write_tap`), which `Sink::write` has no place for.
impl FanOut {
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.sinks.iter_mut().try_for_each(|r| r.sink.flush())
    }

    /// What each sink gave up on since the last call, with the sink's name.
    pub fn take_failures(&mut self) -> Vec<(String, SinkFailure)> {
        let mut failures = Vec::new();
        for routed in &mut self.sinks {
            for failure in routed.sink.take_failures() {
                failures.push((routed.name.clone(), failure));
            }
        }
        failures
    }

    /// Every sink makes its results durable for a checkpoint. One sink
    /// records its own position, as before there were several, so its
    /// checkpoints stay as they were.
    pub fn pre_commit(&mut self) -> std::io::Result<SinkPosition> {
        let mut positions = self
            .sinks
            .iter_mut()
            .map(|r| r.sink.pre_commit())
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(match positions.len() {
            1 => positions.remove(0),
            _ => SinkPosition::Many(positions),
        })
    }

    /// The checkpoint is written: every sink publishes.
    pub fn commit(&mut self) -> std::io::Result<()> {
        self.sinks.iter_mut().try_for_each(|r| r.sink.commit())
    }
}
