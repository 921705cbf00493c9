//! Which stages' results leave the pipeline: the last stage's for a sink
//! without `from`, and each stage a sink names. The stages run in turn; a
//! batch leaves at every tap it passes, tagged for the sinks it feeds.

use std::collections::HashMap;

use super::build::SinkRoute;
use super::stage::{Stage, StageError, Upstream};
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
        batch: Batch,
        origin: &Origin,
        dead: &DeadLetters,
        out: impl FnMut(Batch, Tap),
    ) -> Result<(), StageError> {
        if stages.iter().all(|s| s.from == Upstream::Previous) {
            self.run_line(stages, batch, origin, dead, out)
        } else {
            self.run_tree(stages, batch, origin, dead, out)
        }
    }

    /// Every stage reads the one above: the batch moves down without copies.
    fn run_line(
        &self,
        stages: &mut [Stage],
        mut batch: Batch,
        origin: &Origin,
        dead: &DeadLetters,
        mut out: impl FnMut(Batch, Tap),
    ) -> Result<(), StageError> {
        for stage in stages.iter_mut() {
            batch = stage.process(batch, origin, dead)?;
            self.tap(stage, &batch, &mut out);
        }
        if let Some(tap) = self.last {
            if !batch.is_empty() {
                out(batch, tap);
            }
        }
        Ok(())
    }

    /// Branches: each stage reads the results of its upstream, which are
    /// copied only while another stage still has to read them.
    fn run_tree(
        &self,
        stages: &mut [Stage],
        batch: Batch,
        origin: &Origin,
        dead: &DeadLetters,
        mut out: impl FnMut(Batch, Tap),
    ) -> Result<(), StageError> {
        let source = stages.len();
        let upstream = upstream_indices(stages);
        let mut readers = vec![0usize; source + 1];
        for &u in &upstream {
            readers[u] += 1;
        }
        let mut results: Vec<Option<Batch>> = vec![None; source + 1];
        results[source] = Some(batch);
        for (i, stage) in stages.iter_mut().enumerate() {
            let u = upstream[i];
            readers[u] -= 1;
            let input = match readers[u] {
                0 => results[u].take(),
                _ => results[u].clone(),
            }
            .expect("a stage's upstream runs before it");
            let output = stage.process(input, origin, dead)?;
            self.tap(stage, &output, &mut out);
            // Kept while a later stage reads it, or for the last stage's tap.
            if readers[i] > 0 || i + 1 == source {
                results[i] = Some(output);
            }
        }
        let last = source.checked_sub(1).unwrap_or(source);
        if let (Some(tap), Some(batch)) = (self.last, results[last].take()) {
            if !batch.is_empty() {
                out(batch, tap);
            }
        }
        Ok(())
    }

    fn tap(&self, stage: &Stage, results: &Batch, out: &mut impl FnMut(Batch, Tap)) {
        if let Some(&tap) = self.by_stage.get(&stage.name) {
            if !results.is_empty() {
                out(results.clone(), tap);
            }
        }
    }
}

/// For each stage, the index of the stage it reads (`stages.len()`: the
/// source).
fn upstream_indices(stages: &[Stage]) -> Vec<usize> {
    (0..stages.len())
        .map(|i| {
            stages[i]
                .from
                .producer(&stages[..i])
                .unwrap_or(stages.len())
        })
        .collect()
}
