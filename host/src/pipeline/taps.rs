//! Which stages' results leave the pipeline: the last stage's for a sink
//! without `from`, and each stage a sink names. The stages run in turn; a
//! batch leaves at every tap it passes, tagged for the sinks it feeds.

use std::collections::HashMap;

use super::build::SinkRoute;
use super::stage::{Stage, StageError};
use crate::data::{Batch, Origin};
use crate::sink::{DeadLetters, Tap};

#[derive(Debug, Clone, Default)]
pub struct Taps {
    /// Stage name → the tap its results leave by.
    by_stage: HashMap<String, Tap>,
    /// The tap of the last stage's results (sinks without `from`).
    last: Option<Tap>,
}

impl Taps {
    /// The taps `sinks` need, and each sink's tap.
    pub fn of(sinks: &[SinkRoute]) -> (Self, Vec<Tap>) {
        let mut taps = Taps::default();
        let mut count = 0;
        let per_sink = sinks
            .iter()
            .map(|sink| {
                let tap = match &sink.from {
                    None => taps.last.get_or_insert(count),
                    Some(stage) => taps.by_stage.entry(stage.clone()).or_insert(count),
                };
                if *tap == count {
                    count += 1;
                }
                *tap
            })
            .collect();
        (taps, per_sink)
    }

    /// Runs `batch` through `stages`, handing each tap's results to `out`.
    pub fn run_stages(
        &self,
        stages: &mut [Stage],
        mut batch: Batch,
        origin: &Origin,
        dead: &DeadLetters,
        mut out: impl FnMut(Batch, Tap),
    ) -> Result<(), StageError> {
        for stage in stages.iter_mut() {
            batch = stage.process(batch, origin, dead)?;
            if let Some(&tap) = self.by_stage.get(&stage.name) {
                if !batch.is_empty() {
                    out(batch.clone(), tap);
                }
            }
        }
        if let Some(tap) = self.last {
            if !batch.is_empty() {
                out(batch, tap);
            }
        }
        Ok(())
    }
}
